"""Discrete volume rendering (Mildenhall et al. 2020, eq. 3; Max 1995).

Naming convention for the whole module (the same as :mod:`vanilla_nerf_pe.stepfun`):

- ``t``: bin endpoints along each ray, ``[..., n + 1]``; ``delta = t[..., 1:] - t[..., :-1]``.
- ``sigma``: volume density at each bin, ``[..., n]`` (constant within the bin).
- ``alpha``: opacity of each bin, ``1 - exp(-sigma * delta)``.
- ``trans``: transmittance up to the start of each bin, ``exp(-sum_{j<i} sigma_j delta_j)``.
- ``w``: rendering weights ``trans * alpha``, ``[..., n]``; they sum to the accumulation
  ``1 - exp(-sum_i sigma_i delta_i)``, which is at most 1.
- values to composite (colours, features): ``[..., n, c]``.

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
