"""Per-image appearance codes (NeRF-W) and the camera refinement (nerfacto's camera optimiser) in
our model: shapes, the average code outside training, off is the model as before, checkpoints of
tensors only, the param groups, and the pose alignment that scores refined poses."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
from nerfstudio.cameras.camera_optimizers import CameraOptimizerConfig
from nerfstudio.cameras.rays import RayBundle

from tests.nerf.test_model import AABB, make_config, make_model
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.pose_alignment import Similarity, perturb_poses, pose_errors, umeyama
from vanilla_nerf_pe.core.render import per_sample
from vanilla_nerf_pe.nerf.appearance import AffineColor, AppearanceEmbedding
from vanilla_nerf_pe.nerf.field import NeRFField
from vanilla_nerf_pe.nerf.method_configs import METHODS
from vanilla_nerf_pe.nerf.model import nerf_network

NUM_IMAGES = 5


def rays_of_images(indices, n=32) -> RayBundle:
    """The same n rays (a fixed seed), labelled as coming from the training images ``indices``."""
    g = torch.Generator().manual_seed(1)
    origins = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1) * 4.0
    directions = torch.nn.functional.normalize(-origins + 0.3 * torch.randn(n, 3, generator=g), dim=-1)
    cams = torch.as_tensor(indices, dtype=torch.long).reshape(-1, 1).expand(n, 1) if np.ndim(indices) == 0 else torch.as_tensor(indices).reshape(n, 1)
    return RayBundle(origins=origins, directions=directions, pixel_area=torch.ones(n, 1), camera_indices=cams)


def appearance_model(**overrides):
    torch.manual_seed(0)
    config = make_config(**{"appearance_embedding_dim": 4, **overrides})
    from nerfstudio.data.scene_box import SceneBox

    return config.setup(scene_box=SceneBox(aabb=AABB), num_train_data=NUM_IMAGES)


def test_embedding_shapes_and_the_average_at_eval():
    embedding = AppearanceEmbedding(NUM_IMAGES, 3)
    indices = torch.tensor([[0], [4], [2]])
    assert embedding(indices, 3, training=True).shape == (3, 3)
    torch.testing.assert_close(embedding(indices, 3, training=True), embedding.codes.weight[[0, 4, 2]])
    at_eval = embedding(None, 7, training=False)  # outside training the indices name other cameras: never read
    assert at_eval.shape == (7, 3)
    torch.testing.assert_close(at_eval, embedding.codes.weight.mean(0).expand(7, 3))
    assert torch.all(AppearanceEmbedding(NUM_IMAGES, 3, at_eval="zeros")(None, 2, training=False) == 0)
    with pytest.raises(InputError, match="image 9"):
        embedding(torch.tensor([9]), 1, training=True)
    with pytest.raises(InputError, match="appearance-at-eval"):
        AppearanceEmbedding(NUM_IMAGES, 3, at_eval="median")  # type: ignore[arg-type]
    code = torch.arange(6.0).reshape(2, 3)
    assert per_sample(code, torch.Size([2, 5]), None).shape == (2, 5, 3)
    torch.testing.assert_close(per_sample(code, torch.Size([3]), torch.tensor([1, 1, 0])), code[[1, 1, 0]])


def test_the_code_changes_the_colour_of_its_image_only():
    model = appearance_model()
    model.train()
    with torch.no_grad():
        model.appearance.codes.weight[1] += 3.0
        torch.manual_seed(5)
        image0 = model(rays_of_images(0))
        torch.manual_seed(5)  # the same jitter
        image1 = model(rays_of_images(1))
        torch.manual_seed(5)
        image0_again = model(rays_of_images(0))
    torch.testing.assert_close(image0["depth"], image1["depth"])  # the geometry does not see the code
    assert not torch.allclose(image0["rgb"], image1["rgb"])
    torch.testing.assert_close(image0["rgb"], image0_again["rgb"])


def test_eval_renders_with_the_average_code():
    """With every image's code set to one vector, training renders of any image and the evaluation
    render (the average code) agree, bins aside: the hierarchical sampler's eval bins are its
    stratified bins without jitter, so compare the field's colour on fixed inputs instead."""
    model = appearance_model()
    with torch.no_grad():
        model.appearance.codes.weight.copy_(torch.randn(NUM_IMAGES, 4))
    model.eval()
    feature = torch.randn(10, 32)
    d = torch.nn.functional.normalize(torch.randn(10, 3), dim=-1)
    average = model.appearance(None, 10, training=False)
    torch.testing.assert_close(average, model.appearance.codes.weight.mean(0).expand(10, 4))
    with torch.no_grad():
        rgb = model.field.color(feature, d, average)
        assert not torch.allclose(rgb, model.field.color(feature, d, model.appearance.codes.weight[[0] * 10]))
        out = model(rays_of_images(3))
        again = model(rays_of_images(0))  # outside training the camera index does not matter
    torch.testing.assert_close(out["rgb"], again["rgb"])


