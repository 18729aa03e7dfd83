"""Discrete volume rendering (Mildenhall et al. 2020, eq. 3; Max 1995), one API for dense and
packed samples (after nerfacc's ``volrend``).

Naming convention for the whole module (the same as :mod:`vanilla_nerf_pe.core.stepfun`):

- a sample is a bin ``[t_start, t_end]`` along a ray; ``delta = t_end - t_start``;
- ``sigma``: volume density in each bin (constant within it);
- ``alpha``: opacity of each bin, ``1 - exp(-sigma * delta)``;
- ``trans``: transmittance up to the start of each bin, ``exp(-sum_{j<i} sigma_j delta_j)``;
- ``w``: rendering weights ``trans * alpha``; they sum to the accumulation
  ``1 - exp(-sum_i sigma_i delta_i)``, which is at most 1.

Layouts (every function takes both):

- **dense**: ``[..., n]`` per-bin tensors (``[..., n, c]`` for values), every ray with n bins;
  results per ray are ``[..., c]``. Pass ``ray_indices=None``.
- **packed** (nerfacc's): a variable number of bins per ray flattened to ``N`` samples,
  ``ray_indices`` ``[N]`` sorted (a ray's bins contiguous and in order along it), per-sample
  tensors ``[N]`` (``[N, c]`` for values); results per ray are ``[num_rays, c]``; a ray with no
  sample has zero weight.

Example (dense; for packed add ``ray_indices=ri, num_rays=R``)::

    w, _ = render_weights(sigma, t[..., :-1], t[..., 1:])
    out = composite(w, rgb, t[..., :-1], t[..., 1:], far=fars, background=white)
    out["rgb"], out["depth"], out["accumulation"]

All functions are pure and differentiable; nothing needs float64 (Apple's MPS has none).
"""

from __future__ import annotations

from typing import Dict, Literal, Optional, Tuple

import torch
from torch import Tensor

from vanilla_nerf_pe.core.errors import InputError

BackgroundKind = Literal["white", "black", "random", "last_sample"]
BACKGROUND_KINDS: Tuple[str, ...] = ("white", "black", "random", "last_sample")


def packed_positions(ray_indices: Tensor, num_rays: int) -> Tuple[Tensor, int]:
    """Index of each packed sample within its ray, and the largest count of samples of one ray.

    Args:
        ray_indices: [N] sorted.

    Returns:
        position: [N] long, 0 for each ray's first sample; max_count: int.
    """
    counts = torch.bincount(ray_indices, minlength=num_rays)
    first = torch.cumsum(counts, dim=0) - counts
    position = torch.arange(ray_indices.numel(), device=ray_indices.device) - first[ray_indices]
    return position, int(counts.max()) if counts.numel() else 0


def _exclusive_cumsum(x: Tensor) -> Tensor:
    """``sum_{j<i} x_j`` along the last axis (a shift, not ``cumsum - x``, which loses the small
    sums in front of a huge ``x_i`` to rounding)."""
    return torch.cat([torch.zeros_like(x[..., :1]), torch.cumsum(x[..., :-1], dim=-1)], dim=-1)


def render_weights(
    sigma: Tensor, t_starts: Tensor, t_ends: Tensor, ray_indices: Optional[Tensor] = None, num_rays: Optional[int] = None
) -> Tuple[Tensor, Tensor]:
    """Volume-rendering weights of bins with piecewise-constant density.

    Args:
        sigma: [..., n] (dense) or [N] (packed) non-negative densities.
        t_starts, t_ends: the bins, same shape as sigma.
        ray_indices, num_rays: the packed layout (None: dense).

    Returns:
        w: weights ``trans * (1 - exp(-sigma delta))``, shaped like sigma.
        trans: transmittance at each bin's start, shaped like sigma.
    """
    sigma_delta = sigma * (t_ends - t_starts)
    if ray_indices is not None:
        # Scatter into a padded [num_rays, max_count] block (zeros behind each ray's last bin), take
        # the dense per-ray sums, gather back: exact per ray, no float64 offsets.
        if num_rays is None:
            raise InputError("packed samples need num_rays")
        position, max_count = packed_positions(ray_indices, num_rays)
        padded = sigma_delta.new_zeros(num_rays, max(max_count, 1)).index_put((ray_indices, position), sigma_delta)
        optical_depth = _exclusive_cumsum(padded)[ray_indices, position]
    else:
        optical_depth = _exclusive_cumsum(sigma_delta)
    trans = torch.exp(-optical_depth)
    return trans * (1.0 - torch.exp(-sigma_delta)), trans


def per_sample(values: Tensor, sample_shape: torch.Size, ray_indices: Optional[Tensor] = None) -> Tensor:
    """Each sample's copy of its ray's values [R, C]: [N, C] for packed samples (``ray_indices`` [N])
    or [R, n, C] for dense ones (``sample_shape`` [R, n]).

    Example: values [[1], [2]], dense sample_shape (2, 3) -> [[[1], [1], [1]], [[2], [2], [2]]];
    packed ray_indices [1, 1, 0] -> [[2], [2], [1]].
    """
    if ray_indices is not None:
        return values[ray_indices]
    return values[..., None, :].expand(*sample_shape, values.shape[-1])


