"""A generated phone video of the unbounded demo scene, with the troubles of a real one.

An orbit around the objects of :mod:`vanilla_nerf_pe.scenes.capture`' unbounded scene (inside
its textured sky sphere), ray traced frame by frame and encoded as an mp4 with ffmpeg, for
``ns-process-data video`` (ffmpeg + COLMAP) to pose as it would a phone's clip. What a phone adds,
and this video has:

- **exposure** that changes from frame to frame, smoothly, within ``exposure_stops`` stops either
  way (auto-exposure following the scene; ``exposure_curve="random"``: each frame's drawn on its own);
- **white balance** that drifts: the red and blue gains within ``white_balance_stops`` stops;
- **motion blur**: each frame is the average of ``motion_blur_subframes`` renders spread over the
  part ``shutter`` of the interval to the next frame (the camera keeps moving while the shutter is open);
- **hand shake**: the orbit wobbles by a few hundredths of the orbit's radius.

Exposure and white balance act on linear light (the renders are read as sRGB, linearised, scaled,
clipped as a sensor clips, and encoded back to sRGB), the blur too.

Written to the output folder:

- ``video.mp4``: the clip (H.264, ``fps`` frames per second);
- ``images/frame_00001.png``, ...: the same frames losslessly, numbered as ``ns-process-data
  video`` numbers the frames it extracts;
- ``transforms.json``: the true pose of each frame (at the middle of its exposure), in
  nerfstudio-data's layout; with ``images/`` the folder is a capture with perfect poses;
- ``clean/frame_00001.png``, ...: each frame at its true pose without exposure, white-balance or
  blur changes: the ground truth to score renders of held-out frames against;
- ``capture.json``: the options and each frame's exposure (stops) and red / blue gains.

Everything is deterministic for a ``seed`` (the ray tracer is exact; ffmpeg's x264 encoder runs on
one thread here).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Literal, Tuple

import numpy as np
from PIL import Image

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.scenes.capture import SKY, CaptureConfig, focal, render_opaque_view
from vanilla_nerf_pe.scenes.cameras import look_at
from vanilla_nerf_pe.scenes.shapes import OBJECTS

ORBIT_RADIUS = 2.6
"""distance of the cameras from the orbit's axis (the unbounded demo scene's)."""
ORBIT_TARGET = (0.0, 0.0, -0.25)
"""the point the cameras look at (the unbounded demo scene's)."""


@dataclasses.dataclass(frozen=True)
class VideoConfig:
    """Options of the generated video capture."""

    width: int = 160
    """frame width in pixels, a multiple of 8 (height: 3/4 of it; H.264's 4:2:0 needs both even)."""
    num_frames: int = 60
    """frames of the clip."""
    orbit_degrees: float = 360.0
    """the arc of the orbit around the objects that the clip covers."""
    fps: int = 10
    """frame rate of the mp4."""
    seed: int = 0
    """seed of the hand shake, the exposure and white-balance curves."""
    exposure_stops: float = 1.0
    """the exposure varies within this many stops either way (0: fixed)."""
    white_balance_stops: float = 0.25
    """the red and blue gains vary within this many stops either way (0: fixed)."""
    exposure_curve: Literal["smooth", "random"] = "smooth"
    """how exposure and white balance change from frame to frame: "smooth" (a phone's auto-exposure
    following the scene: neighbouring frames alike) or "random" (each frame's drawn on its own,
    uniformly within the ranges: photographs taken with different settings)."""
    motion_blur_subframes: int = 3
    """renders averaged per frame (1: no motion blur); odd, so that the middle one is the frame's pose."""
    shutter: float = 0.25
    """the part of the interval between frames during which the shutter is open (the blur's length)."""
    shake: float = 0.03
    """amplitude of the hand shake, in units of the scene (the orbit's radius is 2.6)."""
    supersample: int = 1
    """anti-aliasing of each render: supersample x supersample rays per pixel."""
    camera_angle_x: float = math.radians(60.0)
    """horizontal field of view in radians."""
    crf: int = 18
    """x264's constant rate factor (lower: closer to the frames; 18 is visually lossless)."""

    @property
    def height(self) -> int:
        return self.width * 3 // 4

    def capture_config(self) -> CaptureConfig:
        """The unbounded demo scene's options with this video's frame size and lens."""
        return CaptureConfig("unbounded", width=self.width, num_views=max(self.num_frames, 2), seed=self.seed,
                             supersample=self.supersample, camera_angle_x=self.camera_angle_x)

    def validate(self) -> None:
        if self.width < 8 or self.width % 8:
            raise InputError(f"--resolution {self.width}: the video's width must be a multiple of 8 (its height, 3/4 of it, even)")
        if not 0 < self.orbit_degrees <= 360:
            raise InputError(f"orbit_degrees must be in (0, 360], got {self.orbit_degrees}")
        if self.num_frames < 3:
            raise InputError(f"--num-views {self.num_frames}: a video needs at least 3 frames")
        if self.motion_blur_subframes < 1 or self.motion_blur_subframes % 2 == 0:
            raise InputError(f"motion_blur_subframes must be odd and >= 1, got {self.motion_blur_subframes}")
        if not 0.0 <= self.shutter <= 1.0 or self.fps < 1 or self.exposure_stops < 0 or self.white_balance_stops < 0:
            raise InputError("shutter must be in [0, 1], fps >= 1, exposure and white-balance stops >= 0")
        if self.exposure_curve not in ("smooth", "random"):
            raise InputError(f"exposure_curve must be smooth or random, got {self.exposure_curve!r}")
        if not 0 <= self.crf <= 51:
            raise InputError(f"crf must be in [0, 51], got {self.crf}")


def smooth_curve(rng: np.random.Generator, t: np.ndarray, num_waves: int = 3) -> np.ndarray:
    """A smooth random curve of ``t`` [N] (in [0, 1): the clip) in [-1, 1], [N]: a few sines of
    random phase and 1 to 4 cycles per clip, scaled so that its extremes reach -1 and 1."""
    phases = rng.uniform(0.0, 2.0 * np.pi, num_waves)
    cycles = rng.uniform(1.0, 4.0, num_waves)
    weights = rng.uniform(0.5, 1.0, num_waves)
    curve = sum(w * np.sin(2.0 * np.pi * c * t + p) for w, c, p in zip(weights, cycles, phases))
    curve = curve - 0.5 * (curve.max() + curve.min())
    return curve / max(np.abs(curve).max(), 1e-12)


def frame_times(config: VideoConfig) -> np.ndarray:
    """[num_frames, subframes] the times (clip fraction in [0, 1)) of each frame's renders,
    centred on the frame's own time and spread over ``shutter`` of a frame interval."""
    k = config.motion_blur_subframes
    offsets = (np.arange(k) - (k - 1) / 2) / max(k - 1, 1) * config.shutter if k > 1 else np.zeros(1)
    return (np.arange(config.num_frames)[:, None] + offsets[None, :]) / config.num_frames


def orbit_pose(t: float, config: VideoConfig) -> np.ndarray:
    """[4, 4] the camera-to-world pose (OpenGL convention) at clip time ``t`` (0 to 1): an arc of
    ``orbit_degrees`` around the objects, the elevation rising and falling twice between 15 and 35
    degrees, and a smooth hand shake of the eye and of the point looked at."""
    phase = math.radians(config.orbit_degrees) * t
    elevation = np.radians(25.0 + 10.0 * math.sin(4.0 * np.pi * t))
    eye = ORBIT_RADIUS * np.array([math.cos(elevation) * math.cos(phase), math.cos(elevation) * math.sin(phase), math.sin(elevation)])
    rng = np.random.default_rng(np.random.SeedSequence([int(config.seed), 11]))
    # shake: fixed random sines of t, the same for every call (seeded), smooth across sub-frames
    amplitudes, cycles, phases = rng.uniform(0.5, 1.0, (2, 3)), rng.uniform(3.0, 9.0, (2, 3)), rng.uniform(0, 2 * np.pi, (2, 3))
    shake = config.shake * amplitudes * np.sin(2.0 * np.pi * cycles * t + phases)
    return look_at(eye + shake[0], np.asarray(ORBIT_TARGET) + shake[1])


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def camera_response(config: VideoConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Each frame's exposure in stops [num_frames] and RGB gains [num_frames, 3] (green 1), along
    ``exposure_curve``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(config.seed), 13]))
    t = np.arange(config.num_frames) / config.num_frames
    if config.exposure_curve == "random":
        curves = rng.uniform(-1.0, 1.0, (3, config.num_frames))
    else:
        curves = np.stack([smooth_curve(rng, t) for _ in range(3)])
    stops = config.exposure_stops * curves[0]
    red, blue = config.white_balance_stops * curves[1], config.white_balance_stops * curves[2]
    gains = np.stack([2.0**red, np.ones_like(red), 2.0**blue], axis=-1)
    return stops, gains