def test_off_is_the_field_and_model_as_before():
    network = dataclasses.replace(nerf_network(), num_layers=3, width=32, skip_connections=(2,))
    torch.manual_seed(0)
    before = NeRFField(network, color_width=16)
    torch.manual_seed(0)
    off = NeRFField(network, color_width=16, appearance_dim=0)
    assert [(k, v.shape) for k, v in before.state_dict().items()] == [(k, v.shape) for k, v in off.state_dict().items()]
    x, d = torch.rand(20, 3) * 2 - 1, torch.nn.functional.normalize(torch.randn(20, 3), dim=-1)
    torch.testing.assert_close(before.color(before.density_and_feature(x)[1], d), off.color(off.density_and_feature(x)[1], d))
    with pytest.raises(InputError, match="appearance code"):
        off.color(off.density_and_feature(x)[1], d, torch.zeros(20, 4))
    model = make_model()
    assert model.appearance is None
    assert not [k for k in model.state_dict() if "appearance" in k or "camera_optimizer" in k]
    assert set(model.get_param_groups()) == {"fields"}
    for name, spec in METHODS.items():  # codes in the 360 preset only; refinement off everywhere, ready in the capture presets
        cfg = spec.config.pipeline.model
        assert (cfg.appearance_embedding_dim > 0) == (name == "vanilla-nerf-pe-360"), name
        assert cfg.camera_optimizer.mode == "off", name
        assert ("camera_opt" in spec.config.optimizers) == (name in ("vanilla-nerf-pe-forward-facing", "vanilla-nerf-pe-360")), name


