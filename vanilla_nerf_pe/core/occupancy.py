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
    origins: Tensor,
    directions: Tensor,
    near: Tensor,
    far: Tensor,
    aabb: Tensor,
    occupied: Tensor,
    step_size: float,
    jitter: bool,
    max_samples_per_chunk: int = 1 << 22,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Bins of length ``step_size`` along each ray, inside the box and in occupied cells, packed.

    Each ray starts at ``max(near, box entry)`` (plus a uniform random fraction of a step in
    training, so every point is a bin centre over time) and stops at ``min(far, box exit)``.

    Args:
        origins, directions: [R, 3] (unit directions: distances are then metric).
        near, far: [R, 1].
        aabb: [2, 3] the grid's box.
        occupied: [resolution^3] bool, the grid's mask (flat, x-major).
        step_size: bin length.
        jitter: random start offset (training); otherwise the first bin starts at the entry.
        max_samples_per_chunk: candidate bins examined at once, bounding memory.

    Returns:
        ray_indices: [N] long, sorted; t_starts, t_ends: [N].
    """
    resolution = round(occupied.numel() ** (1.0 / 3.0))
    if resolution**3 != occupied.numel():
        raise ValueError(f"occupied must have resolution^3 entries, got {occupied.numel()}")
    num_rays = origins.shape[0]
    t_box_min, t_box_max = ray_aabb_intersect(origins, directions, aabb)
    t_min = torch.maximum(near[:, 0], t_box_min)
    t_max = torch.minimum(far[:, 0], t_box_max)
    if jitter:
        t_min = t_min + torch.rand_like(t_min) * step_size
    hit = t_max > t_min
    if not bool(hit.any()):
        empty = torch.zeros(0, device=origins.device)
        return empty.long(), empty, empty
    num_steps = int(torch.ceil(((t_max - t_min)[hit]).max() / step_size).item())
    rays_per_chunk = max(1, max_samples_per_chunk // max(num_steps, 1))
    k = torch.arange(num_steps, device=origins.device, dtype=origins.dtype)
    out_r, out_t0, out_t1 = [], [], []
    for start in range(0, num_rays, rays_per_chunk):
        sl = slice(start, start + rays_per_chunk)
        t0 = t_min[sl, None] + k * step_size  # [r, S]
        t1 = torch.minimum(t0 + step_size, t_max[sl, None])
        mid = 0.5 * (t0 + t1)
        index, _ = cell_indices(origins[sl, None] + directions[sl, None] * mid[..., None], aabb, resolution)
        keep = (t0 < t_max[sl, None]) & occupied[index]
        r, s = torch.nonzero(keep, as_tuple=True)
        out_r.append(r + start)
        out_t0.append(t0[r, s])
        out_t1.append(t1[r, s])
    return torch.cat(out_r), torch.cat(out_t0), torch.cat(out_t1)


class OccupancyGrid(nn.Module):
    """The grid's state: ``occs`` (float opacity estimate per cell) and ``occupied`` (bool mask).

    Both are buffers, so the grid travels in nerfstudio checkpoints and a resumed or reloaded model
    skips the same space. All cells start occupied.

    Args:
        aabb: [2, 3] the box the grid covers.
        resolution: cells per side.
    """

    occs: Tensor
    occupied: Tensor

    def __init__(self, aabb: Tensor, resolution: int = 64) -> None:
        super().__init__()
        if resolution < 1:
            raise ValueError(f"occupancy grid resolution must be >= 1, got {resolution}")
        self.resolution = resolution
        self.register_buffer("aabb", aabb.detach().clone().float())
        self.register_buffer("occs", torch.zeros(resolution**3))
        self.register_buffer("occupied", torch.ones(resolution**3, dtype=torch.bool))

    def cell_positions(self, index: Tensor, jitter: bool = True) -> Tensor:
        """World positions [K, 3] in the cells of flat ``index`` [K]: a uniform random point of
        each cell, or its centre."""
        res = self.resolution
        ijk = torch.stack([index // (res * res), (index // res) % res, index % res], dim=-1).to(self.aabb.dtype)
        offset = torch.rand_like(ijk) if jitter else torch.full_like(ijk, 0.5)
        return self.aabb[0] + (ijk + offset) / res * (self.aabb[1] - self.aabb[0])

    @torch.no_grad()
    def update(
        self,
        density_fn: Callable[[Tensor], Tensor],
        step_size: float,
        all_cells: bool,
        decay: float = 0.95,
        threshold: float = 0.01,
        chunk: int = 1 << 16,
    ) -> None:
        """One update from the field (nerfacc's ``_update``).

        Args:
            density_fn: positions [K, 3] -> sigma [K] or [K, 1].
            step_size: the marching step; ``occ = sigma * step_size`` is the opacity of one bin.
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
        occ = torch.cat([density_fn(positions[i : i + chunk]).reshape(-1) for i in range(0, len(index), chunk)]) * step_size
        self.occs[index] = torch.maximum(self.occs[index] * decay, occ.to(self.occs.dtype))
        self.occupied.copy_(self.occs > torch.clamp(self.occs.mean(), max=threshold))

    def occupied_fraction(self) -> float:
        return float(self.occupied.float().mean())