def develop(linear: np.ndarray, stops: float, gains: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8: linear light [H, W, 3] exposed by ``stops``, white-balanced by ``gains``
    [3], clipped and encoded as sRGB."""
    return np.round(linear_to_srgb(linear * (2.0**stops) * gains) * 255.0).astype(np.uint8)


def encode_mp4(frames: Path, pattern: str, out: Path, fps: int, crf: int) -> None:
    """Encode the PNG frames ``frames/pattern`` as an H.264 mp4 (yuv420p, what phones write) with ffmpeg."""
    if shutil.which("ffmpeg") is None:
        raise InputError("ffmpeg is not on PATH: install it to write the video (apt-get install ffmpeg)")
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-framerate", str(fps), "-i", str(frames / pattern), "-c:v", "libx264",
           "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p", "-threads", "1", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise InputError(f"ffmpeg could not write {out}: {last}")


def write_capture_video(out_dir: Path, config: VideoConfig = VideoConfig()) -> Path:
    """Render the video capture to ``out_dir`` (see the module docstring); returns ``out_dir``."""
    config.validate()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: output path exists and is not a directory")
    scene = config.capture_config()
    objects = OBJECTS + (SKY,)
    stops, gains = camera_response(config)
    times = frame_times(config)
    middle = config.motion_blur_subframes // 2
    h, w = config.height, config.width
    try:
        (out_dir / "images").mkdir(parents=True, exist_ok=True)
        (out_dir / "clean").mkdir(exist_ok=True)
        frames = []
        for i, frame_t in enumerate(times):
            renders = []
            for t in frame_t:
                rgb, _ = render_opaque_view(orbit_pose(float(t), config), scene, objects)
                renders.append(srgb_to_linear(rgb.astype(np.float64) / 255.0))
            name = f"frame_{i + 1:05d}.png"
            Image.fromarray(develop(np.mean(renders, axis=0), stops[i], gains[i])).save(out_dir / "images" / name)
            Image.fromarray(develop(renders[middle], 0.0, np.ones(3))).save(out_dir / "clean" / name)
            frames.append({"file_path": f"images/{name}", "transform_matrix": orbit_pose(float(frame_t[middle]), config).tolist()})
        f = focal(scene)
        transforms = {"camera_model": "OPENCV", "fl_x": f, "fl_y": f, "cx": w / 2.0, "cy": h / 2.0, "w": w, "h": h, "frames": frames}
        (out_dir / "transforms.json").write_text(json.dumps(transforms, indent=2) + "\n")
        encode_mp4(out_dir / "images", "frame_%05d.png", out_dir / "video.mp4", config.fps, config.crf)
        (out_dir / "capture.json").write_text(json.dumps({
            "generator": "vanilla_nerf_pe.scenes.capture_video", "config": dataclasses.asdict(config),
            "exposure_stops": stops.round(4).tolist(), "rgb_gains": gains.round(4).tolist(),
            "ground_truth": "clean/: each frame at its true pose, without exposure, white-balance or blur changes",
        }, indent=2) + "\n")
    except OSError as exc:
        raise InputError(f"{exc.filename or out_dir}: cannot write ({exc.strerror or exc})") from None
    return out_dir

