"""Per-image appearance codes for the colour branch of the NeRF field.

Martin-Brualla et al. 2021, "NeRF in the Wild" (NeRF-W), sec. 4.1: each training image gets a
learned code that enters the colour branch next to the view direction, so that what changes from
one photograph to the next (exposure, white balance, a phone's tone curve) is explained by the
code instead of being baked into the scene as view-dependent fog. nerfstudio's nerfacto (Tancik et
al. 2023, "Nerfstudio: A Modular Framework for Neural Radiance Field Development") does the same
with 32 dimensions and renders every view it was not trained on with the average of the training
images' codes; so does this module.

:class:`AffineColor` is the cheaper alternative for what a camera does to the light it records: a
learned affine colour transform of each training image's rendered colour (a 3 x 3 matrix and an
offset; exposure and white balance are a per-channel gain in linear light, close to a per-channel
gain on sRGB values too). Both can be on at once.

Which image a ray comes from is the ray bundle's ``camera_indices`` (the index of the training
image in training; an index into some other camera set in evaluation, the viewer or
``ns-render``, which is why evaluation never looks codes up by it).
"""

from __future__ import annotations

from typing import Literal, Optional, Tuple

import torch
from torch import Tensor, nn

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.render import affine_color

EvalAppearance = Literal["average", "zeros"]
EVAL_APPEARANCES = ("average", "zeros")


class PerImageParameters(nn.Module):
    """A learned parameter per training image (a row of :attr:`table`, ``[num_images, ...]``) and
    the one every view outside training uses: what the appearance codes and the affine colour
    transforms share.

    Args:
        at_eval: the parameter of every ray outside training: "average" (the mean of the training
            images', as nerfacto) or "zeros".
    """

    what = "per-image parameter"
    """how error messages name it."""

    def __init__(self, at_eval: EvalAppearance) -> None:
        super().__init__()
        if at_eval not in EVAL_APPEARANCES:
            raise InputError(f"--pipeline.model.appearance-at-eval {at_eval!r}: choose one of {', '.join(EVAL_APPEARANCES)}")
        self.at_eval = at_eval
        self.held_out: Optional[Tensor] = None
        """when set, the parameter of every view outside training instead of ``at_eval``'s (a
        held-out frame's, fitted by :mod:`vanilla_nerf_pe.nerf.held_out_appearance`); a plain
        tensor, never in the checkpoint."""

    @property
    def table(self) -> Tensor:
        """[num_images, ...] the training images' parameters."""
        raise NotImplementedError

    def eval_code(self) -> Tensor:
        """[...] the parameter of a view that is not a training image (``held_out`` if set, else see ``at_eval``)."""
        if self.held_out is not None:
            return self.held_out
        table = self.table
        return table.mean(dim=0) if self.at_eval == "average" else torch.zeros_like(table[0])

    def training_rows(self, camera_indices: Optional[Tensor], shape: Tuple[int, ...]) -> Tensor:
        """[*shape, ...] each training ray's parameter, by its image (``camera_indices`` [*shape] or
        [*shape, 1])."""
        if camera_indices is None:
            raise InputError(f"training rays without camera_indices: the {self.what} needs each ray's image")
        table = self.table
        indices = camera_indices.reshape(shape).long().to(table.device)
        # checked on the CPU only: on a GPU the check would wait for the device every step
        if indices.device.type == "cpu" and indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= len(table)):
            raise InputError(f"a training ray names image {int(indices.max())}, but the {self.what} has {len(table)} images")
        return table[indices]


class AppearanceEmbedding(PerImageParameters):
    """One learned ``dim``-vector per training image (NeRF-W's appearance embedding).

    Args:
        num_images: training images (nerfstudio's ``num_train_data``).
        dim: length of each code (> 0).
        at_eval: the code of every ray outside training: "average" (the mean of the training
            images' codes, as nerfacto) or "zeros".
    """

    what = "appearance embedding"

    def __init__(self, num_images: int, dim: int, at_eval: EvalAppearance = "average") -> None:
        if num_images < 1 or dim < 1:
            raise InputError(f"an appearance embedding needs at least one image and one dimension, got {num_images} images, {dim} dims")
        super().__init__(at_eval)
        # nn.Embedding's N(0, 1) start, as nerfstudio's Embedding (nerfacto): the codes start apart
        # and the colour branch can tell images apart from the first step.
        self.codes = nn.Embedding(num_images, dim)

    @property
    def table(self) -> Tensor:
        return self.codes.weight

    @property
    def dim(self) -> int:
        return self.codes.embedding_dim

    def forward(self, camera_indices: Optional[Tensor], num_rays: int, training: bool) -> Tensor:
        """[num_rays, dim] each ray's code: its training image's in training (``camera_indices``
        [num_rays] or [num_rays, 1]), ``eval_code`` otherwise."""
        if not training:
            return self.eval_code().expand(num_rays, self.dim)
        return self.training_rows(camera_indices, (num_rays,))


class AffineColor(PerImageParameters):
    """A learned affine colour transform per training image, applied to its rendered colour:
    ``rgb -> (I + D_i) rgb + b_i`` (:func:`~vanilla_nerf_pe.core.render.affine_color`), each
    ``[D_i | b_i]`` starting at zero (the identity).

    Args:
        num_images: training images (nerfstudio's ``num_train_data``).
        at_eval: the transform of every ray outside training: "average" (the mean of the training
            images') or "zeros" (the identity).
    """

    what = "affine colour transform"

    def __init__(self, num_images: int, at_eval: EvalAppearance = "average") -> None:
        if num_images < 1:
            raise InputError(f"an affine colour transform per image needs at least one image, got {num_images}")
        super().__init__(at_eval)
        self.deltas = nn.Parameter(torch.zeros(num_images, 3, 4))

    @property
    def table(self) -> Tensor:
        return self.deltas

    def forward(self, rgb: Tensor, camera_indices: Optional[Tensor], training: bool) -> Tensor:
        """[..., 3] the colours ``rgb`` [..., 3] through each ray's transform: its training image's in
        training (``camera_indices`` [...] or [..., 1]), ``eval_code`` otherwise."""
        if not training:
            return affine_color(rgb, self.eval_code().to(rgb))
        return affine_color(rgb, self.training_rows(camera_indices, tuple(rgb.shape[:-1])).to(rgb))
