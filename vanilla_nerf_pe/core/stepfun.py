"""Sampling distances along rays: stratified bins and inverse-transform (PDF) resampling.

Naming convention for the whole module (after multinerf's ``stepfun.py``):

- ``t``: bin endpoints along each ray, ``[..., n + 1]``, sorted; bin ``i`` is ``[t_i, t_{i+1}]``.
- ``w``: the weight of each bin, ``[..., n]``, non-negative, summing to at most 1 per ray.
- ``p``: a density over distance, ``w / (t_{i+1} - t_i)``.
- ``u``: numbers in ``[0, 1)`` that are pushed through an inverse CDF.

A "sample" of the renderer is a bin: the field is queried at the bin's midpoint and the bin's
width is the ``delta`` of volume rendering. This is the representation of mip-NeRF and nerfstudio;
the NeRF paper's point samples ``t_i`` with ``delta_i = t_{i+1} - t_i`` are the same thing.
"""

from __future__ import annotations

import torch
from torch import Tensor


def stratified_u(shape: tuple, num_samples: int, jitter: bool, device=None) -> Tensor:
    """Sorted numbers in [0, 1), one per stratum ``[k/n, (k+1)/n)``.

    Args:
        shape: batch shape ``[...]``.
        num_samples: n.
        jitter: uniform random position inside each stratum; otherwise the stratum's centre.

    Returns:
        u: [..., n], sorted along the last axis.
    """
    k = torch.arange(num_samples, device=device, dtype=torch.float32)
    if jitter:
        offset = torch.rand(*shape, num_samples, device=device)
    else:
        offset = torch.full((*shape, num_samples), 0.5, device=device)
    return (k + offset) / num_samples


def stratified_t(near: Tensor, far: Tensor, num_samples: int, jitter: bool) -> Tensor:
    """Bin endpoints for stratified sampling between near and far (NeRF eq. 2).

    Evenly spaced endpoints; with ``jitter`` each endpoint moves uniformly within the half-bins
    around it (the first stays >= near, the last <= far), so the bins stay sorted and every point
    of [near, far] can be a bin centre over training.

    Args:
        near, far: [..., 1] per-ray bounds.
        num_samples: number of bins n.
        jitter: training-time randomisation; without it the result is deterministic.

    Returns:
        t: [..., n + 1] sorted endpoints, t[..., 0] >= near and t[..., -1] <= far.
    """
    s = torch.linspace(0.0, 1.0, num_samples + 1, device=near.device, dtype=near.dtype)
    s = s.expand(*near.shape[:-1], num_samples + 1)
    if jitter:
        mids = 0.5 * (s[..., 1:] + s[..., :-1])
        upper = torch.cat([mids, s[..., -1:]], dim=-1)
        lower = torch.cat([s[..., :1], mids], dim=-1)
        r = torch.rand(upper.shape, device=near.device, dtype=near.dtype)
        s = lower + (upper - lower) * r
    return near + (far - near) * s


def sample_pdf(
    t: Tensor,
    w: Tensor,
    num_samples: int,
    jitter: bool,
    padding: float = 1e-5,
) -> Tensor:
    """Inverse-transform sampling of the piecewise-constant PDF given by bins and weights.

    The hierarchical sampling of NeRF (section 5.2): a coarse pass's weights define a PDF along
    each ray, and new distances are drawn where the weight is. ``padding`` is added to every weight
    first (the NeRF code's 1e-5), so a ray whose weights are all zero samples uniformly.

    Args:
        t: [..., n + 1] sorted bin endpoints.
        w: [..., n] non-negative bin weights (they need not be normalised).
        num_samples: m, the number of distances to draw.
        jitter: stratified random u (training); otherwise the strata centres (deterministic).

    Returns:
        s: [..., m] sorted distances inside [t[..., 0], t[..., -1]]. No gradient flows to t or w.
    """
    t = t.detach()
    w = w.detach() + padding
    cdf = torch.cumsum(w, dim=-1) / torch.sum(w, dim=-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(cdf[..., :1]), cdf], dim=-1)  # [..., n + 1], 0 ... 1
    cdf = torch.clamp(cdf, max=1.0)
    u = stratified_u(tuple(t.shape[:-1]), num_samples, jitter, device=t.device).to(t.dtype)
    # Bin of each u: cdf[idx - 1] <= u < cdf[idx].
    idx = torch.searchsorted(cdf.contiguous(), u.contiguous(), right=True)
    below = torch.clamp(idx - 1, 0, t.shape[-1] - 1)
    above = torch.clamp(idx, 0, t.shape[-1] - 1)
    cdf_lo, cdf_hi = torch.gather(cdf, -1, below), torch.gather(cdf, -1, above)
    t_lo, t_hi = torch.gather(t, -1, below), torch.gather(t, -1, above)
    denom = cdf_hi - cdf_lo
    frac = torch.where(denom > 0, (u - cdf_lo) / torch.where(denom > 0, denom, torch.ones_like(denom)), torch.zeros_like(u))
    s = t_lo + frac.clamp(0.0, 1.0) * (t_hi - t_lo)
    return s


