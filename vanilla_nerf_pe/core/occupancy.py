"""Empty-space skipping with an occupancy grid, in pure PyTorch (CPU and GPU).

The idea of Instant-NGP (Müller et al. 2022, sec. 4 "Accelerated ray marching") as packaged by
nerfacc's ``OccGridEstimator`` (Li et al. 2023), rewritten without CUDA kernels:

- a grid of ``resolution^3`` cells over the scene box holds, per cell, a running estimate of the
  field's opacity ``occ = sigma * step_size`` (updated every few training steps from the field at a
  random point of each cell, ``occ = max(decay * occ, new)``) and a boolean "occupied" mask
  (``occ > min(mean occ, threshold)``);
- :func:`march` steps along each ray at a fixed ``step_size`` inside the box and keeps only the bins
  whose midpoint falls in an occupied cell, returning them *packed* (a variable count per ray, see
  :mod:`vanilla_nerf_pe.core.render`);
- the model then renders with :func:`~vanilla_nerf_pe.core.render.render_weights` and drops the
  samples behind the point where the transmittance becomes negligible (early ray termination).

Naming: ``t_starts``/``t_ends`` ``[N]`` the packed bins, ``ray_indices`` ``[N]`` their rays (sorted),
``occ`` a cell's opacity estimate, ``aabb`` ``[2, 3]`` the box (min corner, max corner).
"""

from __future__ import annotations

from typing import Callable, Tuple

import torch
from torch import Tensor, nn

from vanilla_nerf_pe.core.errors import InputError


def ray_aabb_intersect(origins: Tensor, directions: Tensor, aabb: Tensor) -> Tuple[Tensor, Tensor]:
    """Entry and exit distances of rays through an axis-aligned box (the slab method).

    Args:
        origins, directions: [R, 3] (directions need not be unit; distances are in its units).
        aabb: [2, 3].

    Returns:
        t_min, t_max: [R]; ``t_min >= t_max`` where the ray misses the box.
    """
    safe = torch.where(directions.abs() < 1e-12, torch.full_like(directions, 1e-12), directions)
    t0 = (aabb[0] - origins) / safe
    t1 = (aabb[1] - origins) / safe
    t_min = torch.minimum(t0, t1).amax(dim=-1)
    t_max = torch.maximum(t0, t1).amin(dim=-1)
    return t_min, t_max


