"""``llff-data``: a nerfstudio dataparser for scenes in LLFF's layout (Mildenhall et al. 2019, 2020).

The layout the NeRF paper's real forward-facing scenes come in: ``poses_bounds.npy`` holds one row
of 17 numbers per image (sorted file names), a 3x5 matrix ``[R | t | (h, w, f)]`` stored row-major
whose rotation columns are (down, right, backwards), then the near and far depth bounds of the
content seen from that camera; the photographs are in ``images/`` and downscaled copies in
``images_N/``. h, w and f belong to the full-size photographs.

What the parser does, as the NeRF code's ``load_llff_data`` (``recenter=True, bd_factor=0.75``):

- turns the rotation into nerfstudio's (right, up, backwards);
- scales the scene so that the nearest bound is ``1 / bd_factor`` (so NDC's near plane at 1 lies
  in front of everything) and recentres the poses on their average pose;
- scales f by the width of the loaded images;
- holds out every ``holdout_every``-th image (0, 8, 16, ... : the paper's test views) as the
  ``val`` and ``test`` splits;
- passes ``ndc_near_plane`` (1) and ``near_far`` (the scaled bounds) to the model in the metadata.

Bad input (a missing file or folder, a row count that does not match the images, mixed image
sizes, a malformed array) stops with one line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple, Type

import numpy as np
import torch
from nerfstudio.cameras.cameras import Cameras, CameraType
from nerfstudio.data.dataparsers.base_dataparser import DataParser, DataParserConfig, DataparserOutputs
from nerfstudio.data.scene_box import SceneBox
from nerfstudio.plugins.registry_dataparser import DataParserSpecification

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.space import average_pose
from vanilla_nerf_pe.nerf.image_checks import check_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class LLFFDataParserConfig(DataParserConfig):
    """Scenes in LLFF's layout (``poses_bounds.npy`` with ``images/`` or ``images_N/``)."""

    _target: Type = field(default_factory=lambda: LLFFDataParser)
    data: Path = Path("data/llff/fern")
    """the scene folder, holding poses_bounds.npy."""
    downscale_factor: Optional[int] = None
    """read images_N/ for N > 1, images/ for 1; None: the largest images present (images/, else the
    smallest N; fern as distributed with the NeRF paper: images_8, the resolution of its LLFF results)."""
    holdout_every: int = 8
    """every N-th image (0, N, 2N, ...) is a test view (the paper's 8); 0 keeps every image for training."""
    bd_factor: float = 0.75
    """the nearest depth bound becomes 1 / bd_factor after scaling (LLFF's 0.75)."""


