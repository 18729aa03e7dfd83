"""The model's losses, as functions of its outputs (each a scalar tensor).

- :func:`photometric_loss`: mean squared error of a rendered colour against the pixel colour
  (NeRF eq. 6), for the final pass and every earlier pass a sampler renders (NeRF's coarse pass).
- :func:`interlevel_loss`: the mean over rays of mip-NeRF 360's proposal loss, summed over
  proposal levels;
- :func:`distortion_loss`: the mean over rays of mip-NeRF 360's distortion loss on the final
  weights, with the distances in each ray's normalised s in [0, 1] (the paper's s-space), so that
  its weight does not depend on the scene's scale or on where a sampler put its first and last bins.

The per-ray losses, their equations and their tests are in :mod:`vanilla_nerf_pe.core.stepfun`.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
from torch import Tensor

from vanilla_nerf_pe.core import stepfun


def photometric_loss(rgb: Tensor, target: Tensor) -> Tensor:
    """mean((rgb - target)^2) over rays and channels; rgb, target [R, 3]."""
    return torch.mean((rgb - target) ** 2)


def interlevel_loss(t: Tensor, w: Tensor, levels: List[Tuple[Tensor, Tensor]]) -> Tensor:
    """Sum over the proposal levels (t_k [R, n_k + 1], w_k [R, n_k]) of the mean interlevel loss
    against the final bins t [R, n + 1] and weights w [R, n]."""
    return sum((torch.mean(stepfun.interlevel_loss(t, w, t_k, w_k)) for t_k, w_k in levels), torch.zeros((), device=w.device))


def distortion_loss(s: Tensor, w: Tensor) -> Tensor:
    """Mean distortion loss of the final bins in normalised distance s [R, n + 1] (the rays' s-space,
    :mod:`vanilla_nerf_pe.nerf.spaces`) and weights w [R, n]."""
    return torch.mean(stepfun.distortion_loss(s, w))
