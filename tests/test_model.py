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
    original = model._render

    def spy(field, bundle, t):
        seen.append(t.shape[-1] - 1)
        return original(field, bundle, t)

    monkeypatch.setattr(model, "_render", spy)
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
