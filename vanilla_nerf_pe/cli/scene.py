"""Console script ``vnp-scene``: write a procedural demo scene (:mod:`vanilla_nerf_pe.scenes`).

The bounded object scene in the NeRF-synthetic (Blender) layout
(:func:`~vanilla_nerf_pe.scenes.blender.write_scene`), or a capture-like scene, forward-facing
(LLFF layout) or unbounded (nerfstudio-data layout)
(:func:`~vanilla_nerf_pe.scenes.capture.write_capture_scene`). Bad input is an
:class:`~vanilla_nerf_pe.core.errors.InputError`: exit status 2 and one line,
``vnp-scene: error: MESSAGE``, on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, Tuple, Union

import tyro
from typing_extensions import Annotated

from vanilla_nerf_pe.core.errors import InputError, run_cli
from vanilla_nerf_pe.scenes.blender import SceneConfig, write_scene
from vanilla_nerf_pe.scenes.capture import CaptureConfig, write_capture_scene
from vanilla_nerf_pe.scenes.capture_video import VideoConfig, write_capture_video

PROG = "vnp-scene"


def vnp_scene(
    out_dir: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="OUT_DIR")],
    kind: Literal["bounded", "forward-facing", "unbounded"] = "bounded",
    resolution: int = SceneConfig.resolution,
    num_train: int = SceneConfig.num_train,
    num_val: int = SceneConfig.num_val,
    num_test: int = SceneConfig.num_test,
    seed: int = SceneConfig.seed,
    supersample: int = SceneConfig.supersample,
    num_views: Optional[int] = None,
    video: bool = False,
) -> Tuple[Path, Union[SceneConfig, CaptureConfig, VideoConfig]]:
    """Render a procedural demo scene to OUT_DIR: the bounded object scene in the NeRF-synthetic
    (Blender) layout, or a capture-like scene (forward-facing: LLFF layout; unbounded:
    nerfstudio-data layout).

    Args:
        out_dir: Output directory (created if missing).
        kind: bounded (Blender layout, blender-data), forward-facing (LLFF layout, llff-data
            --downscale-factor 1) or unbounded (nerfstudio-data layout, nerfstudio-data).
        resolution: Image width and height in pixels (capture kinds: width; height is 3/4 of it).
        num_train: Number of training views (>= 1).
        num_val: Number of validation views.
        num_test: Number of test views (orbit at 30 degrees elevation).
        seed: Seed of the random train/val camera poses.
        supersample: Anti-aliasing with supersample x supersample rays per pixel.
        num_views: Number of views of the capture kinds (held-out views are chosen by the
            dataparser); default 24, a video's frames 60.
        video: with --kind unbounded: an orbit as a phone video (video.mp4) with per-frame
            exposure, white balance and motion blur, its frames, their true poses
            (transforms.json) and clean frames (:mod:`vanilla_nerf_pe.scenes.capture_video`).
    """
    if video:
        if kind != "unbounded":
            raise InputError(f"--video renders an orbit of the unbounded scene: use it with --kind unbounded, not {kind}")
        return out_dir, VideoConfig(width=resolution if resolution != SceneConfig.resolution else VideoConfig.width,
                                    num_frames=num_views or VideoConfig.num_frames, seed=seed, supersample=supersample)
    if kind != "bounded":
        return out_dir, CaptureConfig(kind=kind, width=resolution if resolution != SceneConfig.resolution else 96,
                                      num_views=num_views or 24, seed=seed, supersample=supersample)
    return out_dir, SceneConfig(
        resolution=resolution, num_train=num_train, num_val=num_val, num_test=num_test, seed=seed, supersample=supersample,
    )


def _run(argv) -> None:
    out_dir, config = tyro.cli(vnp_scene, prog=PROG, args=argv)
    if isinstance(config, VideoConfig):
        write_capture_video(out_dir, config)
        print(f"{PROG}: wrote a video of {config.num_frames} frames ({config.width}x{config.height}, seed {config.seed}) and its true poses to {out_dir}")
        return
    if isinstance(config, CaptureConfig):
        write_capture_scene(out_dir, config)
        print(f"{PROG}: wrote a {config.kind} scene, {config.num_views} views ({config.width}x{config.height}, seed {config.seed}) to {out_dir}")
        return
    write_scene(out_dir, config)
    print(
        f"{PROG}: wrote {config.num_train} train / {config.num_val} val / {config.num_test} test views "
        f"({config.resolution}x{config.resolution}, {config.supersample}x{config.supersample} supersampling, "
        f"seed {config.seed}) to {out_dir}"
    )


def main(argv=None) -> None:
    """Console entry point ``vnp-scene``."""
    run_cli(PROG, lambda: _run(argv))


if __name__ == "__main__":
    main()
