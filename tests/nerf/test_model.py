"""The model on synthetic rays: output names and shapes, sample counts, determinism, losses, the
background in one place, options, precision."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.data.scene_box import SceneBox

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.nerf.model import VanillaNeRFPEModelConfig, nerf_network
from vanilla_nerf_pe.nerf.samplers import HierarchicalSamplerConfig, OccupancySamplerConfig, ProposalSamplerConfig

AABB = torch.tensor([[-1.5] * 3, [1.5] * 3])


def make_config(network=None, **overrides) -> VanillaNeRFPEModelConfig:
    net = dataclasses.replace(nerf_network(), **{"num_layers": 3, "width": 32, "skip_connections": (2,), **(network or {})})
    overrides.setdefault("hierarchical", HierarchicalSamplerConfig(num_coarse_samples=8, num_importance_samples=16))
    overrides.setdefault("collider_params", {"near_plane": 2.0, "far_plane": 6.0})  # no cameras to derive them from
    return VanillaNeRFPEModelConfig(network=net, color_width=16, **overrides)


def make_model(network=None, **overrides):
    torch.manual_seed(0)
    return make_config(network, **overrides).setup(scene_box=SceneBox(aabb=AABB), num_train_data=1)


def rays(n=64):
    g = torch.Generator().manual_seed(1)
    origins = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1) * 4.0
    directions = torch.nn.functional.normalize(-origins + 0.3 * torch.randn(n, 3, generator=g), dim=-1)
    return RayBundle(origins=origins, directions=directions, pixel_area=torch.ones(n, 1), camera_indices=torch.zeros(n, 1, dtype=torch.long))


def test_outputs_names_and_shapes():
    model = make_model()
    out = model(rays())
    for name, dim in [("rgb", 3), ("depth", 1), ("accumulation", 1), ("rgb_coarse", 3), ("depth_coarse", 1), ("accumulation_coarse", 1)]:
        assert out[name].shape == (64, dim), name
        assert torch.isfinite(out[name]).all()
    assert out["samples"].t_starts.shape == (64, 8 + 16)  # the fine pass sees coarse + importance bins
    assert torch.all(out["num_samples"] == 8 + 16)  # the bins rendered, as the other samplers count
    assert torch.all(out["samples"].stats["evaluations_per_ray"] == 8 + 8 + 16)  # the coarse field's too


def test_eval_is_deterministic_and_training_is_jittered():
    model = make_model()
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(rays())["rgb"], model(rays())["rgb"])
    model.train()
    assert not torch.equal(model(rays())["depth_coarse"], model(rays())["depth_coarse"])


def test_losses_and_gradients():
    model = make_model()
    out = model(rays())
    batch = {"image": torch.rand(64, 3)}
    losses = model.get_loss_dict(out, batch)
    assert set(losses) == {"rgb_loss_fine", "rgb_loss_coarse"}
    torch.testing.assert_close(losses["rgb_loss_fine"], torch.mean((out["rgb"] - batch["image"]) ** 2))
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert "psnr" in model.get_metrics_dict(out, batch)


def test_random_background_needs_rgba_and_blends_rendering_and_target_alike():
    """Training on "random": the rendering is rgb = sum w c + (1 - acc) b and the RGBA target is
    composited on the very same b, so an empty pixel (alpha 0) is matched exactly by an empty ray."""
    model = make_model(background_color="random")
    out = model(rays())
    with pytest.raises(InputError, match="alpha-color None"):
        model.get_loss_dict(out, {"image": torch.rand(64, 3)})
    background = out["background"]
    assert background.shape == (64, 3) and background.std() > 0.1  # random per ray
    target = model.target_rgb(torch.cat([torch.rand(64, 3), torch.zeros(64, 1)], dim=-1), background)
    torch.testing.assert_close(target, background)  # alpha 0: the target is the background itself
    fine = torch.nn.functional.mse_loss(out["rgb"], target)
    losses = model.get_loss_dict(out, {"image": torch.cat([torch.rand(64, 3), torch.zeros(64, 1)], dim=-1)})
    torch.testing.assert_close(losses["rgb_loss_fine"], fine)
    # The rendering itself carries the background where it is not opaque.
    model.eval()
    with torch.no_grad():
        black = model(rays())  # "random" evaluates on black
    model.config.background_color = "white"
    with torch.no_grad():
        white = model(rays())
    torch.testing.assert_close(white["rgb"] - black["rgb"], (1 - black["accumulation"]).expand(-1, 3), atol=1e-5, rtol=0)


def make_model_with_metadata(metadata, **overrides):
    torch.manual_seed(0)
    return make_config(**overrides).setup(scene_box=SceneBox(aabb=AABB), num_train_data=1, metadata=metadata)


def test_random_background_in_training_only_with_alpha_and_white_in_evaluation():
    """random_background_in_training: with RGBA training images a random colour per training ray
    (the target composited on the same), white in evaluation (the bounded scene's auto), and the
    RGBA test image composited on white for the metrics; without alpha it changes nothing."""
    model = make_model_with_metadata({"images_have_alpha": True}, random_background_in_training=True)
    out = model(rays())
    background = out["background"]
    assert isinstance(background, torch.Tensor) and background.shape == (64, 3) and background.std() > 0.1
    empty = torch.cat([torch.rand(64, 3), torch.zeros(64, 1)], dim=-1)
    torch.testing.assert_close(model.target_rgb(empty, background), background)
    losses = model.get_loss_dict(out, {"image": empty})
    torch.testing.assert_close(losses["rgb_loss_fine"], torch.nn.functional.mse_loss(out["rgb"], background))
    model.eval()
    with torch.no_grad():
        evaluated = model(rays())
    assert model.background((64,), evaluated["rgb"]).eq(1.0).all()  # white outside training
    torch.testing.assert_close(model.target_rgb(empty), torch.ones(64, 3))  # the metrics' target on white

    rgb_only = make_model_with_metadata({"images_have_alpha": False}, random_background_in_training=True)
    assert rgb_only.background((64,), evaluated["rgb"]).eq(1.0).all()  # training, but no alpha: white


def test_background_override_of_nerfstudio_is_honoured():
    """nerfstudio's viewer and ns-render set the background through background_color_override_context."""
    from nerfstudio.model_components.renderers import background_color_override_context

    model = make_model(background_color="white")
    model.eval()
    with torch.no_grad():
        white = model(rays())
        with background_color_override_context(torch.tensor([0.0, 1.0, 0.0])):
            green = model(rays())
    expected = white["rgb"] - (1 - white["accumulation"]) * torch.tensor([1.0, 0.0, 1.0])  # white -> green
    torch.testing.assert_close(green["rgb"], expected.clamp(0, 1), atol=3e-3, rtol=0)
    assert not torch.allclose(green["rgb"], white["rgb"])


def test_none_kind_is_raw_xyz():
    model = make_model(network={"kind": "none"})
    assert model.field.network.encoding.get_out_dim() == 3
    assert model.field.network.mlp.layers[0].in_features == 3


def test_space_outside_the_scene_box_is_empty():
    """The periodic encoding would give a point outside the box the features of one inside it."""
    field = make_model().field
    inside = torch.tensor([[0.0, 0.2, -0.77]])  # unit coordinates (the box scaled to [-1, 1]^3)
    outside = inside + torch.tensor([[0.0, 0.0, 2.0]])  # period 2 of the encoding
    with torch.no_grad():
        assert float(field.density(inside)) > 0
        assert float(field.density(outside)) == 0.0


@pytest.mark.parametrize("kind", ["pe", "fourier", "siren", "hash", "none"])
@pytest.mark.parametrize("sampler", ["hierarchical", "proposal", "occupancy"])
def test_every_field_and_sampler_renders_and_trains(kind, sampler):
    model = make_model(
        network={"kind": kind, "fourier_num_features": 16, "hash_num_levels": 4, "hash_log2_table_size": 10},
        sampler=sampler,
        proposal=ProposalSamplerConfig(num_proposal_samples_per_ray=(16, 8), num_nerf_samples_per_ray=8),
        occupancy=OccupancySamplerConfig(grid_resolution=8, render_step_size=0.1),
        distortion_loss_mult=0.0 if sampler == "occupancy" else 0.01,
    )
    out = model(rays())
    for name, dim in [("rgb", 3), ("depth", 1), ("accumulation", 1), ("num_samples", 1)]:
        assert out[name].shape == (64, dim) and torch.isfinite(out[name]).all(), name
    losses = model.get_loss_dict(out, {"image": torch.rand(64, 3)})
    expected = {"rgb_loss_fine"} | {"hierarchical": {"rgb_loss_coarse", "distortion_loss"}, "proposal": {"interlevel_loss", "distortion_loss"}, "occupancy": set()}[sampler]
    assert set(losses) == expected
    sum(losses.values()).backward()
    trained = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert any(n.startswith("field.") for n in trained)
    if sampler == "proposal":  # every proposal network is in the interlevel loss's graph (its gradient may be 0
        # where its histogram already bounds the NeRF's weights)
        assert all(p.grad is not None for n, p in model.named_parameters() if n.startswith("sampler.networks."))
    if sampler == "hierarchical":
        assert any(n.startswith("sampler.coarse_field.") for n in trained)
    metrics = model.get_metrics_dict(out, {"image": torch.rand(64, 3)})
    assert metrics["evaluations_per_ray"] >= metrics["samples_per_ray"] > 0
    model.eval()
    with torch.no_grad():
        out = model.get_outputs_for_camera_ray_bundle(_camera_bundle())
    assert out["rgb"].shape == (4, 4, 3)


def _camera_bundle():
    b = rays(16)
    b.nears, b.fars = torch.full((16, 1), 2.0), torch.full((16, 1), 6.0)
    return b.reshape((4, 4))


def test_occupancy_grid_update_callback_and_checkpoint():
    model = make_model(sampler="occupancy", occupancy=OccupancySamplerConfig(grid_resolution=8, grid_update_every=1, grid_warmup_steps=2))
    callbacks = model.get_training_callbacks(None)  # type: ignore[arg-type]
    (grid_update,) = [cb for cb in callbacks if cb.update_every_num_iters == 1]  # the others: the training guard's
    before = model.sampler.grid.occs.clone()
    grid_update.run_callback_at_location(0, grid_update.where_to_run[0])
    assert not torch.equal(before, model.sampler.grid.occs)
    fresh = make_model(sampler="occupancy", occupancy=OccupancySamplerConfig(grid_resolution=8))
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.sampler.grid.occupied, model.sampler.grid.occupied)


