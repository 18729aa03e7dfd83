"""The model on synthetic rays: output names and shapes, sample counts, determinism, losses."""

from __future__ import annotations

import pytest
import torch
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.data.scene_box import SceneBox

from vanilla_nerf_pe.model import VanillaNeRFPEModelConfig


def make_model(**overrides):
    cfg = VanillaNeRFPEModelConfig(
        num_coarse_samples=8, num_importance_samples=16, num_layers=3, hidden_dim=32, skip_connections=(2,),
        color_hidden_dim=16, **overrides,
    )
    torch.manual_seed(0)
    return cfg.setup(scene_box=SceneBox(aabb=torch.tensor([[-1.5] * 3, [1.5] * 3])), num_train_data=1)


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
    assert torch.all((out["accumulation"] >= 0) & (out["accumulation"] <= 1))
    assert torch.all((out["depth"] >= 2.0) & (out["depth"] <= 6.0))


def test_fine_pass_sees_coarse_plus_importance_bins(monkeypatch):
    model = make_model()
    seen = []
    original = model._render_dense

    def spy(field, bundle, t):
        seen.append(t.shape[-1] - 1)
        return original(field, bundle, t)

    monkeypatch.setattr(model, "_render_dense", spy)
    model(rays())
    assert seen == [8, 8 + 16]


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
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert "psnr" in model.get_metrics_dict(out, batch)


def test_random_background_needs_rgba_and_blends_both_sides():
    model = make_model(background_color="random")
    out = model(rays())
    with pytest.raises(ValueError, match="alpha-color None"):
        model.get_loss_dict(out, {"image": torch.rand(64, 3)})
    rgba = torch.rand(64, 4)
    losses = model.get_loss_dict(out, {"image": rgba})
    assert all(torch.isfinite(v) for v in losses.values())


def test_no_positional_encoding_is_raw_xyz():
    model = make_model(position_frequencies=0)
    assert model.field_fine.position_encoding.get_out_dim() == 3
    assert model.field_fine.trunk.layers[0].in_features == 3


@pytest.mark.parametrize("field", ["pe", "fourier", "siren"])
@pytest.mark.parametrize("sampler", ["hierarchical", "proposal", "occupancy"])
def test_every_field_and_sampler_renders_and_trains(field, sampler):
    model = make_model(field=field, sampler=sampler, num_proposal_samples_per_ray=(16, 8), num_nerf_samples_per_ray=8,
                       fourier_features=16, grid_resolution=8, render_step_size=0.1, distortion_loss_mult=0.0 if sampler == "occupancy" else 0.01)
    out = model(rays())
    for name, dim in [("rgb", 3), ("depth", 1), ("accumulation", 1), ("num_samples", 1)]:
        assert out[name].shape == (64, dim) and torch.isfinite(out[name]).all(), name
    losses = model.get_loss_dict(out, {"image": torch.rand(64, 3)})
    expected = {"rgb_loss_fine"} | {"hierarchical": {"rgb_loss_coarse", "distortion_loss"}, "proposal": {"interlevel_loss", "distortion_loss"}, "occupancy": set()}[sampler]
    assert set(losses) == expected
    sum(losses.values()).backward()
    trained = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert any(n.startswith("field_fine.") for n in trained)
    if sampler == "proposal":
        assert any(n.startswith("sampler_proposal.networks.1.") for n in trained)
    model.eval()
    with torch.no_grad():
        out = model.get_outputs_for_camera_ray_bundle(_camera_bundle())
    assert out["rgb"].shape == (4, 4, 3) and out["rgb"].min() >= 0 and out["rgb"].max() <= 1


def _camera_bundle():
    b = rays(16)
    b.nears, b.fars = torch.full((16, 1), 2.0), torch.full((16, 1), 6.0)
    return b.reshape((4, 4))


def test_occupancy_grid_update_callback_and_checkpoint():
    model = make_model(sampler="occupancy", grid_resolution=8, grid_update_every=1, grid_warmup_steps=2)
    callbacks = model.get_training_callbacks(None)  # type: ignore[arg-type]
    (grid_update,) = [cb for cb in callbacks if cb.update_every_num_iters == 1]  # the others: the training guard's
    before = model.sampler_occupancy.grid.occs.clone()
    grid_update.run_callback_at_location(0, grid_update.where_to_run[0])
    assert not torch.equal(before, model.sampler_occupancy.grid.occs)
    fresh = make_model(sampler="occupancy", grid_resolution=8)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.sampler_occupancy.grid.occupied, model.sampler_occupancy.grid.occupied)