def read_poses_bounds(path: Path) -> np.ndarray:
    """``poses_bounds.npy`` as an [N, 17] float64 array; InputError on a missing or malformed file."""
    if not path.is_file():
        raise InputError(f"{path}: no such file (an LLFF scene holds poses_bounds.npy beside images/ or images_N/)")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from None
    if array.ndim != 2 or array.shape[1] != 17 or len(array) == 0:
        raise InputError(f"{path}: expected N rows of 17 numbers (3x5 pose and 2 bounds), got shape {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise InputError(f"{path}: holds non-finite numbers")
    bounds = array[:, 15:17]
    if (bounds[:, 0] <= 0).any() or (bounds[:, 1] <= bounds[:, 0]).any():
        raise InputError(f"{path}: every row needs depth bounds 0 < near < far")
    return array.astype(np.float64)


def image_files(folder: Path, data: Path) -> List[Path]:
    if not folder.is_dir():
        present = sorted(p.name for p in data.iterdir() if p.is_dir() and p.name.startswith("images"))
        raise InputError(f"{folder}: no such folder (found {', '.join(present) or 'no images folders'}; choose --downscale-factor to match)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no .png or .jpg images")
    return files


def largest_images(data: Path) -> int:
    """The downscale factor of the largest images in ``data``: 1 for images/, else the smallest N of images_N/."""
    factors = [1] if (data / "images").is_dir() else []
    factors += [int(p.name[7:]) for p in data.glob("images_*") if p.is_dir() and p.name[7:].isdigit()]
    if not factors:
        raise InputError(f"--data {data}: no images/ or images_N/ folder beside poses_bounds.npy")
    return min(factors)


def llff_cameras(array: np.ndarray, width: int, height: int, bd_factor: float) -> Tuple[np.ndarray, np.ndarray, float, float, np.ndarray]:
    """Poses [N, 3, 4] in nerfstudio's convention, recentred and scaled; the scaled bounds [N, 2];
    the focal length in pixels of the loaded images; the scale; the transform [3, 4] applied
    before scaling (nerfstudio's ``dataparser_transform``)."""
    pose_hwf = array[:, :15].reshape(-1, 3, 5)
    bounds = array[:, 15:17]
    h, w, f = pose_hwf[0, :, 4]
    focal = float(f) * width / float(w)
    # (down, right, back) -> (right, up, back)
    poses = np.concatenate([pose_hwf[:, :, 1:2], -pose_hwf[:, :, 0:1], pose_hwf[:, :, 2:4]], axis=2)
    scale = 1.0 / (bounds.min() * bd_factor)
    average = average_pose(torch.from_numpy(poses)).numpy()
    inverse = np.linalg.inv(np.concatenate([average, [[0, 0, 0, 1]]], axis=0))[:3]
    recentred = inverse[None, :, :3] @ poses
    recentred[:, :, 3] = (recentred[:, :, 3] + inverse[None, :, 3]) * scale
    return recentred, bounds * scale, focal, scale, inverse


def frustum_box(poses: np.ndarray, bounds: np.ndarray, focal: float, width: int, height: int) -> np.ndarray:
    """[2, 3] the box around every camera's view frustum between its near and far bounds."""
    corners = np.array([[x, y, -1.0] for x in (-width / 2 / focal, width / 2 / focal) for y in (-height / 2 / focal, height / 2 / focal)])
    points = [poses[:, None, :, :3] @ (corners[None, :, :, None] * depth[:, None, None, None]) for depth in (bounds[:, 0], bounds[:, 1])]
    points = np.concatenate([p[..., 0] + poses[:, None, :, 3] for p in points], axis=1).reshape(-1, 3)
    return np.stack([points.min(0), points.max(0)])


class LLFFDataParser(DataParser):
    """See the module docstring."""

    config: LLFFDataParserConfig

    def _generate_dataparser_outputs(self, split: str = "train", **kwargs) -> DataparserOutputs:
        cfg = self.config
        data = Path(cfg.data)
        if not data.is_dir():
            raise InputError(f"--data {data}: no such directory (an LLFF scene folder with poses_bounds.npy is expected)")
        if (cfg.downscale_factor is not None and cfg.downscale_factor < 1) or cfg.holdout_every < 0 or not 0 < cfg.bd_factor <= 1:
            raise InputError("llff-data: --downscale-factor must be >= 1, --holdout-every >= 0 and --bd-factor in (0, 1]")
        array = read_poses_bounds(data / "poses_bounds.npy")
        factor = cfg.downscale_factor if cfg.downscale_factor is not None else largest_images(data)
        folder = data / ("images" if factor == 1 else f"images_{factor}")
        files = image_files(folder, data)
        if len(files) != len(array):
            raise InputError(f"{data / 'poses_bounds.npy'}: {len(array)} rows but {folder} holds {len(files)} images; they must match one to one")
        sizes = [check_image(p, f"llff-data {folder}") for p in files]
        if len(set(sizes)) > 1:
            odd = next(p for p, s in zip(files, sizes) if s != sizes[0])
            raise InputError(f"{odd}: image is {sizes[files.index(odd)][0]}x{sizes[files.index(odd)][1]} but {files[0]} is {sizes[0][0]}x{sizes[0][1]}; all views must have one size")
        width, height = sizes[0]
        poses, bounds, focal, scale, transform = llff_cameras(array, width, height, cfg.bd_factor)
        test = np.arange(len(files)) % cfg.holdout_every == 0 if cfg.holdout_every > 0 else np.zeros(len(files), dtype=bool)
        if test.all():
            raise InputError(f"llff-data: --holdout-every {cfg.holdout_every} leaves no training image")
        indices = np.nonzero(~test if split == "train" else test)[0]
        if len(indices) == 0:  # no held-out views: evaluate on the training views
            indices = np.arange(len(files))
        cameras = Cameras(
            camera_to_worlds=torch.from_numpy(poses[indices]).float(),
            fx=focal, fy=focal, cx=width / 2.0, cy=height / 2.0, width=width, height=height,
            camera_type=CameraType.PERSPECTIVE,
        )
        box = frustum_box(poses, bounds, focal, width, height)
        return DataparserOutputs(
            image_filenames=[files[i] for i in indices],
            cameras=cameras,
            scene_box=SceneBox(aabb=torch.from_numpy(box).float()),
            dataparser_scale=scale,
            dataparser_transform=torch.from_numpy(transform).float(),
            metadata={"ndc_near_plane": 1.0, "near_far": (float(bounds.min()), float(bounds.max()))},
        )


def nerfstudio_transforms(data: Path, downscale_factor: Optional[int] = None, holdout_every: int = 8) -> dict:
    """The LLFF scene as nerfstudio-data's ``transforms.json`` (absolute image paths, OpenGL poses as
    in the file, unscaled; the same held-out views as ``split_filenames``), so that nerfstudio's own
    methods read the same images, cameras and split (the benchmark's nerfacto runs)."""
    data = Path(data)
    array = read_poses_bounds(data / "poses_bounds.npy")
    factor = downscale_factor if downscale_factor is not None else largest_images(data)
    files = image_files(data / ("images" if factor == 1 else f"images_{factor}"), data)
    if len(files) != len(array):
        raise InputError(f"{data / 'poses_bounds.npy'}: {len(array)} rows but {len(files)} images")
    width, height = check_image(files[0], str(data))
    pose_hwf = array[:, :15].reshape(-1, 3, 5)
    focal = float(pose_hwf[0, 2, 4]) * width / float(pose_hwf[0, 1, 4])
    poses = np.concatenate([pose_hwf[:, :, 1:2], -pose_hwf[:, :, 0:1], pose_hwf[:, :, 2:4]], axis=2)
    frames = [{"file_path": str(f.resolve()), "transform_matrix": np.concatenate([p, [[0, 0, 0, 1]]]).tolist()} for f, p in zip(files, poses)]
    test = [str(f.resolve()) for i, f in enumerate(files) if holdout_every and i % holdout_every == 0]
    train = [str(f.resolve()) for f in files if str(f.resolve()) not in test]
    return {
        "camera_model": "OPENCV", "fl_x": focal, "fl_y": focal, "cx": width / 2.0, "cy": height / 2.0, "w": width, "h": height,
        "frames": frames, "train_filenames": train, "val_filenames": test, "test_filenames": test,
    }


llff_data = DataParserSpecification(
    config=LLFFDataParserConfig(),
    description="LLFF layout (poses_bounds.npy + images_N/): the NeRF paper's real forward-facing scenes.",
)
