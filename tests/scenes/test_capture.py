"""The capture-like demo scenes: layouts that nerfstudio's parsers read, determinism, depth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.cli.scene import main
from vanilla_nerf_pe.scenes.cameras import camera_rays
from vanilla_nerf_pe.scenes.capture import CaptureConfig, capture_poses, write_capture_scene


def test_forward_facing_layout_and_bounds(forward_facing_scene):
    rows = np.load(forward_facing_scene / "poses_bounds.npy")
    images = sorted((forward_facing_scene / "images").glob("*.png"))
    assert rows.shape == (16, 17) and len(images) == 16
    assert Image.open(images[0]).mode == "RGB" and Image.open(images[0]).size == (48, 36)
    hwf = rows[0, :15].reshape(3, 5)[:, 4]
    assert tuple(hwf[:2]) == (36, 48)
    # (down, right, back) columns of a right-handed rotation, every camera looking the same way (+y, a little down)
    r = rows[:, :15].reshape(-1, 3, 5)[:, :, :3]
    assert np.allclose(np.linalg.det(r[:, :, [1, 0, 2]] * [1, -1, 1]), 1.0)  # (right, up, back) is a rotation
    assert np.all(-r[:, 1, 2] > 0.95)  # forward = -back is close to +y
    # bounds hold every pixel's z-depth
    depth = np.load(forward_facing_scene / "images" / "r_005_depth.npy")
    config = CaptureConfig("forward-facing", width=48, num_views=16)
    c2w = capture_poses(config)[5]
    _, d = camera_rays(c2w, 36, 48, config.camera_angle_x, 1)
    z = depth * (d[:, :, 0, 0] @ -c2w[:3, 2])
    assert rows[5, 15] <= z.min() and z.max() <= rows[5, 16]


def test_unbounded_layout_reads_with_nerfstudio_data(unbounded_scene):
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    meta = json.loads((unbounded_scene / "transforms.json").read_text())
    assert {"fl_x", "fl_y", "cx", "cy", "w", "h", "frames"} <= set(meta) and len(meta["frames"]) == 20
    out = NerfstudioDataParserConfig(data=unbounded_scene).setup().get_dataparser_outputs("train")
    assert len(out.image_filenames) == 18 and Image.open(out.image_filenames[0]).mode == "RGB"
    depth = np.load(unbounded_scene / "images" / "r_000_depth.npy")
    assert np.isfinite(depth).all() and depth.max() < 7.0 + 2.6  # every ray ends at the latest on the sky sphere


def test_deterministic_and_seeded(tmp_path):
    config = CaptureConfig("unbounded", width=16, num_views=3)
    a = write_capture_scene(tmp_path / "a", config)
    b = write_capture_scene(tmp_path / "b", config)
    assert (a / "images" / "r_001.png").read_bytes() == (b / "images" / "r_001.png").read_bytes()
    assert not np.allclose(capture_poses(config), capture_poses(CaptureConfig("unbounded", width=16, num_views=3, seed=1)))


def test_cli_kinds_and_bad_input(tmp_path, capsys):
    main([str(tmp_path / "ff"), "--kind", "forward-facing", "--resolution", "16", "--num-views", "4"])
    assert (tmp_path / "ff" / "poses_bounds.npy").is_file()
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "x"), "--kind", "unbounded", "--num-views", "1"])
    assert exc.value.code == 2 and "num_views >= 2" in capsys.readouterr().err
    with pytest.raises(InputError, match="choose one of bounded, forward-facing, unbounded"):
        CaptureConfig("spherical").validate()
    Path(tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="not a directory"):
        write_capture_scene(tmp_path / "file", CaptureConfig())
