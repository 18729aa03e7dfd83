"""NeRF-W's evaluation of appearance on held-out photographs (Martin-Brualla et al. 2021, sec. 6).

A held-out photograph's exposure and white balance are unknown to a model trained with
per-image appearance (codes, :class:`~vanilla_nerf_pe.nerf.appearance.AppearanceEmbedding`, or
affine colour transforms, :class:`~vanilla_nerf_pe.nerf.appearance.AffineColor`): NeRF-W optimises
that photograph's appearance parameters alone, the network frozen, on the left half of the image
and measures the PSNR on the right half. A model without per-image appearance is scored on the
same right half as it renders it, so that the two compare.

:func:`render_right_half` does that for one camera; :func:`fitted_appearance` is the fitting step,
a context during which the model renders every view outside training with the fitted parameters.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, List

import torch
from nerfstudio.cameras.cameras import Cameras
from nerfstudio.cameras.rays import RayBundle
from torch import Tensor, nn

from vanilla_nerf_pe.core.errors import InputError


@dataclass(frozen=True)
class HeldOutFitConfig:
    """How a held-out photograph's appearance parameters are fitted."""

    steps: int = 50
    """Adam steps on the parameters (the network frozen)."""
    lr: float = 0.05
    """Adam's learning rate."""
    rays_per_step: int = 512
    """pixels of the fitting half drawn (without replacement) for each step."""
    seed: int = 0
    """seed of the pixel draws."""


def appearance_modules(model: nn.Module) -> List[nn.Module]:
    """The model's per-image appearance modules (its codes, its affine colour transforms); [] when none."""
    return [m for m in (getattr(model, "appearance", None), getattr(model, "color_transform", None)) if m is not None]


@contextmanager
def fitted_appearance(model: nn.Module, rays: RayBundle, target: Tensor, config: HeldOutFitConfig = HeldOutFitConfig()) -> Iterator[List[Tensor]]:
    """Fit the appearance of one held-out view to the pixels ``target`` [N, 3] of its ``rays`` [N]
    and yield the fitted parameters (the code [dim], the transform [3, 4]: what the model's modules
    use outside training otherwise is where they start); inside the context the model renders every
    view outside training with them. The model's parameters, mode and usual eval appearance are as
    before afterwards. A model without per-image appearance yields [] and fits nothing."""
    if target.ndim != 2 or target.shape[-1] != 3 or rays.origins.shape[:-1] != target.shape[:1]:
        raise InputError(f"fitted_appearance needs rays [N] and their pixels [N, 3], got {tuple(rays.origins.shape[:-1])} rays and {tuple(target.shape)}")
    modules = appearance_modules(model)
    params = [m.eval_code().detach().clone().requires_grad_(True) for m in modules]
    was_training = model.training
    frozen = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in frozen:
            p.requires_grad_(False)
        for module, param in zip(modules, params):
            module.held_out = param
        model.eval()
        if params:
            optimizer = torch.optim.Adam(params, lr=config.lr)
            generator = torch.Generator().manual_seed(config.seed)
            count = min(config.rays_per_step, len(target))
            with torch.enable_grad():
                for _ in range(config.steps):
                    pick = torch.randperm(len(target), generator=generator)[:count]
                    rgb = model.get_outputs(rays[pick].to(model.device))["rgb"]
                    loss = torch.nn.functional.mse_loss(rgb, target[pick].to(rgb))
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        yield params
    finally:
        for module in modules:
            module.held_out = None
        for p, flag in frozen:
            p.requires_grad_(flag)
        model.train(was_training)


def render_right_half(model: nn.Module, camera: Cameras, image: Tensor, config: HeldOutFitConfig = HeldOutFitConfig()) -> Tensor:
    """[H, W - W // 2, 3] the right half of the held-out ``camera``'s view (one camera) rendered
    with the appearance fitted to the left half (columns < W // 2) of its photograph ``image``
    [H, W, 3] (NeRF-W's protocol); score it against ``image[:, W // 2:]``."""
    bundle = camera.generate_rays(camera_indices=0, keep_shape=True)  # [H, W]
    if tuple(bundle.origins.shape[:2]) != tuple(image.shape[:2]) or image.shape[-1] != 3:
        raise InputError(f"render_right_half: a {tuple(bundle.origins.shape[:2])} camera and a photograph {tuple(image.shape)}")
    half = image.shape[1] // 2
    if not appearance_modules(model):  # nothing to fit: the right half as the model renders it
        return model.get_outputs_for_camera_ray_bundle(bundle[:, half:])["rgb"]
    with fitted_appearance(model, bundle[:, :half].flatten(), image[:, :half].reshape(-1, 3), config):
        return model.get_outputs_for_camera_ray_bundle(bundle[:, half:])["rgb"]
