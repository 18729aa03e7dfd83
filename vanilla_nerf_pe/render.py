"""Discrete volume rendering (Mildenhall et al. 2020, eq. 3; Max 1995).

Naming convention for the whole module (the same as :mod:`vanilla_nerf_pe.stepfun`):

- ``t``: bin endpoints along each ray, ``[..., n + 1]``; ``delta = t[..., 1:] - t[..., :-1]``.
- ``sigma``: volume density at each bin, ``[..., n]`` (constant within the bin).
- ``alpha``: opacity of each bin, ``1 - exp(-sigma * delta)``.
- ``trans``: transmittance up to the start of each bin, ``exp(-sum_{j<i} sigma_j delta_j)``.
- ``w``: rendering weights ``trans * alpha``, ``[..., n]``; they sum to the accumulation
  ``1 - exp(-sum_i sigma_i delta_i)``, which is at most 1.
- values to composite (colours, features): ``[..., n, c]``.

Packed layout (the ``*_packed`` functions, as nerfacc's): a batch of rays with a different number of
samples each is flattened to ``N`` samples, ``ray_indices`` ``[N]`` (sorted: the samples of a ray
are contiguous and in order along it), ``t_starts`` and ``t_ends`` ``[N]``, ``sigma`` and ``w``
``[N]``; results per ray are ``[num_rays, c]``. A ray with no samples has zero weight.

All functions are pure and differentiable.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

import torch
from torch import Tensor

BackgroundColor = Union[Literal["white", "black", "random", "last_sample"], Tensor]


def compute_weights(sigma: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Volume-rendering weights of bins with piecewise-constant density.

    Args:
        sigma: [..., n] non-negative densities.
        t: [..., n + 1] sorted bin endpoints.

    Returns:
        w: [..., n] weights ``trans * (1 - exp(-sigma delta))``.
        trans: [..., n + 1] transmittance at each endpoint (``trans[..., -1]`` is what passes).
    """
    sigma_delta = sigma * (t[..., 1:] - t[..., :-1])
    optical_depth = torch.cumsum(sigma_delta, dim=-1)
    trans = torch.exp(-torch.cat([torch.zeros_like(optical_depth[..., :1]), optical_depth], dim=-1))
    alpha = 1.0 - torch.exp(-sigma_delta)
    return trans[..., :-1] * alpha, trans


def composite(w: Tensor, values: Tensor) -> Tensor:
    """Weighted sum along the ray.

    Args:
        w: [..., n] weights.
        values: [..., n, c] per-bin values.

    Returns:
        [..., c]
    """
    return torch.sum(w[..., None] * values, dim=-2)


def background_rgb(background: BackgroundColor, rgb: Tensor) -> Tensor:
    """The colour seen where a ray leaves the scene.

    Args:
        background: "white", "black", "random" (uniform per ray, for training on data with alpha),
            "last_sample" (the colour of each ray's last bin), or a [3] tensor.
        rgb: [..., n, 3] per-bin colours (for shape, device and "last_sample").

    Returns:
        [..., 3]
    """
    batch = rgb.shape[:-2]
    if isinstance(background, Tensor):
        return background.to(rgb).expand(*batch, 3)
    if background == "white":
        return torch.ones(*batch, 3, dtype=rgb.dtype, device=rgb.device)
    if background == "black":
        return torch.zeros(*batch, 3, dtype=rgb.dtype, device=rgb.device)
    if background == "random":
        return torch.rand(*batch, 3, dtype=rgb.dtype, device=rgb.device)
    if background == "last_sample":
        return rgb[..., -1, :]
    raise ValueError(f"unknown background {background!r}: white, black, random, last_sample or an RGB tensor")


def composite_rgb(w: Tensor, rgb: Tensor, background: Optional[BackgroundColor] = "white") -> Tensor:
    """Pixel colour: ``sum_i w_i c_i + (1 - sum_i w_i) * background``.

    Args:
        w: [..., n] weights.
        rgb: [..., n, 3] colours.
        background: see :func:`background_rgb`; None composites onto nothing (black, unblended).

    Returns:
        [..., 3]
    """
    color = composite(w, rgb)
    if background is None:
        return color
    acc = torch.sum(w, dim=-1, keepdim=True)
    return color + (1.0 - acc) * background_rgb(background, rgb)


