"""The three samplers behind one interface, on analytic fields with closed-form renderings, and
the NeRF field of every kind."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from vanilla_nerf_pe.core import stepfun
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.nerf.field import NeRFField
from vanilla_nerf_pe.nerf.losses import distortion_loss
from vanilla_nerf_pe.nerf.model import nerf_network
from vanilla_nerf_pe.nerf.samplers import (
    HierarchicalSampler,
    HierarchicalSamplerConfig,
    OccupancySampler,
    OccupancySamplerConfig,
    ProposalSampler,
    ProposalSamplerConfig,
    render_bins,
)
from vanilla_nerf_pe.nerf.spaces import BoundedSpace

AABB = torch.tensor([[-1.0] * 3, [1.0] * 3])
SLAB = (0.2, 0.6)  # x range of the slab
SIGMA = 5.0
COLOUR = torch.tensor([0.9, 0.3, 0.1])


class SlabField(torch.nn.Module):
    """Density SIGMA and colour COLOUR where SLAB[0] < x < SLAB[1], empty elsewhere (the NeRFField interface)."""

    evaluations = 0
    """positions evaluated so far (density or density_and_feature)."""

    def density(self, positions):
        self.evaluations += positions[..., 0].numel()
        x = positions[..., :1]
        return torch.where((x > SLAB[0]) & (x < SLAB[1]), SIGMA, 0.0)

    def density_and_feature(self, positions):
        return self.density(positions), torch.zeros(*positions.shape[:-1], 1)


    def color(self, feature, directions):
        return COLOUR.expand(*feature.shape[:-1], 3)


SPACE = BoundedSpace(AABB, (2.0, 6.0))  # unit coordinates are world coordinates


def bundle(n=4):
    origins = torch.tensor([[-3.0, 0.1, -0.2]]).repeat(n, 1)
    directions = torch.tensor([[1.0, 0.0, 0.0]]).repeat(n, 1)
    return SPACE.rays(origins, directions)


def endpoints(samples):
    return torch.cat([samples.t_starts, samples.t_ends[..., -1:]], dim=-1)


def slab_closed_form():
    """Accumulation, depth and colour (on white) of a ray through the slab: entry t0 = 3.2, length L = 0.4."""
    t0, length = 3.0 + SLAB[0], SLAB[1] - SLAB[0]
    acc = 1 - math.exp(-SIGMA * length)
    depth = t0 + 1 / SIGMA - length * math.exp(-SIGMA * length) / acc  # E[t | the ray ends in the slab]
    return acc, depth, acc * COLOUR + (1 - acc) * torch.ones(3)


def make_sampler(kind):
    slab = SlabField()
    if kind == "hierarchical":
        return HierarchicalSampler(HierarchicalSamplerConfig(num_coarse_samples=128, num_importance_samples=256), slab)  # type: ignore[arg-type]
    if kind == "proposal":
        return ProposalSampler(ProposalSamplerConfig(num_proposal_samples_per_ray=(256,), num_nerf_samples_per_ray=256), [slab])  # type: ignore[list-item]
    sampler = OccupancySampler(OccupancySamplerConfig(grid_resolution=32, render_step_size=0.002, early_stop_eps=0.0))
    for _ in range(16):  # each update probes one random point per cell: the cells at the faces need a few
        sampler.update_grid(slab, SPACE, step=0)  # type: ignore[arg-type]
    return sampler


@pytest.mark.parametrize("kind", ["hierarchical", "proposal", "occupancy"])
def test_analytic_slab_through_every_sampler_matches_the_closed_form(kind):
    sampler = make_sampler(kind).eval()
    rays = bundle()
    samples = sampler(rays, SlabField(), torch.ones(3))  # type: ignore[arg-type]
    out = render_bins(SlabField(), rays, samples.t_starts, samples.t_ends, samples.far, torch.ones(3), samples.ray_indices)  # type: ignore[arg-type]
    acc, depth, rgb = slab_closed_form()
    # Tolerances: the bins that straddle the slab's faces (a resampled bin can be wide there).
    torch.testing.assert_close(out["accumulation"], torch.full((4, 1), acc), atol=1e-2, rtol=0)
    torch.testing.assert_close(out["depth"], torch.full((4, 1), depth), atol=2e-2, rtol=0)
    torch.testing.assert_close(out["rgb"], rgb.expand(4, 3), atol=1e-2, rtol=0)


@pytest.mark.parametrize("kind, early_stop_eps", [("hierarchical", 0.0), ("proposal", 0.0), ("occupancy", 0.0), ("occupancy", 1e-4)])
def test_the_samplers_count_the_bins_they_render_and_the_evaluations_they_cost(kind, early_stop_eps):
    """num_samples is the bins of the final rendering (what samples_per_ray compares across
    samplers); evaluations_per_ray is every field evaluation of the step, counted by the fields."""
    sampler = make_sampler(kind).eval()
    if kind == "occupancy":
        sampler.config.early_stop_eps = early_stop_eps
    counted = [m for m in sampler.modules() if isinstance(m, SlabField)]
    field = SlabField()
    for network in counted:
        network.evaluations = 0
    samples = sampler(bundle(), field, torch.ones(3))  # type: ignore[arg-type]
    render_bins(field, bundle(), samples.t_starts, samples.t_ends, samples.far, torch.ones(3), samples.ray_indices,  # type: ignore[arg-type]
                samples.density_and_feature)
    bins = samples.t_starts.shape[-1] * torch.ones(4) if samples.ray_indices is None else torch.bincount(samples.ray_indices, minlength=4)
    torch.testing.assert_close(samples.stats["num_samples"][:, 0], bins.float())
    evaluations = field.evaluations + sum(m.evaluations for m in counted)
    assert float(samples.stats["evaluations_per_ray"].sum()) == evaluations


def test_hierarchical_fine_pass_sees_coarse_plus_importance_bins_and_renders_a_coarse_pass():
    # one fixed draw of the jitter: a bin straddling a slab face moves the coarse estimate by up to
    # about sigma x the bin width (0.16), so an unseeded draw can land past the tolerance
    torch.manual_seed(0)
    sampler = make_sampler("hierarchical").train()
    samples = sampler(bundle(), SlabField(), torch.ones(3))  # type: ignore[arg-type]
    assert samples.t_starts.shape == (4, 128 + 256) and set(samples.passes) == {"coarse"}
    assert torch.all(samples.t_starts[:, 1:] >= samples.t_starts[:, :-1])
    acc, _, _ = slab_closed_form()
    torch.testing.assert_close(samples.passes["coarse"]["accumulation"], torch.full((4, 1), acc), atol=2e-2, rtol=0)


def test_proposal_bins_concentrate_on_the_slab_and_levels_feed_the_interlevel_loss():
    sampler = ProposalSampler(ProposalSamplerConfig(num_proposal_samples_per_ray=(64,), num_nerf_samples_per_ray=32), [SlabField()]).train()  # type: ignore[list-item]
    samples = sampler(bundle(), SlabField(), None)  # type: ignore[arg-type]
    t = endpoints(samples)
    assert t.shape == (4, 33) and len(samples.levels) == 1 and samples.levels[0][0].shape == (4, 65)
    inside = ((t > 3.2 - 0.07) & (t < 3.6 + 0.07)).float().mean()
    assert inside > 0.9  # the slab is a tenth of [2, 6]; the resampled bins sit on it
    torch.testing.assert_close(samples.s, (t - 2.0) / 4.0)  # the bins in s, for the losses
    w = torch.rand(4, 32)
    assert set(sampler.losses(samples, samples.s, w)) == {"interlevel_loss"}


def test_occupancy_sampler_skips_empty_space_and_stops_early():
    torch.manual_seed(0)
    sampler = OccupancySampler(OccupancySamplerConfig(grid_resolution=32, render_step_size=0.01, early_stop_eps=1e-2))
    for _ in range(16):  # one random point per cell and update: the cells at the slab's faces need a few
        sampler.update_grid(SlabField(), SPACE, step=0)  # type: ignore[arg-type]
    sampler.eval()
    samples = sampler(bundle(1), SlabField(), torch.ones(3))  # type: ignore[arg-type]
    # Marched: only the occupied cells around the slab (about 0.4 units of the 2-unit chord);
    # rendered: those in front of the point where the transmittance falls below 1e-2 (ln 100 / 5 = 0.92 > 0.4: all).
    assert 40 <= samples.stats["marched_per_ray"].item() < 60
    assert samples.t_starts.min() >= 3.2 - 2 * 2.0 / 32 and samples.t_ends.max() <= 3.6 + 2 * 2.0 / 32
    dense = OccupancySampler(OccupancySamplerConfig(grid_resolution=32, render_step_size=0.01, early_stop_eps=0.5))
    for _ in range(16):
        dense.update_grid(SlabField(), SPACE, step=0)  # type: ignore[arg-type]
    early = dense.eval()(bundle(1), SlabField(), torch.ones(3))  # type: ignore[arg-type]
    assert early.stats["num_samples"].item() < samples.stats["num_samples"].item()  # transmittance 0.5 after ln 2 / 5 = 0.14


def test_dense_and_occupancy_rendering_of_the_same_field_agree():
    """A NeRF field (random weights) rendered with 2048 stratified bins and with the occupancy
    sampler (all cells occupied at first, 0.004 steps): the same integral."""
    torch.manual_seed(0)
    field = NeRFField(dataclasses.replace(nerf_network(), num_layers=2, width=32, pe_num_frequencies=2), color_width=16, density_bias=-1.0)
    g = torch.Generator().manual_seed(2)
    origins = torch.nn.functional.normalize(torch.randn(32, 3, generator=g), dim=-1) * 3.0
    directions = torch.nn.functional.normalize(-origins + 0.3 * torch.randn(32, 3, generator=g), dim=-1)
    rays = BoundedSpace(AABB, (1.0, 5.0)).rays(origins, directions)
    white = torch.ones(3)
    with torch.no_grad():
        t = stepfun.stratified_t(rays.near, rays.far, 2048, jitter=False)
        dense = render_bins(field, rays, t[:, :-1], t[:, 1:], rays.far, white)
        sampler = OccupancySampler(OccupancySamplerConfig(grid_resolution=16, render_step_size=0.004, early_stop_eps=1e-4)).eval()
        samples = sampler(rays, field, white)
        packed = render_bins(field, rays, samples.t_starts, samples.t_ends, samples.far, white, samples.ray_indices)
    assert 0.05 < dense["accumulation"].mean() < 0.95  # neither empty nor opaque
    torch.testing.assert_close(packed["accumulation"], dense["accumulation"], atol=5e-3, rtol=0)
    torch.testing.assert_close(packed["rgb"], dense["rgb"], atol=5e-3, rtol=0)


def test_occupancy_sampler_hands_over_the_bins_it_evaluated_for_early_termination():
    """The early-termination pass evaluates the field on every marched bin; the kept bins' density
    and feature go to the rendering with their gradient: the same rendering and the same weight
    gradients as evaluating the field again on the kept bins."""
    torch.manual_seed(0)
    field = NeRFField(dataclasses.replace(nerf_network(), num_layers=2, width=32, pe_num_frequencies=2), color_width=16, density_bias=2.0)
    g = torch.Generator().manual_seed(3)
    origins = torch.nn.functional.normalize(torch.randn(16, 3, generator=g), dim=-1) * 3.0
    rays = BoundedSpace(AABB, (1.0, 5.0)).rays(origins, torch.nn.functional.normalize(-origins, dim=-1))
    sampler = OccupancySampler(OccupancySamplerConfig(grid_resolution=8, render_step_size=0.02, early_stop_eps=1e-2)).train()
    torch.manual_seed(1)
    samples = sampler(rays, field, torch.ones(3))
    assert samples.density_and_feature is not None
    assert (samples.stats["num_samples"] < samples.stats["evaluations_per_ray"]).any()  # some rays stopped early
    renders = []
    for evaluated in (samples.density_and_feature, None):
        field.zero_grad()
        args = (field, rays, samples.t_starts, samples.t_ends, samples.far, torch.ones(3), samples.ray_indices, evaluated)
        out = render_bins(*args)
        out["rgb"].square().sum().backward(retain_graph=evaluated is not None)
        renders.append((out["rgb"].detach(), [p.grad.clone() for p in field.parameters()]))
    torch.testing.assert_close(renders[0][0], renders[1][0])
    for a, b in zip(renders[0][1], renders[1][1]):
        torch.testing.assert_close(a, b)


def test_distortion_loss_is_normalised_by_near_and_far():
    """mip-NeRF 360's s-space: distances / (far - near), not the first and last sampled endpoints,
    so a ray whose bins already sit on a 0.1-wide surface is not penalised 40 times over."""
    t = torch.linspace(3.3, 3.4, 11)[None]  # proposal bins concentrated on a surface
    w = torch.full((1, 10), 0.1)
    s = bundle(1).t_to_s(t)
    torch.testing.assert_close(s, (t - 2.0) / 4.0)
    # Closed form: uniform weight over an interval of length l in s has loss l / 3 (inter + intra terms).
    assert distortion_loss(s, w).item() == pytest.approx(0.1 / 4.0 / 3.0, rel=1e-3)


def test_sampler_options_are_checked_with_their_flag_names():
    with pytest.raises(InputError, match="hierarchical.num-coarse-samples"):
        HierarchicalSamplerConfig(num_coarse_samples=0).setup(lambda *a: SlabField())  # type: ignore[arg-type, return-value]
    with pytest.raises(InputError, match="occupancy.render-step-size"):
        OccupancySamplerConfig(render_step_size=0).setup(lambda *a: SlabField())  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize("kind", ["none", "pe", "fourier", "siren", "hash"])
def test_fields_of_every_kind_give_density_and_colour(kind):
    f = NeRFField(dataclasses.replace(nerf_network(), kind=kind, num_layers=3, width=32, skip_connections=(2,), fourier_num_features=8,
                                      hash_num_levels=4, hash_log2_table_size=10), color_width=16)
    sigma, feature = f.density_and_feature(torch.rand(10, 3) - 0.5)
    rgb = f.color(feature, torch.nn.functional.normalize(torch.randn(10, 3), dim=-1))
    assert sigma.shape == (10, 1) and (sigma >= 0).all() and rgb.shape == (10, 3)
    torch.testing.assert_close(f.density(torch.zeros(2, 3)), f.density_and_feature(torch.zeros(2, 3))[0])
    proposal = NeRFField(dataclasses.replace(nerf_network(), kind=kind, num_layers=2, width=8), color_width=None)
    with pytest.raises(InputError, match="without a colour branch"):
        proposal.color(torch.zeros(1, 8), torch.zeros(1, 3))


def test_the_compiled_field_agrees_with_the_plain_one_forward_and_backward():
    """compile_field's path (torch.compile with dynamic shapes; here the aot_eager backend, which
    traces the same graph without generating code, so the test stays fast on a CPU) gives the plain
    field's density, feature, colour and gradients, across batch sizes, with the same state dict."""
    torch.manual_seed(0)
    plain = NeRFField(dataclasses.replace(nerf_network(), num_layers=3, width=32, skip_connections=(2,), pe_num_frequencies=4), color_width=16)
    compiled = NeRFField(dataclasses.replace(nerf_network(), num_layers=3, width=32, skip_connections=(2,), pe_num_frequencies=4), color_width=16)
    compiled.load_state_dict(plain.state_dict())
    compiled.compile_networks(backend="aot_eager")
    assert list(compiled.state_dict()) == list(plain.state_dict())
    for n in (37, 200, 1000):
        x = torch.rand(n, 3) * 2 - 1
        d = torch.nn.functional.normalize(torch.randn(n, 3), dim=-1)
        outputs = []
        for field in (plain, compiled):
            field.zero_grad()
            sigma, feature = field.density_and_feature(x)
            rgb = field.color(feature, d)
            (sigma.sum() + rgb.square().sum()).backward()
            outputs.append((sigma, rgb, [p.grad.clone() for p in field.parameters()]))
        torch.testing.assert_close(outputs[1][0], outputs[0][0])
        torch.testing.assert_close(outputs[1][1], outputs[0][1])
        for a, b in zip(outputs[1][2], outputs[0][2]):
            torch.testing.assert_close(a, b)
