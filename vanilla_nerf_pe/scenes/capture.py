"""Demo scenes shaped like a user's own captures: forward-facing (LLFF layout) and unbounded 360°
(nerfstudio-data layout), ray traced from the objects of :mod:`vanilla_nerf_pe.scenes.shapes`.

Both are deterministic (the seed only jitters the cameras), opaque everywhere (RGB images without
alpha: every ray ends on a textured surface) and write each view's depth beside its image
(``<name>_depth.npy``: distance along the unit ray through the pixel centre, as
:mod:`~vanilla_nerf_pe.scenes.blender`'s).

- ``forward-facing``: a textured wall behind the objects, cameras on a small plane in front of
  them, all looking the same way (as an LLFF capture). Written as LLFF's layout:
  ``poses_bounds.npy`` (rotation columns (down, right, back), h, w, f, and each camera's near and
  far z-depth bounds) and ``images/r_NNN.png``, read by ``llff-data --downscale-factor 1``.
- ``unbounded``: cameras orbiting the objects, inside a large textured sphere (the "sky" and far
  walls). Written as nerfstudio-data's layout: ``transforms.json`` with ``fl_x``, ``fl_y``,
  ``cx``, ``cy``, ``w``, ``h`` and frames ``images/r_NNN.png`` (and instant-ngp's ``aabb_scale``
  16, so nerfstudio's ``instant-ngp-data`` reads it too), and the same cameras as a COLMAP text
  model in ``colmap/sparse/0`` (nerfstudio's ``colmap`` dataparser).

The world is the one of :mod:`~vanilla_nerf_pe.scenes.shapes`: +z up, objects within 1.25 of the origin.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Tuple

import numpy as np
from PIL import Image

from vanilla_nerf_pe.core.errors import InputError, VanillaNeRFError
from vanilla_nerf_pe.scenes.cameras import camera_rays, focal_length, look_at
from vanilla_nerf_pe.scenes.shapes import OBJECTS, Box, Sphere, trace

GENERATOR = "vanilla_nerf_pe.scenes.capture"

CAPTURE_KINDS = ("forward-facing", "unbounded")


@dataclasses.dataclass(frozen=True)
class Environment(Sphere):
    """A sphere seen from inside (the far surroundings): its normal points inwards."""

    def normal(self, points: np.ndarray) -> np.ndarray:
        return -super().normal(points)


WALL = Box(
    name="wall", center=(0.0, 10.1, 1.0), half_size=(16.0, 0.1, 12.0), texture="checker", freq=0.8,
    color_a=(1.0, 0.95, 0.7), color_b=(0.35, 0.3, 0.65),
)
"""The forward-facing scene's far wall (its face at y = 10, five times as far as the nearest
object: depth ranges like LLFF's, where a box around everything wastes its samples)."""
SKY = Environment(
    name="sky", center=(0.0, 0.0, 0.0), radius=7.0, texture="stripes", freq=3.0,
    color_a=(0.45, 0.65, 0.95), color_b=(0.9, 0.55, 0.3), stripe_dir=(0.3, 0.5, 1.0),
)
"""The unbounded scene's surroundings, 7 units from the centre."""


@dataclasses.dataclass(frozen=True)
class CaptureConfig:
    """Parameters of a capture-like demo scene."""

    kind: str = "forward-facing"
    """"forward-facing" or "unbounded"."""
    width: int = 96
    """image width in pixels (height: 3/4 of it, as LLFF's photographs)."""
    num_views: int = 24
    """views written (llff-data holds out every 8th, nerfstudio-data every 10th for evaluation)."""
    seed: int = 0
    """seed of the cameras' jitter."""
    supersample: int = 2
    """anti-aliasing: supersample x supersample rays per pixel."""
    camera_angle_x: float = math.radians(55.0)
    """horizontal field of view in radians."""

    @property
    def height(self) -> int:
        return max(1, round(self.width * 3 / 4))

    def validate(self) -> None:
        if self.kind not in CAPTURE_KINDS:
            raise InputError(f"--kind {self.kind!r}: choose one of bounded, {', '.join(CAPTURE_KINDS)}")
        if self.width < 4 or self.num_views < 2 or self.supersample < 1:
            raise InputError("width must be >= 4, num_views >= 2 and supersample >= 1")
        if not 0 < self.camera_angle_x < math.pi:
            raise InputError(f"camera_angle_x must be in (0, pi), got {self.camera_angle_x}")


