"""From a video to a nerfstudio-data capture: nerfstudio's ``ns-process-data video`` (ffmpeg
extracts the frames, COLMAP poses them), run with the flags this machine needs and its failures
told in one line.

``ns-process-data`` fails in three ways, none of them ours to fix: it exits 1 after printing a
failed command's output (COLMAP crashed, ffmpeg could not read the file); it exits 0 without a
``transforms.json`` when COLMAP reconstructed nothing (a clip too short, too dark, too featureless
or with too little overlap between frames); or it poses only part of the frames.
:func:`process_video` turns the first two into an :class:`~vanilla_nerf_pe.core.errors.InputError`
of one line and reports the third in its result.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Literal, Optional

from vanilla_nerf_pe.core.errors import InputError

Matching = Literal["sequential", "exhaustive"]
CameraType = Literal["perspective", "pinhole", "simple_pinhole"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class ProcessedCapture:
    """What ``ns-process-data video`` made of a video."""

    folder: Path
    """the nerfstudio-data folder (``transforms.json`` and ``images/``)."""
    num_frames: int
    """frames extracted from the video."""
    num_posed: int
    """frames COLMAP found a pose for (the frames of ``transforms.json``)."""
    seconds: float
    """wall-clock time of ``ns-process-data``."""


def process_video_command(video: Path, out: Path, matching: Matching = "sequential", gpu: bool = False,
                          num_downscales: int = 3, num_frames_target: int = 300, camera_type: CameraType = "perspective",
                          refine_intrinsics: bool = True) -> List[str]:
    """The ``ns-process-data video`` command line: COLMAP's ``sequential`` matcher for a video
    (neighbouring frames; nerfstudio's default ``vocab_tree`` downloads a file) or ``exhaustive``,
    ``--no-gpu`` off a GPU, COLMAP's camera model (``perspective``: OpenCV's, with distortion;
    ``pinhole``; ``simple_pinhole``: one focal length) and, with ``refine_intrinsics`` False,
    ``--no-refine-intrinsics`` (no second bundle adjustment that also moves the principal point)."""
    cmd = ["ns-process-data", "video", "--data", str(video), "--output-dir", str(out), "--matching-method", matching,
           "--num-downscales", str(num_downscales), "--num-frames-target", str(num_frames_target), "--camera-type", camera_type]
    return cmd + ([] if gpu else ["--no-gpu"]) + ([] if refine_intrinsics else ["--no-refine-intrinsics"])


def failure_line(output: str) -> str:
    """The line of ``ns-process-data``'s output that says what failed (the first error line,
    else the last non-empty line), without colour codes."""
    lines = [ANSI.sub("", line).strip() for line in output.splitlines()]
    lines = [line for line in lines if line and not set(line) <= set("─━-=│ ")]
    for line in lines:
        if re.search(r"\b(error|failed|could not|cannot)\b", line, re.IGNORECASE):
            return line
    return lines[-1] if lines else "no output"


def process_video(video: Path, out: Path, matching: Matching = "sequential", gpu: bool = False, num_downscales: int = 3,
                  timeout: Optional[float] = None, env: Optional[dict] = None, camera_type: CameraType = "perspective",
                  refine_intrinsics: bool = True) -> ProcessedCapture:
    """Run ``ns-process-data video`` on ``video`` into ``out`` (options: :func:`process_video_command`);
    raise InputError with one line when it fails or COLMAP poses fewer than 3 frames."""
    import time

    video, out = Path(video), Path(out)
    if not video.is_file():
        raise InputError(f"--data {video}: no such video file")
    for tool in ("ns-process-data", "colmap", "ffmpeg"):
        if shutil.which(tool) is None:
            raise InputError(f"{tool} is not on PATH: ns-process-data needs it (apt-get install colmap ffmpeg)")
    start = time.perf_counter()
    try:
        proc = subprocess.run(process_video_command(video, out, matching, gpu, num_downscales, camera_type=camera_type,
                                                    refine_intrinsics=refine_intrinsics), capture_output=True, text=True,
                              timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InputError(f"ns-process-data video {video}: not done after {timeout:.0f} s") from None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise InputError(f"ns-process-data video {video} failed (exit {proc.returncode}): {failure_line(proc.stdout + proc.stderr)}")
    num_frames = len(list((out / "images").glob("frame_*.png")))
    transforms = out / "transforms.json"
    if not transforms.is_file():
        raise InputError(f"COLMAP found no poses for the {num_frames} frames of {video} (too short, too dark, too little texture or overlap)")
    num_posed = len(json.loads(transforms.read_text()).get("frames", []))
    if num_posed < 3:
        raise InputError(f"COLMAP posed only {num_posed} of the {num_frames} frames of {video}: too few to train on")
    return ProcessedCapture(out, num_frames, num_posed, seconds)