def test_fourier_matrix_is_part_of_the_checkpoint():
    model = make_model(network={"kind": "fourier", "fourier_num_features": 16, "fourier_seed": 3})
    other = make_model(network={"kind": "fourier", "fourier_num_features": 16, "fourier_seed": 4})
    key = "field.network.encoding.B"
    assert key in model.state_dict() and not torch.equal(model.state_dict()[key], other.state_dict()[key])
    other.load_state_dict(model.state_dict())
    torch.testing.assert_close(other.field.network.encoding.B, model.field.network.encoding.B)


def test_hash_field_trains_its_float32_tables_and_round_trips_a_checkpoint(tmp_path):
    """The hash grid as a NeRF field (Müller et al. 2022): under bfloat16 MLPs its tables stay
    float32 and get gradients on the rows the samples touch; a weights_only checkpoint restores it."""
    hash_network = {"kind": "hash", "num_layers": 1, "width": 32, "skip_connections": (), "hash_num_levels": 4, "hash_log2_table_size": 10}
    model = make_model(hash_network, sampler="occupancy", precision="bfloat16",
                       occupancy=OccupancySamplerConfig(grid_resolution=8, render_step_size=0.1))
    out = model(rays())
    sum(model.get_loss_dict(out, {"image": torch.rand(64, 3)}).values()).backward()
    tables = model.field.network.encoding.tables
    assert all(t.dtype == torch.float32 for t in tables)
    assert all(float(t.grad.abs().sum()) > 0 for t in tables)
    model.zero_grad()
    model.field.density(torch.tensor([[0.13, -0.42, 0.71]])).sum().backward()
    # One point reads the 2^3 vertices of its cell on each level: at most 8 rows get a gradient.
    assert all(1 <= int((t.grad.abs().sum(-1) > 0).sum()) <= 8 for t in tables)
    torch.save(model.state_dict(), tmp_path / "ckpt.pt")
    fresh = make_model(dict(hash_network), sampler="occupancy", precision="bfloat16",
                       occupancy=OccupancySamplerConfig(grid_resolution=8, render_step_size=0.1))
    fresh.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=True))
    x = torch.rand(32, 3) * 2 - 1
    torch.testing.assert_close(fresh.field.density(x), model.field.density(x))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"network": {"kind": "grid"}}, "network.kind 'grid': choose one of none, pe, fourier, siren, hash"),
        ({"sampler": "grid"}, "sampler 'grid': choose one of hierarchical, proposal, occupancy"),
        ({"scene": "spherical"}, "scene 'spherical': choose one of auto, bounded, forward-facing, unbounded"),
        ({"sampler": "occupancy", "distortion_loss_mult": 0.1}, "distortion-loss-mult"),
        ({"sampler": "proposal", "proposal": ProposalSamplerConfig(num_proposal_samples_per_ray=())}, "at least one entry"),
        ({"precision": "float16"}, "precision 'float16': choose one of float32, bfloat16, auto"),
        ({"network": {"kind": "siren"}, "precision": "bfloat16"}, "does not suit SIREN"),
        ({"background_color": "grey"}, "background-color 'grey'"),
    ],
)
def test_invalid_combinations_fail_at_construction(overrides, message):
    with pytest.raises(InputError, match=message):
        network = overrides.pop("network", None)
        make_model(network, **overrides)
    assert issubclass(InputError, Exception) and not issubclass(InputError, SystemExit)


