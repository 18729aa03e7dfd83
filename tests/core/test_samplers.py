"""Proposal and occupancy sampling: the step-function losses, packed rendering, the grid, the samplers."""

from __future__ import annotations

import math

import pytest
import torch
from nerfstudio.cameras.rays import RayBundle

from vanilla_nerf_pe import stepfun
from vanilla_nerf_pe.fields import make_nerf_field
from vanilla_nerf_pe.occupancy import OccupancyGrid, march, ray_aabb_intersect
from vanilla_nerf_pe.render import (
    composite,
    composite_depth,
    composite_depth_packed,
    composite_packed,
    compute_weights,
    compute_weights_packed,
)
from vanilla_nerf_pe.samplers import OccupancySampler, ProposalSampler

AABB = torch.tensor([[-1.0] * 3, [1.0] * 3])


def bundle(origins, directions, near=0.0, far=10.0):
    n = origins.shape[0]
    return RayBundle(
        origins=origins, directions=directions, pixel_area=torch.ones(n, 1),
        nears=torch.full((n, 1), near), fars=torch.full((n, 1), far),
    )


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


# packed rendering ----------------------------------------------------------------------------------
def test_packed_rendering_equals_dense_on_same_samples():
    g = torch.Generator().manual_seed(0)
    num_rays, n = 5, 12
    t = torch.sort(torch.rand(num_rays, n + 1, generator=g) * 4 + 2, dim=-1).values
    sigma = torch.rand(num_rays, n, generator=g) * 3
    rgb = torch.rand(num_rays, n, 3, generator=g)
    w_dense, trans_dense = compute_weights(sigma, t)
    # Packed: ray 2 has no samples (all of its samples removed, zero weight in the dense one too).
    keep = torch.ones(num_rays, n, dtype=torch.bool)
    keep[2] = False
    sigma_z = torch.where(keep, sigma, torch.zeros_like(sigma))
    w_dense, trans_dense = compute_weights(sigma_z, t)
    r, s = torch.nonzero(keep, as_tuple=True)
    w, trans = compute_weights_packed(sigma[r, s], t[r, s], t[r, s + 1], r)
    torch.testing.assert_close(w, w_dense[r, s])
    torch.testing.assert_close(trans, trans_dense[r, s])
    torch.testing.assert_close(composite_packed(w, rgb[r, s], r, num_rays), composite(w_dense, rgb))
    far = t[:, -1:]
    torch.testing.assert_close(composite_depth_packed(w, t[r, s], t[r, s + 1], r, far), composite_depth(w_dense, t))


def test_packed_weights_keep_precision_over_many_rays():
    # 20000 opaque rays: a batch-wide float32 cumulative sum would lose the per-ray transmittance.
    num_rays, n = 20000, 8
    sigma = torch.full((num_rays * n,), 50.0)
    t0 = torch.arange(n).repeat(num_rays).float() * 0.1
    r = torch.arange(num_rays).repeat_interleave(n)
    w, trans = compute_weights_packed(sigma, t0, t0 + 0.1, r)
    w_ref, _ = compute_weights(torch.full((1, n), 50.0), torch.arange(n + 1)[None].float() * 0.1)
    torch.testing.assert_close(w.view(num_rays, n), w_ref.expand(num_rays, n), rtol=1e-5, atol=1e-6)


# occupancy grid -------------------------------------------------------------------------------------
def sphere_density(positions, radius=0.5):
    return torch.where(positions.norm(dim=-1, keepdim=True) < radius, 100.0, 0.0)


def test_grid_learns_a_sphere():
    grid = OccupancyGrid(AABB, resolution=16)
    for _ in range(3):
        grid.update(sphere_density, step_size=0.01, all_cells=True)
    centres = grid.cell_positions(torch.arange(16**3), jitter=False)
    dist = centres.norm(dim=-1)
    half_diag = math.sqrt(3) * (2.0 / 16) / 2
    assert grid.occupied[dist < 0.5 - half_diag].all()  # cells wholly inside
    assert not grid.occupied[dist > 0.5 + half_diag].any()  # cells wholly outside
    # Decay: once the sphere is gone, repeated updates empty the grid's estimate.
    for _ in range(100):
        grid.update(lambda x: torch.zeros(x.shape[0], 1), step_size=0.01, all_cells=True)
    assert grid.occs.max() < 0.01


