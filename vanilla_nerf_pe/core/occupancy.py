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


UNIT_BOX = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
"""The box of the unit coordinates (:mod:`vanilla_nerf_pe.core.space`) that the grid covers."""


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


def cell_indices(positions: Tensor, aabb: Tensor, resolution: int) -> Tuple[Tensor, Tensor]:
    """Flat index of the grid cell holding each position, and whether the position is in the box.

    Args:
        positions: [..., 3].

    Returns:
        index: [...] in ``[0, resolution^3)`` (clamped for positions outside), inside: [...] bool.
    """
    u = (positions - aabb[0]) / (aabb[1] - aabb[0])
    inside = ((u >= 0) & (u < 1)).all(dim=-1)
    ijk = torch.clamp((u * resolution).long(), 0, resolution - 1)
    return (ijk[..., 0] * resolution + ijk[..., 1]) * resolution + ijk[..., 2], inside


def march(
    m_min: Tensor,
    m_max: Tensor,
    step_size: float,
    jitter: bool,
    occupied: Tensor,
    unit_positions: Callable[[slice, Tensor], Tensor],
    max_samples_per_chunk: int = 1 << 22,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Bins of length ``step_size`` along each ray whose midpoint falls in an occupied cell, packed.

    Marching runs in a coordinate ``m`` along each ray: the distance t, or a normalised s that the
    caller maps to t (unbounded scenes march evenly in s). Each ray starts at ``m_min`` (plus a
    uniform random fraction of a step in training, so every point is a bin centre over time) and
    stops at ``m_max``.

    Args:
        m_min, m_max: [R] the rays' ranges (``m_min >= m_max``: the ray has no bins).
        step_size: bin length in m.
        jitter: random start offset (training); otherwise the first bin starts at ``m_min``.
        occupied: [resolution^3] bool, the grid's mask (flat, x-major) over the unit box [-1, 1]^3.
        unit_positions: (rays slice, m [r, S]) -> unit coordinates [r, S, 3] of those rays at m.
        max_samples_per_chunk: candidate bins examined at once, bounding memory.

    Returns:
        ray_indices: [N] long, sorted; m_starts, m_ends: [N].
    """
    resolution = round(occupied.numel() ** (1.0 / 3.0))
    if resolution**3 != occupied.numel():
        raise ValueError(f"occupied must have resolution^3 entries, got {occupied.numel()}")
    num_rays = m_min.shape[0]
    if jitter:
        m_min = m_min + torch.rand_like(m_min) * step_size
    hit = m_max > m_min
    if not bool(hit.any()):
        empty = torch.zeros(0, device=m_min.device)
        return empty.long(), empty, empty
    num_steps = int(torch.ceil(((m_max - m_min)[hit]).max() / step_size).item())
    rays_per_chunk = max(1, max_samples_per_chunk // max(num_steps, 1))
    k = torch.arange(num_steps, device=m_min.device, dtype=m_min.dtype)
    box = UNIT_BOX.to(m_min.device)
    out_r, out_m0, out_m1 = [], [], []
    for start in range(0, num_rays, rays_per_chunk):
        sl = slice(start, start + rays_per_chunk)
        m0 = m_min[sl, None] + k * step_size  # [r, S]
        m1 = torch.minimum(m0 + step_size, m_max[sl, None])
        index, _ = cell_indices(unit_positions(sl, 0.5 * (m0 + m1)), box, resolution)
        keep = (m0 < m_max[sl, None]) & occupied[index]
        r, s = torch.nonzero(keep, as_tuple=True)
        out_r.append(r + start)
        out_m0.append(m0[r, s])
        out_m1.append(m1[r, s])
    return torch.cat(out_r), torch.cat(out_m0), torch.cat(out_m1)


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
            raise ValueError(f"occupancy grid resolution must be >= 1, got {resolution}")
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