@pytest.mark.parametrize("background, expected_alpha", [("white", None), ("black", None), ("random", None), ("last_sample", 1.0)])
def test_rgba_image_separates_the_background(background, expected_alpha):
    """ns-export's input: a pixel of colour c seen with opacity a over background b has rgb = a c + (1 - a) b;
    get_rgba_image returns (c, a) (outside training "random" renders on black)."""
    model = make_model(background_color=background)
    model.eval()
    colour = torch.tensor([[[0.2, 0.6, 0.9]], [[1.0, 0.0, 0.5]]])  # [2, 1, 3]
    alpha = torch.tensor([[[0.5]], [[0.25]]])
    b = {"white": 1.0, "black": 0.0, "random": 0.0, "last_sample": 0.3}[background]
    outputs = {"rgb": alpha * colour + (1 - alpha) * b, "accumulation": alpha}
    rgba = model.get_rgba_image(outputs)
    assert rgba.shape == (2, 1, 4)
    if expected_alpha is None:
        assert torch.allclose(rgba[..., :3], colour, atol=1e-6) and torch.equal(rgba[..., 3:], alpha)
    else:
        assert torch.equal(rgba[..., :3], outputs["rgb"]) and torch.all(rgba[..., 3] == expected_alpha)


@pytest.mark.parametrize(
    "precision, sine, device, native, expected",
    [
        ("float32", False, "cpu", True, torch.float32),
        ("bfloat16", False, "cpu", False, torch.bfloat16),  # asked for: given, even if emulated
        ("bfloat16", False, "cuda", False, torch.bfloat16),
        ("auto", False, "cpu", True, torch.bfloat16),
        ("auto", False, "cpu", False, torch.float32),  # emulated bfloat16 is slower than float32
        ("auto", True, "cpu", True, torch.float32),  # SIREN
        ("auto", False, "cuda", True, torch.float32),
    ],
)
def test_resolve_precision(monkeypatch, precision, sine, device, native, expected):
    from vanilla_nerf_pe.core import precision as precision_module

    monkeypatch.setattr(precision_module, "cpu_has_native_bfloat16", lambda: native)
    assert precision_module.resolve_precision(precision, sine, torch.device(device)) == expected
    with pytest.raises(InputError, match="choose one of"):
        precision_module.resolve_precision("float16", sine, torch.device(device))  # type: ignore[arg-type]


