"""Step-function losses (vanilla_nerf_pe.core.stepfun) and the occupancy grid (vanilla_nerf_pe.core.occupancy)."""

from __future__ import annotations

import math

import torch

from vanilla_nerf_pe.core import stepfun
from vanilla_nerf_pe.core.occupancy import OccupancyGrid, march, ray_aabb_intersect

AABB = torch.tensor([[-1.0] * 3, [1.0] * 3])


# step functions ---------------------------------------------------------------------------------
def test_inner_outer_closed_form():
    t1 = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])
    w1 = torch.tensor([0.1, 0.2, 0.3, 0.4])
    t0 = torch.tensor([0.5, 2.5, 3.5])
    inner, outer = stepfun.inner_outer(t0, t1, w1)
    # [0.5, 2.5]: overlaps bins 0, 1, 2 (outer 0.6), contains bin 1 (inner 0.2);
    # [2.5, 3.5]: overlaps bins 2, 3 (outer 0.7), contains none.
    torch.testing.assert_close(outer, torch.tensor([0.6, 0.7]))
    torch.testing.assert_close(inner, torch.tensor([0.2, 0.0]))


def test_interlevel_loss_zero_when_bounded_positive_when_not():
    t = torch.linspace(2.0, 6.0, 9)
    w = torch.tensor([0.0, 0.0, 0.1, 0.6, 0.2, 0.0, 0.0, 0.0])
    # A coarser proposal whose histogram holds at least the NeRF weight over each of its bins.
    t_p = torch.linspace(2.0, 6.0, 5)
    w_p = torch.tensor([0.0, 0.7, 0.2, 0.0])
    assert abs(stepfun.interlevel_loss(t, w, t_p, w_p).item()) < 1e-9
    # A proposal that puts its mass elsewhere misses w: loss sum w^2 / w = sum w (with w_outer = 0).
    w_bad = torch.tensor([0.9, 0.0, 0.0, 0.0])
    torch.testing.assert_close(stepfun.interlevel_loss(t, w, t_p, w_bad), w.sum(), atol=1e-5, rtol=1e-5)
    # Gradient reaches the proposal only.
    w_p_param = w_bad.clone().requires_grad_(True)
    w_nerf = w.clone().requires_grad_(True)
    stepfun.interlevel_loss(t, w_nerf, t_p, w_p_param).backward()
    assert w_nerf.grad is None and w_p_param.grad is not None and w_p_param.grad.abs().sum() > 0


def test_distortion_loss_closed_forms():
    t = torch.tensor([0.0, 0.5, 1.0])
    # All weight in one bin of width 0.5: only the intra term, w^2 * width / 3.
    torch.testing.assert_close(stepfun.distortion_loss(t, torch.tensor([1.0, 0.0])), torch.tensor(0.5 / 3))
    # Half in each bin: inter 2 * 0.25 * |0.25 - 0.75| = 0.25, intra 2 * 0.25 * 0.5 / 3.
    torch.testing.assert_close(stepfun.distortion_loss(t, torch.tensor([0.5, 0.5])), torch.tensor(0.25 + 0.25 / 3))


# occupancy grid -------------------------------------------------------------------------------------
def sphere_density(positions, radius=0.5):
    return torch.where(positions.norm(dim=-1, keepdim=True) < radius, 100.0, 0.0)


def opacity(density_fn, step_size=0.01):
    """The grid's opacity_fn for a constant marching step (a bounded scene)."""
    return lambda x: density_fn(x) * step_size


def march_t(origins, directions, near, far, occupied, step_size):
    """march in t for rays whose world coordinates are the grid's unit coordinates."""
    t_min, t_max = ray_aabb_intersect(origins, directions, AABB)
    t_min, t_max = torch.maximum(near[:, 0], t_min), torch.minimum(far[:, 0], t_max)
    return march(t_min, t_max, step_size, False, occupied, lambda rays, t: origins[rays, None] + directions[rays, None] * t[..., None])


def test_grid_learns_a_sphere():
    grid = OccupancyGrid(resolution=16)
    for _ in range(3):
        grid.update(opacity(sphere_density), all_cells=True)
    centres = grid.cell_positions(torch.arange(16**3), jitter=False)
    dist = centres.norm(dim=-1)
    half_diag = math.sqrt(3) * (2.0 / 16) / 2
    assert grid.occupied[dist < 0.5 - half_diag].all()  # cells wholly inside
    assert not grid.occupied[dist > 0.5 + half_diag].any()  # cells wholly outside
    # Decay: once the sphere is gone, repeated updates empty the grid's estimate.
    for _ in range(100):
        grid.update(lambda x: torch.zeros(x.shape[0], 1), all_cells=True)
    assert grid.occs.max() < 0.01


