"""Bad input gets one line naming the file and the problem: the checks, and ns-train's output for them."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import cli_env
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.nerf.data import check_blender_scene


def write_png16(path: Path, a: np.ndarray) -> None:
    """A 16-bit PNG (gray, RGB or RGBA by the last axis), which Pillow cannot write from arrays."""
    h, w, c = a.shape
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 3: 2, 4: 6}[c], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture()
def scene(tiny_scene, tmp_path) -> Path:
    """A private copy of the tiny demo scene, free to damage."""
    return Path(shutil.copytree(tiny_scene, tmp_path / "scene"))


def first_image(scene: Path) -> Path:
    frame = json.loads((scene / "transforms_train.json").read_text())["frames"][0]
    return scene / (frame["file_path"].replace("./", "") + ".png")


def message(scene: Path, splits=("train", "val")) -> str:
    with pytest.raises(InputError) as info:
        check_blender_scene(scene, splits)
    text = str(info.value)
    assert "\n" not in text and text  # one line; the CLI that reports it adds "PROG: error: "
    return text


def test_the_demo_scene_passes(scene):
    check_blender_scene(scene, ("train", "val", "test"))


def test_missing_and_non_directory_data(tmp_path):
    assert "no such directory" in message(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    assert "not a directory" in message(tmp_path / "file")


def test_missing_transforms(scene):
    (scene / "transforms_train.json").unlink()
    text = message(scene)
    assert "no transforms_train.json" in text and "transforms_val.json" in text  # says what it did find


def test_malformed_json_names_file_and_line(scene):
    (scene / "transforms_val.json").write_text('{"camera_angle_x": 0.7,\n "frames": [}\n')
    text = message(scene)
    assert "transforms_val.json: not valid JSON (line 2" in text


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda m: m.pop("camera_angle_x"), "'camera_angle_x' must be a number"),
        (lambda m: m.update(frames=[]), "'frames' must be a non-empty list"),
        (lambda m: m["frames"][1].pop("file_path"), "frame 1: missing 'file_path'"),
        (lambda m: m["frames"][0].update(transform_matrix=[[1, 0, 0]]), "frame 0: 'transform_matrix' must be a 4x4"),
    ],
)
def test_bad_fields(scene, edit, expected):
    path = scene / "transforms_train.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
    assert expected in message(scene)


def test_missing_image_is_named(scene):
    image = first_image(scene)
    image.unlink()
    text = message(scene)
    assert f"frame 0: image {image} does not exist" in text


def test_non_image_and_size_mismatch(scene):
    image = first_image(scene)
    image.write_text("not a png")
    assert "cannot be read as an image" in message(scene)
    Image.new("RGBA", (16, 16)).save(image)
    assert "but " + str(image) + " is 16x16; all views must have one size" in message(scene)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_rgb_without_alpha_and_8bit_gray_are_accepted(scene, mode):
    image = first_image(scene)
    Image.open(image).convert(mode).save(image)
    check_blender_scene(scene)


def test_16bit_rgb_is_accepted_16bit_gray_refused(scene):
    image = first_image(scene)
    h, w = Image.open(image).size[::-1]
    write_png16(image, np.full((h, w, 3), 40000, dtype=np.uint16))
    assert Image.open(image).mode == "RGB"  # Pillow reads 16-bit colour as 8-bit, so nerfstudio gets it right
    check_blender_scene(scene)
    write_png16(image, np.full((h, w, 1), 40000, dtype=np.uint16))
    assert "16-bit grayscale" in message(scene)


@pytest.mark.parametrize("mode, expected", [("LA", "grayscale with alpha"), ("P", "palette"), ("1", "1-bit")])
def test_unsupported_modes_refused(scene, mode, expected):
    image = first_image(scene)
    Image.open(image).convert(mode).save(image)
    assert expected in message(scene)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["no_data", "no_train_json", "bad_json", "missing_image", "gray16", "bad_option"])
def test_ns_train_reports_bad_input_in_one_line(damage, scene, tmp_path):
    """Through the real ns-train with the `blender-data` subcommand: no traceback, the file and the problem."""
    data, extra = scene, []
    if damage == "no_data":
        data, expected = tmp_path / "nowhere", "no such directory"
    elif damage == "no_train_json":
        (scene / "transforms_train.json").unlink()
        expected = "no transforms_train.json"
    elif damage == "bad_json":
        (scene / "transforms_train.json").write_text("{")
        expected = "transforms_train.json: not valid JSON"
    elif damage == "missing_image":
        first_image(scene).unlink()
        expected = "does not exist"
    elif damage == "gray16":
        write_png16(first_image(scene), np.zeros((32, 32, 1), dtype=np.uint16))
        expected = "16-bit grayscale"
    else:
        extra, expected = ["--pipeline.model.sampler", "occupancy", "--pipeline.model.distortion-loss-mult", "0.01"], "distortion-loss-mult"
    proc = subprocess.run(
        ["ns-train", "vanilla-nerf-pe-quick", "--machine.device-type", "cpu", "--vis", "tensorboard", *extra,
         "--output-dir", str(tmp_path / "out"), "blender-data", "--data", str(data)],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2  # bad input
    assert "Traceback" not in proc.stderr + proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("vanilla-nerf-pe: error: ") and expected in last, proc.stderr[-2000:]