def capture_poses(config: CaptureConfig) -> np.ndarray:
    """[N, 4, 4] camera-to-world matrices (OpenGL convention) of the capture's views."""
    rng = np.random.default_rng(np.random.SeedSequence([int(config.seed), 7]))
    n = config.num_views
    if config.kind == "forward-facing":
        # a hand-held sweep: a grid on the plane y = -3.2, every camera looking along +y (and a little down)
        cols = math.ceil(math.sqrt(n * 4 / 3))
        k = np.arange(n)
        x = -0.6 + 1.2 * (k % cols) / max(cols - 1, 1)
        z = 0.05 + 0.45 * (k // cols) / max(math.ceil(n / cols) - 1, 1)
        eyes = np.stack([x, np.full(n, -3.2), z], -1) + rng.normal(0.0, 0.02, (n, 3))
        return np.stack([look_at(eye, eye + np.array([0.0, 1.0, -0.12]) + rng.normal(0.0, 0.01, 3)) for eye in eyes])
    azimuth = 2.0 * np.pi * (np.arange(n) + rng.uniform(0.0, 0.5, n)) / n
    elevation = np.radians(rng.uniform(10.0, 40.0, n))
    radius = 2.6
    eyes = radius * np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)], -1)
    return np.stack([look_at(eye, (0.0, 0.0, -0.25)) for eye in eyes])


def render_opaque_view(c2w: np.ndarray, config: CaptureConfig, objects) -> Tuple[np.ndarray, np.ndarray]:
    """rgb [H, W, 3] uint8 (supersampled) and depth [H, W] float32 (pixel-centre rays) of one view."""
    h, w, s = config.height, config.width, config.supersample
    _, d = camera_rays(c2w, h, w, config.camera_angle_x, s)
    _, rgb, hit = trace(c2w[:3, 3], d, objects)
    if not hit.all():
        raise VanillaNeRFError("a ray of the capture scene hit nothing")  # the wall / sky encloses every view
    rgb = rgb.reshape(h, w, s * s, 3).mean(axis=2)
    _, dc = camera_rays(c2w, h, w, config.camera_angle_x, 1)
    depth, _, _ = trace(c2w[:3, 3], dc[:, :, 0, 0], objects)
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8), depth.astype(np.float32)


def focal(config: CaptureConfig) -> float:
    """The focal length in pixels of the capture's cameras (:func:`~vanilla_nerf_pe.scenes.cameras.focal_length`)."""
    return focal_length(config.width, config.camera_angle_x)


def rotation_to_quaternion(r: np.ndarray) -> np.ndarray:
    """(w, x, y, z) of a 3x3 rotation matrix (COLMAP's order)."""
    w = math.sqrt(max(0.0, 1.0 + r[0, 0] + r[1, 1] + r[2, 2])) / 2
    x = math.copysign(math.sqrt(max(0.0, 1.0 + r[0, 0] - r[1, 1] - r[2, 2])) / 2, r[2, 1] - r[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1.0 - r[0, 0] + r[1, 1] - r[2, 2])) / 2, r[0, 2] - r[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1.0 - r[0, 0] - r[1, 1] + r[2, 2])) / 2, r[1, 0] - r[0, 1])
    return np.array([w, x, y, z])