def composite_depth(w: Tensor, t: Tensor, eps: float = 1e-10) -> Tensor:
    """Expected termination distance, normalised by the accumulation.

    ``sum_i w_i tmid_i / sum_i w_i``, clipped to ``[t_0, t_n]``; a ray with no weight gets the far
    bound. Normalising makes an opaque surface's depth independent of how opaque it is.

    Args:
        w: [..., n] weights.
        t: [..., n + 1] bin endpoints.

    Returns:
        [..., 1]
    """
    t_mid = 0.5 * (t[..., 1:] + t[..., :-1])
    acc = torch.sum(w, dim=-1, keepdim=True)
    depth = torch.sum(w * t_mid, dim=-1, keepdim=True) / (acc + eps)
    depth = torch.where(acc > eps, depth, t[..., -1:])
    return torch.clamp(depth, t[..., :1], t[..., -1:])


def compute_weights_packed(sigma: Tensor, t_starts: Tensor, t_ends: Tensor, ray_indices: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`compute_weights` for packed samples (variable count per ray).

    The transmittance needs an exclusive cumulative sum of ``sigma * delta`` within each ray; it is
    taken as one cumulative sum over the whole batch minus each ray's offset, in float64 so that the
    offsets (sums over thousands of rays) do not eat the precision of the per-ray sums.

    Args:
        sigma: [N] densities.
        t_starts, t_ends: [N] bin endpoints.
        ray_indices: [N] ray of each sample, sorted.

    Returns:
        w: [N] weights.
        trans: [N] transmittance at each bin's start.
    """
    sigma_delta = sigma * (t_ends - t_starts)
    inclusive = torch.cumsum(sigma_delta.double(), dim=0)
    exclusive = inclusive - sigma_delta.double()
    if ray_indices.numel() > 0:
        is_first = torch.ones_like(ray_indices, dtype=torch.bool)
        is_first[1:] = ray_indices[1:] != ray_indices[:-1]
        first_index = torch.cummax(torch.where(is_first, torch.arange(len(ray_indices), device=sigma.device), 0), dim=0).values
        exclusive = exclusive - exclusive[first_index]
    trans = torch.exp(-exclusive).to(sigma.dtype)
    return trans * (1.0 - torch.exp(-sigma_delta)), trans


def composite_packed(w: Tensor, values: Tensor, ray_indices: Tensor, num_rays: int) -> Tensor:
    """:func:`composite` for packed samples.

    Args:
        w: [N] weights.
        values: [N, c] per-sample values.
        ray_indices: [N] ray of each sample.
        num_rays: R.

    Returns:
        [R, c]
    """
    weighted = w[:, None] * values  # under autocast a half-precision colour meets float32 weights
    out = torch.zeros(num_rays, values.shape[-1], dtype=weighted.dtype, device=values.device)
    return out.index_add(0, ray_indices, weighted)


def composite_depth_packed(
    w: Tensor, t_starts: Tensor, t_ends: Tensor, ray_indices: Tensor, far: Tensor, eps: float = 1e-10
) -> Tensor:
    """:func:`composite_depth` for packed samples: ``sum w tmid / sum w``, ``far`` where a ray has no weight.

    Args:
        w, t_starts, t_ends, ray_indices: [N] as in :func:`compute_weights_packed`.
        far: [R, 1] the depth of an empty ray.

    Returns:
        [R, 1]
    """
    num_rays = far.shape[0]
    acc = composite_packed(w, torch.ones_like(w)[:, None], ray_indices, num_rays)
    depth = composite_packed(w, (0.5 * (t_starts + t_ends))[:, None], ray_indices, num_rays) / (acc + eps)
    return torch.where(acc > eps, torch.minimum(depth, far), far)