def test_fourier_matrix_is_part_of_the_checkpoint():
    model = make_model(field="fourier", fourier_features=16, fourier_seed=3)
    other = make_model(field="fourier", fourier_features=16, fourier_seed=4)
    key = "field_fine.position_encoding.B"
    assert key in model.state_dict() and not torch.equal(model.state_dict()[key], other.state_dict()[key])
    other.load_state_dict(model.state_dict())
    torch.testing.assert_close(other.field_fine.position_encoding.B, model.field_fine.position_encoding.B)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"field": "hash"}, "field 'hash': choose one of pe, fourier, siren"),
        ({"sampler": "grid"}, "sampler 'grid': choose one of hierarchical, proposal, occupancy"),
        ({"sampler": "occupancy", "background_color": "last_sample"}, "occupancy sampler"),
        ({"sampler": "occupancy", "distortion_loss_mult": 0.1}, "distortion-loss-mult"),
        ({"sampler": "proposal", "num_proposal_samples_per_ray": ()}, "at least one entry"),
        ({"precision": "float16"}, "precision 'float16': choose one of float32, bfloat16, auto"),
        ({"field": "siren", "precision": "bfloat16"}, "does not suit SIREN"),
    ],
)
def test_invalid_combinations_fail_at_construction(overrides, message):
    from dataclasses import replace

    from vanilla_nerf_pe.errors import InputError

    with pytest.raises(ValueError, match=message):  # the config's own check, for library callers
        replace(VanillaNeRFPEModelConfig(), **overrides).check()
    with pytest.raises(InputError, match=message):  # under ns-train: one line, no traceback
        make_model(**overrides)


@pytest.mark.parametrize("background, expected_alpha", [("white", None), ("black", None), ("random", None), ("last_sample", 1.0)])
def test_rgba_image_separates_the_background(background, expected_alpha):
    """ns-export's input: a pixel of colour c seen with opacity a over background b has rgb = a c + (1 - a) b;
    get_rgba_image returns (c, a) (for "random" the rgb output has no background: rgb = a c)."""
    model = make_model(background_color=background)
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
    from vanilla_nerf_pe import fields

    monkeypatch.setattr(fields, "cpu_has_native_bfloat16", lambda: native)
    assert fields.resolve_precision(precision, sine, torch.device(device)) == expected
    with pytest.raises(ValueError, match="precision must be one of"):
        fields.resolve_precision("float16", sine, torch.device(device))  # type: ignore[arg-type]


def test_siren_field_refuses_bfloat16_but_auto_keeps_it_float32(monkeypatch):
    from vanilla_nerf_pe import fields

    aabb = torch.tensor([[-1.5] * 3, [1.5] * 3])
    with pytest.raises(ValueError, match="SIREN trunk in bfloat16"):
        fields.make_nerf_field("siren", aabb, num_layers=2, width=8, precision="bfloat16")
    monkeypatch.setattr(fields, "cpu_has_native_bfloat16", lambda: True)
    assert fields.make_nerf_field("siren", aabb, num_layers=2, width=8, precision="auto").compute_dtype(torch.device("cpu")) == torch.float32
    assert fields.make_nerf_field("fourier", aabb, num_layers=2, width=8, precision="auto").compute_dtype(torch.device("cpu")) == torch.bfloat16


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
    sigma, feature = mixed.field_fine.density_and_feature(torch.rand(32, 3) - 0.5)
    assert sigma.dtype == feature.dtype == torch.float32
    (sigma.sum() + mixed.field_fine.color(feature, torch.nn.functional.normalize(torch.randn(32, 3), dim=-1)).sum()).backward()
    grads = [p.grad for p in mixed.field_fine.parameters()]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # e.g. nerfstudio's --mixed-precision
        assert reference.field_fine._trunk(torch.rand(4, 3)).dtype == torch.bfloat16


def test_bfloat16_row_buckets_are_invisible(monkeypatch):
    """On a CPU the bfloat16 field pads its rows to a multiple of ROW_BUCKET: values and gradients
    (weights and positions) for a [3, 37, 3] batch equal those without buckets (ROW_BUCKET = 1)."""
    from vanilla_nerf_pe import fields

    field = make_model(sampler="occupancy", precision="bfloat16").field_fine
    g = torch.Generator().manual_seed(3)
    positions = torch.rand(3, 37, 3, generator=g) - 0.5
    directions = torch.nn.functional.normalize(torch.randn(3, 37, 3, generator=g), dim=-1)

    def run(bucket: int):
        monkeypatch.setattr(fields, "ROW_BUCKET", bucket)
        field.zero_grad()
        x = positions.clone().requires_grad_(True)
        sigma, feature = field.density_and_feature(x)
        rgb = field.color(feature, directions)
        assert sigma.shape == (3, 37, 1) and rgb.shape == (3, 37, 3) and field.density(x).shape == (3, 37, 1)
        (sigma.square().sum() + rgb.sum()).backward()
        return [sigma, rgb, x.grad] + [p.grad.clone() for p in field.parameters()]

    bucketed, plain = run(1024), run(1)
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(bucketed, plain))
    assert fields.pad_rows(torch.ones(5, 2), 4).shape == (8, 2) and fields.pad_rows(torch.ones(8, 2), 4).shape == (8, 2)
    assert fields.pad_rows(torch.ones(5, 2), 4)[5:].eq(0).all()