def test_checkpoint_of_tensors_only_loads_strictly():
    model = appearance_model(camera_optimizer=CameraOptimizerConfig(mode="SO3xR3"))
    buffer = io.BytesIO()
    torch.save({"pipeline": model.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)["pipeline"]
    assert {"appearance.codes.weight", "camera_optimizer.pose_adjustment"} <= set(state)
    fresh = appearance_model(camera_optimizer=CameraOptimizerConfig(mode="SO3xR3"))
    fresh.load_state_dict(state, strict=True)
    torch.testing.assert_close(fresh.appearance.codes.weight, model.appearance.codes.weight)


def test_camera_refinement_param_group_and_training_rays():
    model = appearance_model(camera_optimizer=CameraOptimizerConfig(mode="SO3xR3"))
    groups = model.get_param_groups()
    assert [p.shape for p in groups["camera_opt"]] == [(NUM_IMAGES, 6)]
    assert not {id(p) for p in groups["camera_opt"]} & {id(p) for p in groups["fields"]}
    model.train()
    out = model(rays_of_images(torch.arange(32) % NUM_IMAGES))
    losses = model.get_loss_dict(out, {"image": torch.rand(32, 3)})
    assert "camera_opt_regularizer" in losses
    sum(losses.values()).backward()
    assert model.camera_optimizer.pose_adjustment.grad.abs().sum() > 0  # the poses learn from the photometric loss
    with pytest.raises(InputError, match="appearance-embedding-dim"):
        make_config(appearance_embedding_dim=-1).check()


def test_refined_poses_are_what_nerfstudio_applies_to_a_camera():
    from nerfstudio.cameras.cameras import Cameras

    from vanilla_nerf_pe.nerf.camera_refinement import refined_poses

    optimizer = CameraOptimizerConfig(mode="SO3xR3").setup(num_cameras=3, device="cpu")
    c2w = torch.from_numpy(perturb_poses(np.tile(np.eye(4), (3, 1, 1)), 20.0, 1.0, seed=1)[:, :3]).float()
    cameras = Cameras(camera_to_worlds=c2w, fx=10.0, fy=10.0, cx=5.0, cy=5.0, metadata={"cam_idx": 1})
    torch.testing.assert_close(refined_poses(optimizer, cameras), c2w)  # no correction yet
    with torch.no_grad():
        optimizer.pose_adjustment.copy_(torch.randn(3, 6) * 0.1)
    expected = optimizer.apply_to_camera(Cameras(camera_to_worlds=c2w[1:2], fx=10.0, fy=10.0, cx=5.0, cy=5.0, metadata={"cam_idx": 1}))
    torch.testing.assert_close(refined_poses(optimizer, cameras)[1:2], expected)


def test_pose_alignment_recovers_a_similarity_and_measures_perturbations():
    rng = np.random.default_rng(0)
    true = perturb_poses(np.tile(np.eye(4), (12, 1, 1)), 90.0, 2.0, seed=3)  # spread-out cameras
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    moved = Similarity(0.37, q, np.array([1.0, -2.0, 0.5])).apply_to_poses(true)
    rotation, translation, similarity = pose_errors(moved, true)
    assert rotation.max() < 1e-4 and translation.max() < 1e-8
    assert similarity.scale == pytest.approx(1 / 0.37)
    noisy = perturb_poses(true, 0.5, 0.0, seed=4)
    rotation, translation, _ = pose_errors(noisy, true)
    np.testing.assert_allclose(rotation, 0.5, atol=1e-6)
    assert translation.max() < 1e-8
    with pytest.raises(InputError):
        umeyama(np.zeros((2, 3)), np.zeros((2, 3)))


def test_the_camera_opt_schedule_leaves_a_checkpoint_of_tensors_and_floats():
    """nerfstudio's ExponentialDecayScheduler would put numpy floats in the optimiser's state."""
    from vanilla_nerf_pe.nerf.camera_refinement import camera_opt_optimizer

    entry = camera_opt_optimizer(max_steps=10)
    param = torch.nn.Parameter(torch.zeros(3, 6))
    optimizer = entry["optimizer"].setup(params=[param])
    scheduler = entry["scheduler"].setup().get_scheduler(optimizer=optimizer, lr_init=entry["optimizer"].lr)
    for _ in range(3):
        param.grad = torch.ones_like(param)
        optimizer.step()
        scheduler.step()
    buffer = io.BytesIO()
    torch.save({"optimizers": optimizer.state_dict(), "schedulers": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=True)
    assert METHODS["vanilla-nerf-pe-360"].config.optimizers["camera_opt"]["scheduler"].max_steps == 7000


def test_affine_color_is_the_identity_at_zero_and_a_gain_on_the_diagonal():
    from vanilla_nerf_pe.core.render import affine_color

    rgb = torch.rand(5, 3)
    torch.testing.assert_close(affine_color(rgb, torch.zeros(3, 4)), rgb)
    gain = torch.zeros(5, 3, 4)
    gain[:, [0, 1, 2], [0, 1, 2]] = torch.tensor([1.0, -0.5, 0.0])  # red x2, green x0.5, blue kept
    gain[:, 2, 3] = 0.1
    torch.testing.assert_close(affine_color(rgb, gain), rgb * torch.tensor([2.0, 0.5, 1.0]) + torch.tensor([0.0, 0.0, 0.1]))
    with pytest.raises(InputError, match="affine_color"):
        affine_color(rgb, torch.zeros(3, 3))


def test_affine_colour_transform_per_image_in_training_average_outside():
    transform = AffineColor(NUM_IMAGES)
    with torch.no_grad():
        transform.deltas.copy_(torch.randn(NUM_IMAGES, 3, 4) * 0.1)
    rgb = torch.rand(4, 3)
    from vanilla_nerf_pe.core.render import affine_color

    torch.testing.assert_close(transform(rgb, torch.tensor([[1], [1], [4], [0]]), training=True), affine_color(rgb, transform.deltas[[1, 1, 4, 0]]))
    torch.testing.assert_close(transform(rgb, None, training=False), affine_color(rgb, transform.deltas.mean(0)))
    torch.testing.assert_close(AffineColor(NUM_IMAGES, at_eval="zeros")(rgb, None, training=False), rgb)
    transform.held_out = torch.zeros(3, 4)
    torch.testing.assert_close(transform(rgb, None, training=False), rgb)
    with pytest.raises(InputError):
        AffineColor(0)

    model = appearance_model(appearance_embedding_dim=0, appearance_affine=True)
    assert model.appearance is None and model.color_transform is not None
    assert "color_transform.deltas" in model.state_dict() and any(p is model.color_transform.deltas for p in model.get_param_groups()["fields"])
    model.train()
    with torch.no_grad():
        model.color_transform.deltas[2, 0, 3] = 0.25  # image 2: red lifted
        torch.manual_seed(5)
        image0 = model(rays_of_images(0))
        torch.manual_seed(5)
        image2 = model(rays_of_images(2))
    torch.testing.assert_close(image2["rgb"], image0["rgb"] + torch.tensor([0.25, 0.0, 0.0]))
    torch.testing.assert_close(image2["rgb_coarse"], image0["rgb_coarse"] + torch.tensor([0.25, 0.0, 0.0]))


@pytest.mark.parametrize("dim, affine", [(4, False), (0, True), (0, False)])
def test_fitted_appearance_fits_a_held_out_exposure_and_leaves_the_model_as_it_was(dim, affine):
    from vanilla_nerf_pe.nerf.held_out_appearance import HeldOutFitConfig, fitted_appearance

    model = appearance_model(appearance_embedding_dim=dim, appearance_affine=affine)
    model.eval()
    bundle = rays_of_images(0, n=64)
    with torch.no_grad():
        rendered = model(bundle)["rgb"]
    target = (rendered * torch.tensor([0.6, 0.7, 0.9]) + 0.05).clamp(0, 1)  # darker, bluer
    before = float(torch.nn.functional.mse_loss(rendered, target))
    requires = [p.requires_grad for p in model.parameters()]
    with fitted_appearance(model, bundle, target, HeldOutFitConfig(steps=60, lr=0.05, rays_per_step=48)) as params:
        with torch.no_grad():
            after = float(torch.nn.functional.mse_loss(model(bundle)["rgb"], target))
    assert len(params) == int(dim > 0) + int(affine)
    if params:  # an affine transform can match it; a random colour branch only moves towards it
        assert after < before / (4 if affine else 1.3)
    else:
        assert after == pytest.approx(before)
    assert not model.training and [p.requires_grad for p in model.parameters()] == requires
    assert all(getattr(m, "held_out", None) is None for m in (model.appearance, model.color_transform))
    with torch.no_grad():
        torch.testing.assert_close(model(bundle)["rgb"], rendered)  # the usual eval appearance again
    with pytest.raises(InputError):
        with fitted_appearance(model, bundle, target[:3]):
            pass


def test_render_right_half_of_a_model_without_appearance_is_its_render():
    from nerfstudio.cameras.cameras import Cameras

    from vanilla_nerf_pe.nerf.held_out_appearance import HeldOutFitConfig, render_right_half

    model = appearance_model(appearance_embedding_dim=0)
    model.eval()
    pose = torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 4]])
    camera = Cameras(camera_to_worlds=pose[None], fx=5.0, fy=5.0, cx=4.0, cy=3.0, width=8, height=6)
    full = model.get_outputs_for_camera(camera)["rgb"]
    right = render_right_half(model, camera, torch.rand(6, 8, 3), HeldOutFitConfig(steps=2))
    torch.testing.assert_close(right, full[:, 4:])
    affine = appearance_model(appearance_embedding_dim=0, appearance_affine=True)
    assert render_right_half(affine, camera, torch.rand(6, 8, 3), HeldOutFitConfig(steps=2)).shape == (6, 4, 3)
