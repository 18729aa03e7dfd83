"""Tests of the procedural Blender-layout demo scene (vanilla_nerf_pe.scenes: shapes, cameras, blender)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vanilla_nerf_pe.scenes.blender import SceneConfig, write_scene
from vanilla_nerf_pe.scenes.cameras import camera_poses, camera_rays, look_at
from vanilla_nerf_pe.scenes.shapes import OBJECTS, Box, Sphere, trace

REPO_ROOT = Path(__file__).resolve().parents[2]
SPLITS = ("train", "val", "test")
CONFIG = SceneConfig(resolution=32, num_train=4, num_val=2, num_test=3, seed=3)


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory) -> Path:
    return write_scene(tmp_path_factory.mktemp("scene") / "demo", CONFIG)


def _counts(config: SceneConfig) -> dict:
    return {"train": config.num_train, "val": config.num_val, "test": config.num_test}


def _frames(scene_dir: Path, split: str) -> list:
    return json.loads((scene_dir / f"transforms_{split}.json").read_text())["frames"]


def _all_views(scene_dir: Path):
    for split in SPLITS:
        for i, frame in enumerate(_frames(scene_dir, split)):
            rgba = np.array(Image.open(scene_dir / split / f"r_{i}.png"))
            depth = np.load(scene_dir / split / f"r_{i}_depth.npy")
            yield split, i, np.array(frame["transform_matrix"]), rgba, depth


def _surface_distance(points: np.ndarray) -> np.ndarray:
    """|distance| of (N, 3) points to the nearest object surface: the exact signed distances of a
    sphere and an oriented box, written here independently of the tracer (shapes.py has none)."""
    dists = []
    for obj in OBJECTS:
        c = np.asarray(obj.center)
        if isinstance(obj, Sphere):
            dists.append(np.abs(np.linalg.norm(points - c, axis=-1) - obj.radius))
        else:
            assert isinstance(obj, Box)
            q = np.abs((points - c) @ obj.rotation) - np.asarray(obj.half_size)
            sdf = np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(axis=-1), 0.0)
            dists.append(np.abs(sdf))
    return np.min(dists, axis=0)


# ---------------------------------------------------------------- layout


def test_layout(scene_dir: Path):
    counts = _counts(CONFIG)
    for split in SPLITS:
        meta = json.loads((scene_dir / f"transforms_{split}.json").read_text())
        assert set(meta) == {"camera_angle_x", "frames"}
        assert meta["camera_angle_x"] == pytest.approx(0.6911112070083618)
        assert len(meta["frames"]) == counts[split]
        for i, frame in enumerate(meta["frames"]):
            assert set(frame) == {"file_path", "rotation", "transform_matrix"}
            assert frame["file_path"] == f"./{split}/r_{i}"
            assert frame["rotation"] == 0.0
            assert np.array(frame["transform_matrix"]).shape == (4, 4)
            assert (scene_dir / split / f"r_{i}.png").is_file()
            assert (scene_dir / split / f"r_{i}_depth.npy").is_file()
    provenance = json.loads((scene_dir / "scene.json").read_text())
    assert provenance["config"]["seed"] == CONFIG.seed
    assert len(provenance["objects"]) == len(OBJECTS)


def test_images_rgba_with_antialiased_alpha(scene_dir: Path):
    R = CONFIG.resolution
    for split, i, _, rgba, depth in _all_views(scene_dir):
        im = Image.open(scene_dir / split / f"r_{i}.png")
        assert im.mode == "RGBA" and im.size == (R, R)
        assert rgba.dtype == np.uint8
        alpha = rgba[..., 3]
        assert (alpha == 0).any() and (alpha == 255).any(), (split, i)
        assert ((alpha > 0) & (alpha < 255)).any(), (split, i)
        assert (rgba[alpha == 0, :3] == 0).all()  # nothing stored in empty pixels
        border = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
        assert (border == 0).all(), (split, i)  # the whole scene is in frame
        assert depth.dtype == np.float32 and depth.shape == (R, R)


def test_objects_inside_content_cube():
    for obj in OBJECTS:
        c = np.asarray(obj.center)
        if isinstance(obj, Sphere):
            lo, hi = c - obj.radius, c + obj.radius
        else:
            signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
            corners = c + (signs * np.asarray(obj.half_size)) @ obj.rotation.T
            lo, hi = corners.min(axis=0), corners.max(axis=0)
        assert (lo >= -1.2).all() and (hi <= 1.2).all(), obj.name


# ---------------------------------------------------------------- determinism


def test_deterministic_bytes(tmp_path: Path):
    cfg = SceneConfig(resolution=24, num_train=2, num_val=1, num_test=2, seed=7)
    a, b = write_scene(tmp_path / "a", cfg), write_scene(tmp_path / "b", cfg)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 4 + 2 * 5
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_seed_changes_only_random_poses():
    for split in ("train", "val"):
        p0 = camera_poses(split, 5, seed=0)
        assert not np.allclose(p0, camera_poses(split, 5, seed=1))
        assert np.array_equal(p0, camera_poses(split, 5, seed=0))
    assert not np.allclose(camera_poses("train", 5, 0), camera_poses("val", 5, 0))
    assert np.array_equal(camera_poses("test", 5, seed=0), camera_poses("test", 5, seed=1))


# ---------------------------------------------------------------- poses


def test_poses_on_upper_hemisphere_looking_at_origin(scene_dir: Path):
    for split in SPLITS:
        for frame in _frames(scene_dir, split):
            c2w = np.array(frame["transform_matrix"])
            np.testing.assert_allclose(c2w[3], [0, 0, 0, 1])
            rot, centre = c2w[:3, :3], c2w[:3, 3]
            np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-9)
            assert np.linalg.det(rot) == pytest.approx(1.0, abs=1e-9)
            assert np.linalg.norm(centre) == pytest.approx(CONFIG.radius, abs=1e-9)
            elevation = math.degrees(math.asin(centre[2] / np.linalg.norm(centre)))
            assert 5.0 - 1e-9 <= elevation <= 80.0 + 1e-9
            # the camera's -z axis points at the origin, its +x axis is horizontal
            np.testing.assert_allclose(-rot[:, 2], -centre / np.linalg.norm(centre), atol=1e-9)
            assert abs(rot[2, 0]) < 1e-9 and rot[2, 1] > 0
    test_centres = np.array([f["transform_matrix"] for f in _frames(scene_dir, "test")])[:, :3, 3]
    np.testing.assert_allclose(test_centres[:, 2], CONFIG.radius * math.sin(math.radians(30.0)), atol=1e-9)


def test_look_at_convention():
    c2w = look_at([0.0, -4.0, 0.0])  # on the -y axis looking along +y
    np.testing.assert_allclose(c2w[:3, :3], [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)


# ---------------------------------------------------------------- rays and depth


def test_centre_pixel_ray_hits_origin():
    H = W = 64
    angle = CONFIG.camera_angle_x
    f = 0.5 * W / math.tan(0.5 * angle)
    c2w = look_at([1.0, -3.0, 2.0])
    o, d = camera_rays(c2w, H, W, angle, supersample=1)
    assert o.shape == d.shape == (H, W, 1, 1, 3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-12)
    assert (o == c2w[:3, 3]).all()
    to_origin = -c2w[:3, 3] / np.linalg.norm(c2w[:3, 3])
    for v, u in [(H // 2, W // 2), (H // 2 - 1, W // 2 - 1), (H // 2 - 1, W // 2), (H // 2, W // 2 - 1)]:
        angle_off = math.acos(min(1.0, float(d[v, u, 0, 0] @ to_origin)))
        assert angle_off < math.atan(1.0 / f)  # within one pixel's angle
        assert angle_off > 0.5 * math.atan(0.5 / f)  # but not exactly (pixel centres are off-axis)
    # the four central pixel rays are symmetric about the optical axis
    mean = d[H // 2 - 1 : H // 2 + 1, W // 2 - 1 : W // 2 + 1, 0, 0].sum(axis=(0, 1))
    np.testing.assert_allclose(mean / np.linalg.norm(mean), to_origin, atol=1e-12)
    # image row 0 is the top (+y camera), column 0 the left (-x camera)
    rot = c2w[:3, :3]
    assert (rot.T @ d[0, W // 2, 0, 0])[1] > 0 and (rot.T @ d[H // 2, 0, 0, 0])[0] < 0


def test_supersample_layout():
    H, W, S = 5, 7, 3
    c2w = look_at([0.0, -4.0, 1.0])
    _, d1 = camera_rays(c2w, H, W, 0.7, supersample=1)
    _, d3 = camera_rays(c2w, H, W, 0.7, supersample=S)
    assert d3.shape == (H, W, S, S, 3)
    np.testing.assert_allclose(d3[:, :, 1, 1], d1[:, :, 0, 0], atol=1e-12)  # middle sample = pixel centre
    f = 0.5 * W / math.tan(0.35)
    cam = d3[2, 3] @ c2w[:3, :3]  # (S, S, 3) camera-space, indexed [b, a]
    x = cam[..., 0] / -cam[..., 2]
    y = cam[..., 1] / -cam[..., 2]
    np.testing.assert_allclose(x[0], (3 + (np.arange(S) + 0.5) / S - W / 2) / f, atol=1e-12)
    np.testing.assert_allclose(y[:, 0], -(2 + (np.arange(S) + 0.5) / S - H / 2) / f, atol=1e-12)


def test_depth_consistent_with_surfaces_and_alpha(scene_dir: Path):
    R, S = CONFIG.resolution, CONFIG.supersample
    n_hit = n_pixels = n_centre_miss_full_cover = 0
    for _, _, c2w, rgba, depth in _all_views(scene_dir):
        alpha = rgba[..., 3]
        o, d = camera_rays(c2w, R, R, CONFIG.camera_angle_x, supersample=1)
        o, d = o[:, :, 0, 0], d[:, :, 0, 0]
        finite = np.isfinite(depth)
        assert finite.any() and (~finite).any()
        assert np.all(depth[~finite] == np.inf)
        points = o[finite] + depth[finite, None].astype(np.float64) * d[finite]
        assert _surface_distance(points).max() < 1e-4
        lim = math.sqrt(3.0) * 1.2
        assert (depth[finite] > CONFIG.radius - lim).all() and (depth[finite] < CONFIG.radius + lim).all()
        assert (alpha[finite] > 0).all()
        # the stored depth is the first hit of the tracer
        t, _, hit = trace(c2w[:3, 3], d)
        np.testing.assert_array_equal(hit, finite)
        np.testing.assert_allclose(depth[finite], t[finite], rtol=1e-6)
        # alpha is exactly the supersample coverage
        _, d_sub = camera_rays(c2w, R, R, CONFIG.camera_angle_x, supersample=S)
        _, _, hit_sub = trace(c2w[:3, 3], d_sub)
        coverage = hit_sub.reshape(R, R, S * S).mean(axis=-1)
        np.testing.assert_array_equal(alpha, np.round(coverage * 255).astype(np.uint8))
        # A missed pixel centre normally means a partly covered pixel; full cover is
        # possible (all sub-rays hit on both sides of a sub-pixel gap between two
        # objects) but must be rare.
        n_centre_miss_full_cover += int(((~finite) & (alpha == 255)).sum())
        n_hit += int(finite.sum())
        n_pixels += R * R
    assert n_hit > 0
    assert n_centre_miss_full_cover <= 0.002 * n_pixels


def test_trace_misses_and_hits():
    o = np.array([[0.0, 0.0, 5.0], [0.0, 0.0, 5.0], [5.0, 5.0, 5.0]])
    d = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    t, rgb, hit = trace(o, d)
    assert hit.tolist() == [True, False, False]
    assert np.isfinite(t[0]) and np.isinf(t[1:]).all()
    assert (rgb[1:] == 0).all() and (rgb[0] > 0).any() and (rgb <= 1).all()
    # the hit point lies on an object's surface
    assert _surface_distance(o[:1] + t[:1, None] * d[:1]).max() < 1e-9


# ---------------------------------------------------------------- nerfstudio


def test_nerfstudio_blender_dataparser_loads_scene(scene_dir: Path):
    pytest.importorskip("nerfstudio")
    torch = pytest.importorskip("torch")
    from nerfstudio.data.dataparsers.blender_dataparser import BlenderDataParserConfig

    R = CONFIG.resolution
    for split in SPLITS:
        outputs = BlenderDataParserConfig(data=scene_dir).setup().get_dataparser_outputs(split)
        cameras = outputs.cameras
        assert len(cameras) == _counts(CONFIG)[split]
        assert int(cameras.height[0]) == R and int(cameras.width[0]) == R
        assert [Path(p).name for p in outputs.image_filenames] == [f"r_{i}.png" for i in range(len(cameras))]
    c2w = np.array(_frames(scene_dir, "train")[1]["transform_matrix"])
    cameras_train = BlenderDataParserConfig(data=scene_dir).setup().get_dataparser_outputs("train").cameras
    with torch.no_grad():
        bundle = cameras_train.generate_rays(camera_indices=1)
    ns_dirs = bundle.directions.numpy()
    ns_origins = bundle.origins.numpy()
    assert ns_dirs.shape == (R, R, 3)
    o, d = camera_rays(c2w, R, R, CONFIG.camera_angle_x, supersample=1)
    np.testing.assert_allclose(ns_dirs, d[:, :, 0, 0], atol=2e-6)
    np.testing.assert_allclose(ns_origins, o[:, :, 0, 0], atol=2e-6)