def test_ray_aabb_and_march_skip_empty_space():
    origins = torch.tensor([[-3.0, 0.0, 0.0], [-3.0, 0.8, 0.0], [-3.0, 3.0, 0.0]])
    directions = torch.tensor([[1.0, 0.0, 0.0]] * 3)
    t_min, t_max = ray_aabb_intersect(origins, directions, AABB)
    torch.testing.assert_close(t_min[:2], torch.tensor([2.0, 2.0]))
    torch.testing.assert_close(t_max[:2], torch.tensor([4.0, 4.0]))
    assert t_min[2] >= t_max[2]  # misses the box
    grid = OccupancyGrid(AABB, resolution=16)
    grid.update(sphere_density, step_size=0.01, all_cells=True)
    near, far = torch.zeros(3, 1), torch.full((3, 1), 10.0)
    ray_indices, t_starts, t_ends = march(origins, directions, near, far, AABB, grid.occupied, 0.05, jitter=False)
    # Ray 0 crosses the sphere (x in [-0.5, 0.5], t in [2.5, 3.5], give or take a cell); ray 1
    # passes outside it and ray 2 outside the box: no samples for either.
    assert set(ray_indices.tolist()) == {0}
    assert t_starts.min() > 2.5 - 0.2 and t_ends.max() < 3.5 + 0.2
    torch.testing.assert_close(t_ends - t_starts, torch.full_like(t_starts, 0.05))
    assert torch.all(t_starts[1:] > t_starts[:-1])
    # An all-occupied grid samples the whole chord in the box.
    full = torch.ones(16**3, dtype=torch.bool)
    r, t0, t1 = march(origins, directions, near, far, AABB, full, 0.05, jitter=False)
    assert (r == 0).sum() == 40 and (r == 1).sum() == 40 and (r == 2).sum() == 0


def test_grid_state_round_trips_through_state_dict():
    grid = OccupancyGrid(AABB, resolution=8)
    grid.update(sphere_density, step_size=0.01, all_cells=True)
    other = OccupancyGrid(AABB, resolution=8)
    other.load_state_dict(grid.state_dict())
    assert torch.equal(other.occupied, grid.occupied) and torch.equal(other.occs, grid.occs)
    assert not other.occupied.all()


def test_occupancy_sampler_early_termination_stops_at_the_surface():
    sampler = OccupancySampler(AABB, resolution=16, step_size=0.02, early_stop_eps=1e-4)
    sampler.update_grid(sphere_density, all_cells=True)
    sampler.eval()
    rays = bundle(torch.tensor([[-3.0, 0.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0]]))
    r, t0, t1, marched = sampler(rays, sphere_density)
    # sigma 100 over 0.02: each bin inside keeps exp(-2) of the light, so ~5 bins after the surface.
    assert 0 < len(r) < 10 < marched.item()
    assert t0.min() <= 2.5 + 1e-5 and 2.5 < t1.max() < 2.5 + 0.02 * 8


# proposal sampler ------------------------------------------------------------------------------------
class SlabDensity(torch.nn.Module):
    """Density 50 where x in [0.2, 0.4], else 0."""

    def density(self, positions):
        x = positions[..., :1]
        return torch.where((x > 0.2) & (x < 0.4), 50.0, 0.0)


def test_proposal_sampler_sorted_and_concentrated_where_density_is():
    sampler = ProposalSampler([SlabDensity()], num_samples=[64], num_nerf_samples=32)
    sampler.train()
    origins = torch.tensor([[-3.0, 0.0, 0.0]] * 4)
    directions = torch.tensor([[1.0, 0.0, 0.0]] * 4)
    t, levels = sampler(bundle(origins, directions, near=2.0, far=6.0))
    assert t.shape == (4, 33) and len(levels) == 1 and levels[0][0].shape == (4, 65)
    assert torch.all(t[:, 1:] >= t[:, :-1])
    inside = ((t > 3.2 - 0.07) & (t < 3.4 + 0.07)).float().mean()
    assert inside > 0.9  # the slab is 5 % of [2, 6]; the resampled bins sit on it


def test_fields_of_every_kind_give_density_and_colour():
    for kind in ("pe", "fourier", "siren"):
        f = make_nerf_field(kind, AABB, num_layers=3, width=32, skip_connections=(2,), color_width=16)
        sigma, feature = f.density_and_feature(torch.rand(10, 3))
        rgb = f.color(feature, torch.nn.functional.normalize(torch.randn(10, 3), dim=-1))
        assert sigma.shape == (10, 1) and (sigma >= 0).all() and rgb.shape == (10, 3)
        torch.testing.assert_close(f.density(torch.zeros(2, 3)), f.density_and_feature(torch.zeros(2, 3))[0])
    with pytest.raises(ValueError, match="unknown field"):
        make_nerf_field("hash", AABB, num_layers=2, width=8)  # type: ignore[arg-type]