def accumulate(w: Tensor, values: Optional[Tensor] = None, ray_indices: Optional[Tensor] = None, num_rays: Optional[int] = None) -> Tensor:
    """Weighted sum along each ray: ``sum_i w_i values_i``.

    Args:
        w: [..., n] or [N] weights.
        values: [..., n, c] or [N, c]; None sums the weights themselves (the accumulation).
        ray_indices, num_rays: the packed layout (None: dense).

    Returns:
        [..., c] (dense) or [num_rays, c] (packed); c = 1 without values.
    """
    weighted = w[..., None] if values is None else w[..., None] * values  # a bfloat16 colour meets float32 w
    if ray_indices is None:
        return torch.sum(weighted, dim=-2)
    if num_rays is None:
        raise InputError("packed samples need num_rays")
    out = torch.zeros(num_rays, weighted.shape[-1], dtype=weighted.dtype, device=weighted.device)
    return out.index_add(0, ray_indices, weighted)


def composite(
    w: Tensor,
    rgb: Tensor,
    t_starts: Tensor,
    t_ends: Tensor,
    far: Tensor,
    background: Optional[Tensor] = None,
    ray_indices: Optional[Tensor] = None,
    num_rays: Optional[int] = None,
    eps: float = 1e-10,
) -> Dict[str, Tensor]:
    """Pixel colour, depth and accumulation of each ray from its weights.

    - ``accumulation = sum_i w_i``;
    - ``rgb = sum_i w_i c_i + (1 - accumulation) * background`` (the one place where the
      background is composited; None composites onto nothing, i.e. black);
    - ``depth = sum_i w_i tmid_i / accumulation`` (the expected termination distance normalised
      by the accumulation, so an opaque surface's depth does not depend on how opaque it is);
      ``far`` where a ray has no weight.

    Args:
        w: [..., n] or [N] weights (:func:`render_weights`).
        rgb: [..., n, 3] or [N, 3] colours.
        t_starts, t_ends: the bins, shaped like w.
        far: [..., 1] or [num_rays, 1], the depth of an empty ray.
        background: [..., 3] or [num_rays, 3] (a [3] colour broadcasts); None: none.
        ray_indices, num_rays: the packed layout (None: dense).

    Returns:
        {"rgb": [..., 3], "depth": [..., 1], "accumulation": [..., 1]}.
    """
    accumulation = accumulate(w, None, ray_indices, num_rays)
    color = accumulate(w, rgb, ray_indices, num_rays)
    if background is not None:
        color = color + (1.0 - accumulation) * background.to(color)
    t_mid = (0.5 * (t_starts + t_ends))[..., None]
    depth = accumulate(w, t_mid, ray_indices, num_rays) / accumulation.clamp_min(eps)
    depth = torch.where(accumulation > eps, depth, far.to(depth))
    return {"rgb": color, "depth": depth, "accumulation": accumulation}


def background_color(kind: BackgroundKind, batch_shape: Tuple[int, ...], like: Tensor, last_rgb: Optional[Tensor] = None) -> Tensor:
    """The colour a ray sees behind the scene, [*batch_shape, 3].

    Args:
        kind: "white", "black", "random" (uniform per ray, for training on images with alpha) or
            "last_sample" (the colour of each ray's last bin, ``last_rgb``).
        like: a tensor whose dtype and device the result takes.
        last_rgb: [*batch_shape, 3], needed for "last_sample".
    """
    if kind == "white":
        return torch.ones(*batch_shape, 3, dtype=like.dtype, device=like.device)
    if kind == "black":
        return torch.zeros(*batch_shape, 3, dtype=like.dtype, device=like.device)
    if kind == "random":
        return torch.rand(*batch_shape, 3, dtype=like.dtype, device=like.device)
    if kind == "last_sample":
        if last_rgb is None:
            raise InputError("the last_sample background needs the colour of each ray's last sample")
        return last_rgb
    raise InputError(f"unknown background {kind!r}: choose one of {', '.join(BACKGROUND_KINDS)}")


def affine_color(rgb: Tensor, delta: Tensor) -> Tensor:
    """[..., 3] the colours ``rgb`` [..., 3] through the affine colour transform ``x -> (I + D) x + b``
    given as its offset from the identity ``delta = [D | b]`` [..., 3, 4] (broadcast against ``rgb``'s
    batch dims): a camera's exposure and white balance, per image (Urban Radiance Fields, Rematas et
    al. 2022, compensate exposure with such a matrix; zipnerf's code has an affine option of its
    per-image codes too)."""
    if rgb.shape[-1] != 3 or delta.shape[-2:] != (3, 4):
        raise InputError(f"affine_color needs colours [..., 3] and transforms [..., 3, 4], got {tuple(rgb.shape)} and {tuple(delta.shape)}")
    return rgb + (delta[..., :3] @ rgb[..., None])[..., 0] + delta[..., 3]