def test_ray_aabb_and_march_skip_empty_space():
    origins = torch.tensor([[-3.0, 0.0, 0.0], [-3.0, 0.8, 0.0], [-3.0, 3.0, 0.0]])
    directions = torch.tensor([[1.0, 0.0, 0.0]] * 3)
    t_min, t_max = ray_aabb_intersect(origins, directions, AABB)
    torch.testing.assert_close(t_min[:2], torch.tensor([2.0, 2.0]))
    torch.testing.assert_close(t_max[:2], torch.tensor([4.0, 4.0]))
    assert t_min[2] >= t_max[2]  # misses the box
    grid = OccupancyGrid(resolution=16)
    grid.update(opacity(sphere_density), all_cells=True)
    near, far = torch.zeros(3, 1), torch.full((3, 1), 10.0)
    ray_indices, t_starts, t_ends = march_t(origins, directions, near, far, grid.occupied, 0.05)
    # Ray 0 crosses the sphere (x in [-0.5, 0.5], t in [2.5, 3.5], give or take a cell); ray 1
    # passes outside it and ray 2 outside the box: no samples for either.
    assert set(ray_indices.tolist()) == {0}
    assert t_starts.min() > 2.5 - 0.2 and t_ends.max() < 3.5 + 0.2
    torch.testing.assert_close(t_ends - t_starts, torch.full_like(t_starts, 0.05))
    assert torch.all(t_starts[1:] > t_starts[:-1])
    # An all-occupied grid samples the whole chord in the box.
    full = torch.ones(16**3, dtype=torch.bool)
    r, t0, t1 = march_t(origins, directions, near, far, full, 0.05)
    assert (r == 0).sum() == 40 and (r == 1).sum() == 40 and (r == 2).sum() == 0


def test_march_matches_a_loop_over_rays_and_steps():
    """march against a brute-force reference: for each ray, step from m_min in steps of step_size,
    end the last bin at m_max, keep a bin when its midpoint's cell (floor of the unit coordinate
    times resolution / 2, clamped to the grid) is occupied; rays that miss the box have none."""
    torch.manual_seed(0)
    resolution, step_size = 8, 0.07
    occupied = torch.rand(resolution**3) < 0.3
    origins = torch.randn(40, 3) * 2.0
    directions = torch.nn.functional.normalize(torch.randn(40, 3) - 0.3 * origins, dim=-1)
    near, far = torch.zeros(40, 1), torch.full((40, 1), 6.0)
    t_min, t_max = ray_aabb_intersect(origins, directions, AABB)
    t_min, t_max = torch.maximum(near[:, 0], t_min), torch.minimum(far[:, 0], t_max)
    expected = []
    for r in range(40):
        m0 = t_min[r].item()
        while m0 < t_max[r].item():
            m1 = min(m0 + step_size, t_max[r].item())
            mid = origins[r] + directions[r] * (0.5 * (m0 + m1))
            i, j, k = (min(max(int(math.floor((c + 1.0) * resolution / 2)), 0), resolution - 1) for c in mid.tolist())
            if occupied[(i * resolution + j) * resolution + k]:
                expected.append((r, m0, m1))
            m0 += step_size
    ray_indices, t_starts, t_ends = march_t(origins, directions, near, far, occupied, step_size)
    assert 0 < len(expected) == ray_indices.numel()
    assert ray_indices.tolist() == [e[0] for e in expected]
    torch.testing.assert_close(t_starts, torch.tensor([e[1] for e in expected]))
    torch.testing.assert_close(t_ends, torch.tensor([e[2] for e in expected]))
    assert set(range(40)) - set(ray_indices.tolist())  # some rays miss the box or every occupied cell


def test_grid_state_round_trips_through_state_dict():
    grid = OccupancyGrid(resolution=8)
    grid.update(opacity(sphere_density), all_cells=True)
    other = OccupancyGrid(resolution=8)
    other.load_state_dict(grid.state_dict())
    assert torch.equal(other.occupied, grid.occupied) and torch.equal(other.occs, grid.occs)
    assert not other.occupied.all()


def test_grid_update_refreshes_every_occupied_cell_when_few_are():
    """After warm-up an update evaluates n/4 random cells and the occupied ones: all of them when
    at most n/4 are occupied (as nerfacc), not a draw with replacement that misses about a third."""
    grid = OccupancyGrid(resolution=8)
    grid.update(opacity(sphere_density), all_cells=True)
    occupied = torch.nonzero(grid.occupied).flatten()
    assert 0 < occupied.numel() <= grid.occs.numel() // 4
    seen = []

    def spy(positions):
        seen.append(positions)
        return torch.zeros(positions.shape[0], 1)

    torch.manual_seed(0)
    grid.update(spy, all_cells=False)
    evaluated = torch.cat(seen)
    index = grid.cell_positions(torch.arange(512), jitter=False)  # cell centres
    cell_of = ((evaluated - AABB[0]) / 2.0 * 8).long().clamp(0, 7)
    cells = set(((cell_of[:, 0] * 8 + cell_of[:, 1]) * 8 + cell_of[:, 2]).tolist())
    assert set(occupied.tolist()) <= cells
    assert index.shape == (512, 3)
    # With more occupied cells than n/4, n/4 distinct ones are drawn.
    full = OccupancyGrid(resolution=8)
    seen.clear()
    full.update(spy, all_cells=False)
    assert torch.cat(seen).shape[0] == 2 * (512 // 4)
