"""Checks of a Blender-layout scene before nerfstudio loads it, and the datamanager that runs them.

nerfstudio's Blender dataparser and image loader meet bad input with an assertion deep in a
traceback (a missing ``transforms_train.json``, a frame whose image is missing), or silently (a
16-bit grayscale PNG is cast to uint8 and trains on garbage; a palette PNG trains on its indices).
``check_blender_scene`` reads every JSON file and every image header the datamanager is about to
load and stops at the first problem with one line that names the file and what is wrong.

``CheckedDataManager`` is nerfstudio's ``VanillaDataManager`` with that check first; our methods
use it, so the check runs under ``ns-train`` (also with the ``blender-data`` subcommand, which only
swaps the dataparser), ``ns-eval`` and ``ns-render``.

What nerfstudio's loader handles, and so passes here: RGBA (composited on the dataparser's
``alpha_color``), RGB without alpha (used as it is), 8-bit grayscale (repeated to three channels),
16-bit RGB (Pillow reads it as 8-bit RGB). What it cannot, and is refused: grayscale with alpha,
16- and 32-bit grayscale, palette, 1-bit and CMYK images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Type

import torch
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManager, VanillaDataManagerConfig
from nerfstudio.data.dataparsers.blender_dataparser import BlenderDataParserConfig
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.data.datasets.base_dataset import InputDataset

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.nerf.capture_checks import check_nerfstudio_capture, check_transform_matrix, read_json_object
from vanilla_nerf_pe.nerf.image_checks import check_image

BLENDER_NEAR_FAR = (2.0, 6.0)
"""near and far of NeRF's Blender scenes (the paper's and its code's)."""

def check_blender_scene(data: Path, splits: Iterable[str] = ("train", "val")) -> None:
    """Check what nerfstudio's Blender dataparser will read for ``splits``; raise InputError on the first problem.

    Checks: ``data`` is a directory; each ``transforms_{split}.json`` exists, is valid JSON with a
    number ``camera_angle_x`` and a non-empty list ``frames``; each frame has a string
    ``file_path`` and a finite 4x4 ``transform_matrix``; each frame's image (``file_path`` + .png,
    as the dataparser builds it) exists, is a supported image, and has the size of the first
    (the dataparser gives every camera the first image's intrinsics).
    """
    data = Path(data)
    if not data.exists():
        raise InputError(f"--data {data}: no such directory")
    if not data.is_dir():
        raise InputError(f"--data {data}: not a directory (a Blender-layout scene folder is expected)")
    first_size = None
    for split in splits:
        path = data / f"transforms_{split}.json"
        if not path.is_file():
            present = sorted(p.name for p in data.glob("transforms_*.json"))
            raise InputError(
                f"--data {data}: no transforms_{split}.json (a Blender-layout scene needs transforms_train.json, "
                f"transforms_val.json and transforms_test.json; found {', '.join(present) or 'none'})"
            )
        meta = read_json_object(path, "'camera_angle_x' and 'frames'")
        angle = meta.get("camera_angle_x")
        if not isinstance(angle, (int, float)) or not 0 < angle < math.pi:
            raise InputError(f"{path}: 'camera_angle_x' must be a number in (0, pi) radians, got {angle!r}")
        frames = meta.get("frames")
        if not isinstance(frames, list) or not frames:
            raise InputError(f"{path}: 'frames' must be a non-empty list")
        for i, frame in enumerate(frames):
            where = f"{path} frame {i}"
            if not isinstance(frame, dict) or not isinstance(frame.get("file_path"), str):
                raise InputError(f"{where}: missing 'file_path'")
            check_transform_matrix(frame.get("transform_matrix"), where)
            image_path = data / Path(frame["file_path"].replace("./", "") + ".png")  # as the dataparser builds it
            size = check_image(image_path, where)
            if first_size is None:
                first_size, first_path = size, image_path
            elif size != first_size:
                raise InputError(
                    f"{where}: image {image_path} is {size[0]}x{size[1]} but {first_path} is "
                    f"{first_size[0]}x{first_size[1]}; all views must have one size"
                )


class CheckedDataManager(VanillaDataManager[InputDataset]):
    """nerfstudio's VanillaDataManager that first checks a Blender scene with ``check_blender_scene``
    (a nerfstudio-data capture with :func:`~vanilla_nerf_pe.nerf.capture_checks.check_nerfstudio_capture`)
    and hands the model the training cameras (``metadata["train_cameras"]``) and NeRF's near and far
    for Blender scenes (``metadata["near_far"]``), from which it chooses its scene kind, and whether
    the training images keep their alpha (``metadata["images_have_alpha"]``)."""

    def __init__(self, config: VanillaDataManagerConfig, device="cpu", test_mode="val", world_size=1, local_rank=0, **kwargs):
        if isinstance(config.dataparser, BlenderDataParserConfig):
            data = config.data if config.data is not None else config.dataparser.data
            check_blender_scene(Path(data), ("train", "test" if test_mode in ("test", "inference") else "val"))
        elif isinstance(config.dataparser, NerfstudioDataParserConfig):  # ns-process-data's captures (nerf/capture_checks.py)
            check_nerfstudio_capture(Path(config.data if config.data is not None else config.dataparser.data), config.dataparser.downscale_factor)
        super().__init__(config, device=device, test_mode=test_mode, world_size=world_size, local_rank=local_rank, **kwargs)
        # What the model's scene kind is chosen from (nerfstudio hands the model this metadata, not
        # the cameras): the training cameras, and for Blender scenes NeRF's near and far.
        metadata = self.train_dataset.metadata
        metadata.setdefault("train_cameras", self.train_dataset.cameras)
        # RGBA only where the dataparser leaves alpha to the model (blender-data --alpha-color None)
        metadata.setdefault("images_have_alpha", len(self.train_dataset) > 0 and self.train_dataset.get_image_float32(0).shape[-1] == 4)
        if isinstance(config.dataparser, BlenderDataParserConfig):
            metadata.setdefault("near_far", BLENDER_NEAR_FAR)

    def create_train_dataset(self) -> InputDataset:
        return float32_cameras(super().create_train_dataset())

    def create_eval_dataset(self) -> InputDataset:
        return float32_cameras(super().create_eval_dataset())


def float32_cameras(dataset: InputDataset) -> InputDataset:
    """The dataset with every float64 tensor of its ``cameras`` cast to float32 (in place).

    nerfstudio's Blender parser gives float64 focal lengths (numpy's tan), which breaks
    ``ns-render spiral`` (``torch.cross`` of float32 and float64 in ``get_spiral_path``)."""
    cameras = dataset.cameras
    for name in ("fx", "fy", "cx", "cy", "camera_to_worlds", "distortion_params"):
        value = getattr(cameras, name, None)
        if isinstance(value, torch.Tensor) and value.dtype == torch.float64:
            setattr(cameras, name, value.float())
    return dataset


@dataclass
class CheckedDataManagerConfig(VanillaDataManagerConfig):
    """VanillaDataManagerConfig whose datamanager checks the scene first (see ``CheckedDataManager``)."""

    _target: Type = field(default_factory=lambda: CheckedDataManager)