def march(
    m_min: Tensor,
    m_max: Tensor,
    step_size: float,
    jitter: bool,
    occupied: Tensor,
    unit_positions: Callable[[Tensor, Tensor], Tensor],
    max_samples_per_chunk: int = 1 << 22,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Bins of length ``step_size`` along each ray whose midpoint falls in an occupied cell, packed.

    Marching runs in a coordinate ``m`` along each ray: the distance t, or a normalised s that the
    caller maps to t (unbounded scenes march evenly in s). Each ray starts at ``m_min`` (plus a
    uniform random fraction of a step in training, so every point is a bin centre over time) and
    stops at ``m_max``; the last bin ends at ``m_max``. Only rays with ``m_max > m_min`` are
    marched (a ray that misses the box costs nothing).

    Args:
        m_min, m_max: [R] the rays' ranges (``m_min >= m_max``: the ray has no bins).
        step_size: bin length in m.
        jitter: random start offset (training); otherwise the first bin starts at ``m_min``.
        occupied: [resolution^3] bool, the grid's mask (flat, x-major) over the unit box [-1, 1]^3.
        unit_positions: (ray indices [r] long, m [r, S]) -> unit coordinates [r, S, 3] of those rays
            at m. Where unit coordinates are affine in m, ``o[rays, None] + d[rays, None] * m[..., None]``
            with per-ray unit origins and directions is the cheap form.
        max_samples_per_chunk: candidate bins examined at once, bounding memory.

    Returns:
        ray_indices: [N] long, sorted; m_starts, m_ends: [N].
    """
    resolution = round(occupied.numel() ** (1.0 / 3.0))
    if resolution**3 != occupied.numel():
        raise InputError(f"occupied must have resolution^3 entries, got {occupied.numel()}")
    if jitter:
        m_min = m_min + torch.rand_like(m_min) * step_size
    hit_rays = torch.nonzero(m_max > m_min).flatten()
    if hit_rays.numel() == 0:
        empty = torch.zeros(0, device=m_min.device)
        return empty.long(), empty, empty
    lo, hi = m_min[hit_rays], m_max[hit_rays]
    num_steps = int(torch.ceil((hi - lo).max() / step_size).item())
    rays_per_chunk = max(1, max_samples_per_chunk // max(num_steps, 1))
    offsets = torch.arange(num_steps, device=m_min.device, dtype=m_min.dtype) * step_size
    cells_per_unit = 0.5 * resolution  # the unit box [-1, 1] spans `resolution` cells
    out_r, out_m0 = [], []
    for start in range(0, hit_rays.numel(), rays_per_chunk):
        rays = hit_rays[start : start + rays_per_chunk]
        m0 = lo[start : start + rays_per_chunk, None] + offsets  # [r, S]
        top = hi[start : start + rays_per_chunk, None]
        mid = 0.5 * (m0 + torch.minimum(m0 + step_size, top))
        ijk = ((unit_positions(rays, mid) + 1.0) * cells_per_unit).long().clamp_(0, resolution - 1)
        keep = occupied[(ijk[..., 0] * resolution + ijk[..., 1]) * resolution + ijk[..., 2]] & (m0 < top)
        r, s = torch.nonzero(keep, as_tuple=True)
        out_r.append(rays[r])
        out_m0.append(m0[r, s])
    ray_indices, m_starts = torch.cat(out_r), torch.cat(out_m0)
    return ray_indices, m_starts, torch.minimum(m_starts + step_size, m_max[ray_indices])


class OccupancyGrid(nn.Module):
    """The grid's state: ``occs`` (float opacity estimate per cell) and ``occupied`` (bool mask).

    Both are buffers, so the grid travels in nerfstudio checkpoints and a resumed or reloaded model
    skips the same space. All cells start occupied. The grid covers the unit box [-1, 1]^3 of
    :mod:`vanilla_nerf_pe.core.space`, whatever the scene kind.

    Args:
        resolution: cells per side.
    """

    occs: Tensor
    occupied: Tensor

    def __init__(self, resolution: int = 64) -> None:
        super().__init__()
        if resolution < 1:
            raise InputError(f"occupancy grid resolution must be >= 1, got {resolution}")
        self.resolution = resolution
        self.register_buffer("occs", torch.zeros(resolution**3))
        self.register_buffer("occupied", torch.ones(resolution**3, dtype=torch.bool))

    def cell_positions(self, index: Tensor, jitter: bool = True) -> Tensor:
        """Unit coordinates [K, 3] in the cells of flat ``index`` [K]: a uniform random point of
        each cell, or its centre."""
        res = self.resolution
        ijk = torch.stack([index // (res * res), (index // res) % res, index % res], dim=-1).float()
        offset = torch.rand_like(ijk) if jitter else torch.full_like(ijk, 0.5)
        return (ijk + offset) / res * 2.0 - 1.0

    @torch.no_grad()
    def update(
        self,
        opacity_fn: Callable[[Tensor], Tensor],
        all_cells: bool,
        decay: float = 0.95,
        threshold: float = 0.01,
        chunk: int = 1 << 16,
    ) -> None:
        """One update from the field (nerfacc's ``_update``).

        Args:
            opacity_fn: unit coordinates [K, 3] -> ``occ`` [K] or [K, 1], the opacity ``sigma * step
                length`` of one marching step there.
            all_cells: evaluate every cell (warm-up); otherwise n/4 uniformly drawn cells and every
                occupied cell, or n/4 distinct occupied cells where more are occupied (nerfacc
                re-evaluates all occupied cells when there are at most n/4).
            decay: old estimates fade by this factor per update, so space the field has cleared
                becomes empty.
            threshold: a cell is occupied when its ``occ`` exceeds ``min(mean occ, threshold)``.
        """
        n = self.occs.numel()
        device = self.occs.device
        if all_cells:
            index = torch.arange(n, device=device)
        else:
            index = torch.randint(0, n, (n // 4,), device=device)
            occupied = torch.nonzero(self.occupied).flatten()
            if occupied.numel() > n // 4:  # a quarter of the cells' worth, drawn without replacement
                occupied = occupied[torch.randperm(occupied.numel(), device=device)[: n // 4]]
            index = torch.cat([index, occupied])
        positions = self.cell_positions(index)
        occ = torch.cat([opacity_fn(positions[i : i + chunk]).reshape(-1) for i in range(0, len(index), chunk)])
        self.occs[index] = torch.maximum(self.occs[index] * decay, occ.to(self.occs.dtype))
        self.occupied.copy_(self.occs > torch.clamp(self.occs.mean(), max=threshold))

    def occupied_fraction(self) -> float:
        return float(self.occupied.float().mean())