def merge_t(t: Tensor, s: Tensor) -> Tensor:
    """Bin endpoints holding both the old endpoints and the new distances (NeRF's fine pass).

    Args:
        t: [..., n + 1] sorted endpoints of the coarse bins.
        s: [..., m] new distances from :func:`sample_pdf`.

    Returns:
        [..., n + m + 1] sorted endpoints: n + m bins for the fine network.
    """
    return torch.sort(torch.cat([t, s], dim=-1), dim=-1).values


def searchsorted(a: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """Indices of the endpoints of ``a`` around each value of ``v`` (multinerf's convention).

    Args:
        a: [..., n + 1] sorted endpoints.
        v: [..., m] query values.

    Returns:
        idx_lo, idx_hi: [..., m] with ``a[idx_lo] <= v < a[idx_hi]``, clamped to ``[0, n]`` where a
        value lies outside ``a`` (then ``idx_lo`` is 0 below, ``idx_hi`` is n above).
    """
    idx = torch.searchsorted(a.contiguous(), v.contiguous(), right=True)
    return torch.clamp(idx - 1, min=0), torch.clamp(idx, max=a.shape[-1] - 1)


def inner_outer(t0: Tensor, t1: Tensor, w1: Tensor) -> tuple[Tensor, Tensor]:
    """Lower and upper bounds of the weight of a step function ``(t1, w1)`` inside the bins ``t0``.

    mip-NeRF 360 (Barron et al. 2022), eq. 13: the "outer" measure of bin ``[t0_i, t0_{i+1}]`` is the
    total weight of every ``t1`` bin that overlaps it; the "inner" measure that of the ``t1`` bins it
    contains entirely.

    Args:
        t0: [..., n + 1] sorted endpoints of the query bins.
        t1: [..., k + 1] sorted endpoints of the step function.
        w1: [..., k] its weights.

    Returns:
        w_inner, w_outer: [..., n].
    """
    cw1 = torch.cat([torch.zeros_like(w1[..., :1]), torch.cumsum(w1, dim=-1)], dim=-1)  # [..., k + 1]
    idx_lo, idx_hi = searchsorted(t1, t0)
    cw1_lo, cw1_hi = torch.gather(cw1, -1, idx_lo), torch.gather(cw1, -1, idx_hi)
    w_outer = cw1_hi[..., 1:] - cw1_lo[..., :-1]
    w_inner = torch.where(idx_hi[..., :-1] <= idx_lo[..., 1:], cw1_lo[..., 1:] - cw1_hi[..., :-1], torch.zeros_like(w_outer))
    return w_inner, w_outer


def interlevel_loss(t: Tensor, w: Tensor, t_proposal: Tensor, w_proposal: Tensor, eps: float = 1e-7) -> Tensor:
    """mip-NeRF 360's proposal loss (eq. 14): how far the NeRF weights exceed the proposal's bound.

    ``sum_i max(0, w_i - outer_i)^2 / w_i``, where ``outer_i`` is the proposal's weight over the bins
    that overlap bin ``i`` (:func:`inner_outer`). Zero when the proposal's histogram bounds ``w``.
    The NeRF side (``t``, ``w``) is detached, as in the paper: only the proposal learns from it.

    Args:
        t: [..., n + 1], w: [..., n]: the NeRF's bins and weights.
        t_proposal: [..., k + 1], w_proposal: [..., k]: a proposal network's bins and weights.

    Returns:
        [...] the loss per ray.
    """
    t, w = t.detach(), w.detach()
    _, w_outer = inner_outer(t, t_proposal, w_proposal)
    return torch.sum(torch.clamp(w - w_outer, min=0.0) ** 2 / (w + eps), dim=-1)


def distortion_loss(t: Tensor, w: Tensor) -> Tensor:
    """mip-NeRF 360's distortion loss (eq. 15), in closed form for a step function.

    ``sum_{i,j} w_i w_j |m_i - m_j| + 1/3 sum_i w_i^2 (t_{i+1} - t_i)``, ``m`` the bin midpoints: small
    when the weight of a ray sits in one short interval (no floaters, no fog).

    Args:
        t: [..., n + 1] sorted endpoints (pass them normalised, e.g. to [0, 1], to make the loss
            independent of the scene's scale).
        w: [..., n] weights.

    Returns:
        [...] the loss per ray.
    """
    m = 0.5 * (t[..., 1:] + t[..., :-1])
    inter = torch.sum(w * torch.sum(w[..., None, :] * torch.abs(m[..., :, None] - m[..., None, :]), dim=-1), dim=-1)
    intra = torch.sum(w**2 * (t[..., 1:] - t[..., :-1]), dim=-1) / 3.0
    return inter + intra
