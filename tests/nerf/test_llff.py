"""The llff-data dataparser: LLFF's conventions against the file, its splits, and bad input in one line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import cli_env
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.nerf.llff import LLFFDataParserConfig

FERN = Path(__file__).resolve().parents[3] / "shared" / "data" / "llff" / "fern"


def outputs(data: Path, split: str = "train", **options):
    return LLFFDataParserConfig(data=data, **options).setup().get_dataparser_outputs(split)


@pytest.fixture()
def scene(forward_facing_scene, tmp_path) -> Path:
    return Path(shutil.copytree(forward_facing_scene, tmp_path / "scene"))


def test_poses_follow_llff_conventions(forward_facing_scene):
    """The generated scene's cameras come back as written (up to LLFF's recentring and scale): the
    same relative rotations, distances scaled so that the nearest bound is 1 / 0.75, the paper's split."""
    from vanilla_nerf_pe.scenes.capture import CaptureConfig, capture_poses, focal

    config = CaptureConfig("forward-facing", width=48, num_views=16)
    written = capture_poses(config)
    train, test = outputs(forward_facing_scene), outputs(forward_facing_scene, "test")
    assert [p.name for p in test.image_filenames] == ["r_000.png", "r_008.png"]
    assert len(train.image_filenames) == 14 and "r_008.png" not in [p.name for p in train.image_filenames]
    assert train.cameras.fx[0].item() == pytest.approx(focal(config), rel=1e-6)
    c2w = train.cameras.camera_to_worlds.double().numpy()
    w = written[[i for i in range(16) if i % 8]]
    # relative rotations and distance ratios are invariant under the recentring and scale
    rel = np.einsum("nji,njk->nik", c2w[:, :, :3], c2w[:1, :, :3].repeat(14, 0))
    rel_written = np.einsum("nji,njk->nik", w[:, :3, :3], w[:1, :3, :3].repeat(14, 0))
    np.testing.assert_allclose(rel, rel_written, atol=1e-5)
    d = np.linalg.norm(c2w[:, :, 3] - c2w[:1, :, 3], axis=-1)
    d_written = np.linalg.norm(w[:, :3, 3] - w[:1, :3, 3], axis=-1)
    np.testing.assert_allclose(d, d_written * train.dataparser_scale, rtol=1e-5)
    bounds = np.load(forward_facing_scene / "poses_bounds.npy")[:, 15:]
    assert train.metadata["near_far"][0] == pytest.approx(1 / 0.75) and train.dataparser_scale == pytest.approx(1 / (bounds.min() * 0.75))
    # recentred: the average camera sits at the origin looking down -z
    back = np.concatenate([c2w, outputs(forward_facing_scene, "test").cameras.camera_to_worlds.double().numpy()])[:, :, 2].mean(0)
    assert back / np.linalg.norm(back) == pytest.approx([0, 0, 1], abs=1e-6)


@pytest.mark.skipif(not FERN.is_dir(), reason="../shared/data/llff/fern is not present")
def test_fern_as_the_paper_reads_it():
    train, test = outputs(FERN, downscale_factor=8), outputs(FERN, "test", downscale_factor=8)
    assert len(train.image_filenames) == 17 and [p.name for p in test.image_filenames][0].endswith(".png") and len(test.image_filenames) == 3
    assert (train.cameras.width[0].item(), train.cameras.height[0].item()) == (504, 378)
    assert train.cameras.fx[0].item() == pytest.approx(3260.5 * 504 / 4032, rel=1e-3)
    assert outputs(FERN).image_filenames[0].parent.name == "images_8"  # the largest images present


def test_missing_poses_file_folder_and_data(scene, tmp_path):
    with pytest.raises(InputError, match="no such directory"):
        outputs(tmp_path / "nowhere")
    (scene / "poses_bounds.npy").unlink()
    with pytest.raises(InputError, match=r"poses_bounds.npy: no such file"):
        outputs(scene)


def test_missing_images_folder_names_what_is_there(scene):
    with pytest.raises(InputError, match=r"images_4: no such folder \(found images; choose --downscale-factor"):
        outputs(scene, downscale_factor=4)


def test_row_count_must_match_the_images(scene):
    (scene / "images" / "r_015.png").unlink()
    with pytest.raises(InputError, match="16 rows but .* holds 15 images"):
        outputs(scene)


def test_mixed_image_sizes(scene):
    Image.new("RGB", (40, 30)).save(scene / "images" / "r_003.png")
    with pytest.raises(InputError, match="r_003.png: image is 40x30 but .*r_000.png is 48x36"):
        outputs(scene)


@pytest.mark.parametrize(
    "array, message",
    [(np.zeros((16, 15)), r"17 numbers .* shape \(16, 15\)"), (np.full((16, 17), np.nan), "non-finite"), ("text", "not a readable .npy")],
)
def test_malformed_poses_bounds(scene, array, message):
    path = scene / "poses_bounds.npy"
    if isinstance(array, str):
        path.write_text(array)
    else:
        np.save(path, array)
    with pytest.raises(InputError, match=message):
        outputs(scene)


def test_ns_train_reports_a_bad_llff_scene_in_one_line(scene, tmp_path):
    (scene / "images" / "r_015.png").unlink()
    proc = subprocess.run(
        ["ns-train", "vanilla-nerf-pe-fast", "--machine.device-type", "cpu", "--vis", "tensorboard", "--output-dir", str(tmp_path),
         "llff-data", "--data", str(scene)],
        env=cli_env(), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert lines and "16 rows but" in lines[-1] and "Traceback" not in proc.stderr


def test_scene_kind_auto_on_the_generated_kinds(tiny_scene, forward_facing_scene, unbounded_scene):
    """auto: Blender's orbit around a tight box -> bounded; the LLFF sweep -> forward-facing; the
    orbit inside its surroundings, read by nerfstudio's own parser -> unbounded."""
    from nerfstudio.data.dataparsers.blender_dataparser import BlenderDataParserConfig
    from nerfstudio.data.dataparsers.instant_ngp_dataparser import InstantNGPDataParserConfig
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from vanilla_nerf_pe.nerf.spaces import choose_scene_kind

    cases = [
        (BlenderDataParserConfig(data=tiny_scene), "bounded"),
        (LLFFDataParserConfig(data=forward_facing_scene), "forward-facing"),
        (NerfstudioDataParserConfig(data=unbounded_scene), "unbounded"),
        (InstantNGPDataParserConfig(data=unbounded_scene / "transforms.json"), "unbounded"),  # aabb_scale 16
    ]
    for parser, expected in cases:
        out = parser.setup().get_dataparser_outputs("train")
        kind, reason = choose_scene_kind(out.cameras.camera_to_worlds.float(), out.scene_box.aabb.float())
        assert kind == expected, reason
        assert len(reason) > 20
    assert torch.is_tensor(out.cameras.camera_to_worlds)