def test_siren_field_refuses_bfloat16_but_auto_keeps_it_float32(monkeypatch):
    from vanilla_nerf_pe.core import precision as precision_module
    from vanilla_nerf_pe.nerf.field import NeRFField

    small = dataclasses.replace(nerf_network(), num_layers=2, width=8)
    with pytest.raises(InputError, match="does not suit SIREN"):
        NeRFField(dataclasses.replace(small, kind="siren"), precision="bfloat16")
    monkeypatch.setattr(precision_module, "cpu_has_native_bfloat16", lambda: True)
    cpu = torch.device("cpu")
    assert NeRFField(dataclasses.replace(small, kind="siren"), precision="auto").compute_dtype(cpu) == torch.float32
    assert NeRFField(dataclasses.replace(small, kind="fourier"), precision="auto").compute_dtype(cpu) == torch.bfloat16


@pytest.mark.parametrize("sampler", ["hierarchical", "occupancy"])
def test_bfloat16_fields_match_float32_and_train_float32_weights(sampler):
    """The same weights in bfloat16 autocast: float32 outputs within bfloat16's rounding of the
    float32 rendering, float32 gradients; and a float32 field leaves an outer autocast alone."""
    reference, mixed = make_model(sampler=sampler), make_model(sampler=sampler, precision="bfloat16")
    mixed.load_state_dict(reference.state_dict())
    reference.eval()
    mixed.eval()
    bundle = rays()
    with torch.no_grad():
        out32, out16 = reference(bundle), mixed(bundle)
    for key in ("rgb", "accumulation", "depth"):
        assert out16[key].dtype == torch.float32
        assert torch.allclose(out16[key], out32[key], atol=0.03), (key, (out16[key] - out32[key]).abs().max())
    assert not torch.equal(out16["rgb"], out32["rgb"])  # the products did run in bfloat16
    mixed.train()
    sigma, feature = mixed.field.density_and_feature(torch.rand(32, 3) - 0.5)
    # the density is float32; the feature, which only feeds the colour branch, stays bfloat16
    assert sigma.dtype == torch.float32 and feature.dtype == torch.bfloat16
    (sigma.sum() + mixed.field.color(feature, torch.nn.functional.normalize(torch.randn(32, 3), dim=-1)).sum()).backward()
    grads = [p.grad for p in mixed.field.parameters()]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # e.g. nerfstudio's --mixed-precision
        assert reference.field.network.mlp(torch.rand(4, reference.field.network.encoding.get_out_dim())).dtype == torch.bfloat16