def write_colmap_text(folder: Path, poses: np.ndarray, config: CaptureConfig, objects) -> None:
    """The cameras as a COLMAP text model (``cameras.txt``, ``images.txt``, ``points3D.txt`` with
    points on the surfaces seen by the first camera), read by nerfstudio's ``colmap`` dataparser."""
    folder.mkdir(parents=True, exist_ok=True)
    f = focal(config)
    (folder / "cameras.txt").write_text(f"1 PINHOLE {config.width} {config.height} {f} {f} {config.width / 2} {config.height / 2}\n")
    lines = []
    for i, c2w in enumerate(poses):
        c2w_cv = c2w[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # COLMAP's camera: x right, y down, looking along +z
        rotation = c2w_cv.T
        translation = -rotation @ c2w[:3, 3]
        q = rotation_to_quaternion(rotation)
        lines += [f"{i + 1} {' '.join(map(str, q))} {' '.join(map(str, translation))} 1 r_{i:03d}.png", ""]
    (folder / "images.txt").write_text("\n".join(lines) + "\n")
    _, d = camera_rays(poses[0], config.height, config.width, config.camera_angle_x, 1)
    d = d[::4, ::4, 0, 0].reshape(-1, 3)
    t, rgb, _ = trace(poses[0][:3, 3], d, objects)
    points = poses[0][:3, 3] + t[:, None] * d
    rows = [f"{k + 1} {p[0]} {p[1]} {p[2]} {int(c[0] * 255)} {int(c[1] * 255)} {int(c[2] * 255)} 0.5" for k, (p, c) in enumerate(zip(points, rgb))]
    (folder / "points3D.txt").write_text("\n".join(rows) + "\n")


def write_capture_scene(out_dir: Path, config: CaptureConfig) -> Path:
    """Render the capture-like scene of ``config.kind`` to ``out_dir`` (see the module docstring)."""
    config.validate()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: output path exists and is not a directory")
    objects = OBJECTS + ((WALL,) if config.kind == "forward-facing" else (SKY,))
    poses = capture_poses(config)
    try:
        images = out_dir / "images"
        images.mkdir(parents=True, exist_ok=True)
        rows, frames = [], []
        for i, c2w in enumerate(poses):
            rgb, depth = render_opaque_view(c2w, config, objects)
            name = f"r_{i:03d}"
            Image.fromarray(rgb).save(images / f"{name}.png")
            np.save(images / f"{name}_depth.npy", depth)
            if config.kind == "forward-facing":
                # LLFF's bounds are z-depths in the camera frame: ray distance times cos(angle to the axis)
                _, dc = camera_rays(c2w, config.height, config.width, config.camera_angle_x, 1)
                z = depth * (dc[:, :, 0, 0] @ -c2w[:3, 2])
                down_right_back = np.stack([-c2w[:3, 1], c2w[:3, 0], c2w[:3, 2], c2w[:3, 3]], axis=1)
                hwf = np.array([[config.height], [config.width], [focal(config)]])
                rows.append(np.concatenate([np.concatenate([down_right_back, hwf], axis=1).ravel(), [0.9 * z.min(), 1.1 * z.max()]]))
            else:
                frames.append({"file_path": f"images/{name}.png", "transform_matrix": c2w.tolist()})
        if config.kind == "forward-facing":
            np.save(out_dir / "poses_bounds.npy", np.stack(rows))
        else:
            transforms = {
                "camera_model": "OPENCV", "fl_x": focal(config), "fl_y": focal(config),
                "cx": config.width / 2.0, "cy": config.height / 2.0, "w": config.width, "h": config.height,
                "aabb_scale": 16,  # instant-ngp's value for scenes with a background (read by instant-ngp-data)
                "frames": frames,
            }
            (out_dir / "transforms.json").write_text(json.dumps(transforms, indent=2) + "\n")
            write_colmap_text(out_dir / "colmap" / "sparse" / "0", poses, config, objects)
        (out_dir / "scene.json").write_text(json.dumps({
            "generator": GENERATOR, "config": dataclasses.asdict(config),
            "depth": "distance along the unit ray from the camera centre to the first hit (pixel-centre ray)",
            "objects": [obj.to_dict() for obj in objects],
        }, indent=2) + "\n")
    except OSError as exc:
        raise InputError(f"{exc.filename or out_dir}: cannot write ({exc.strerror or exc})") from None
    return out_dir