def test_bfloat16_row_buckets_are_invisible(monkeypatch):
    """On a CPU the bfloat16 field pads its rows to a multiple of ROW_BUCKET: values and gradients
    (weights and positions) for a [3, 37, 3] batch equal those without buckets (ROW_BUCKET = 1)."""
    from vanilla_nerf_pe.core import precision as precision_module

    field = make_model(sampler="occupancy", precision="bfloat16").field
    g = torch.Generator().manual_seed(3)
    positions = torch.rand(3, 37, 3, generator=g) - 0.5
    directions = torch.nn.functional.normalize(torch.randn(3, 37, 3, generator=g), dim=-1)
    shapes = []
    original = precision_module.pad_rows
    monkeypatch.setattr(precision_module, "pad_rows", lambda x, m: shapes.append(original(x, m).shape[0]) or original(x, m))

    def run(bucket: int):
        monkeypatch.setattr(precision_module, "ROW_BUCKET", bucket)
        field.zero_grad()
        x = positions.clone().requires_grad_(True)
        sigma, feature = field.density_and_feature(x)
        rgb = field.color(feature, directions)
        assert sigma.shape == (3, 37, 1) and rgb.shape == (3, 37, 3) and field.density(x).shape == (3, 37, 1)
        (sigma.square().sum() + rgb.sum()).backward()
        return [sigma, rgb, x.grad] + [p.grad.clone() for p in field.parameters()]

    bucketed = run(1024)
    assert set(shapes) == {1024}  # the buckets did apply
    plain = run(1)
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(bucketed, plain))
    assert original(torch.ones(5, 2), 4).shape == (8, 2) and original(torch.ones(8, 2), 4).shape == (8, 2)
    assert original(torch.ones(5, 2), 4)[5:].eq(0).all()


def test_distortion_loss_of_the_model_uses_the_rays_near_and_far():
    """Defect found in review: the loss was normalised by each ray's first and last sampled endpoint.
    It works in s, which for a bounded scene is (t - near) / (far - near) with the ray's near and far."""
    from vanilla_nerf_pe.nerf.losses import distortion_loss

    model = make_model(sampler="proposal", distortion_loss_mult=0.5)
    bundle = rays()
    bundle.nears, bundle.fars = torch.full((64, 1), 2.0), torch.full((64, 1), 6.0)
    out = model(bundle)
    samples = out["samples"]
    losses = model.get_loss_dict(out, {"image": torch.rand(64, 3)})
    t = torch.cat([samples.t_starts, samples.t_ends[..., -1:]], dim=-1)
    near, far = samples.near, samples.far  # 2 and 6, widened where a ray's stretch in the box reaches past them
    assert (near <= 2.0).all() and (far >= 6.0).all() and (near == 2.0).any()
    torch.testing.assert_close(samples.s, (t - near) / (far - near))
    expected = 0.5 * distortion_loss(samples.s, out["weights"])
    torch.testing.assert_close(losses["distortion_loss"], expected)


def test_packed_rendering_uses_no_float64():
    """Apple's MPS has no float64: no operation of a packed (occupancy) forward pass may produce one."""
    from torch.overrides import TorchFunctionMode

    class DtypeRecorder(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.dtypes = set()

        def __torch_function__(self, func, types, args=(), kwargs=None):
            result = func(*args, **(kwargs or {}))
            for value in result if isinstance(result, (tuple, list)) else (result,):
                if isinstance(value, torch.Tensor):
                    self.dtypes.add(value.dtype)
            return result

    model = make_model(sampler="occupancy", occupancy=OccupancySamplerConfig(grid_resolution=8, render_step_size=0.05))
    with DtypeRecorder() as recorder:
        out = model(rays())
    assert out["rgb"].shape == (64, 3) and torch.float32 in recorder.dtypes
    assert torch.float64 not in recorder.dtypes
