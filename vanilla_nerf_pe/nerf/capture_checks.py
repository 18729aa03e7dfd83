"""Checks of a nerfstudio-data capture (``ns-process-data``'s output) before nerfstudio loads it.

nerfstudio's ``nerfstudio-data`` parser meets a frame whose image is missing with a traceback from
deep in its image loader, and images of mixed sizes under one camera (``w``, ``h`` at the top of
``transforms.json``) with a crash when a batch stacks them, or silently with rays through the
wrong pixels. :func:`check_nerfstudio_capture` reads ``transforms.json`` and every image header the
parser is about to load and stops at the first problem with one line that names the file and what
is wrong (an :class:`~vanilla_nerf_pe.core.errors.InputError`: ``ns-train`` prints
``ns-train: error: MESSAGE`` and exits with status 2). :class:`~vanilla_nerf_pe.nerf.data.CheckedDataManager`
runs it for the ``nerfstudio-data`` dataparser.

No nerfstudio import here (as :mod:`vanilla_nerf_pe.nerf.image_checks`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Tuple

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.nerf.image_checks import check_image


def transforms_path(data: Path) -> Tuple[Path, Path]:
    """(transforms.json, the folder its paths are relative to) for ``--data`` as nerfstudio-data
    takes it: a folder holding ``transforms.json``, or the JSON file itself."""
    if not data.exists():
        raise InputError(f"--data {data}: no such file or directory")
    if data.suffix == ".json":
        return data, data.parent
    path = data / "transforms.json"
    if not path.is_file():
        raise InputError(
            f"--data {data}: no transforms.json (a nerfstudio-data capture is ns-process-data's output folder: "
            f"transforms.json and images/)"
        )
    return path, data


def read_json_object(path: Path, expected: str) -> dict:
    """The JSON object in ``path``; :class:`InputError` naming the file when it cannot be read, is not
    JSON, or is not an object (``expected`` says what it should hold)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{path}: expected a JSON object with {expected}, got {type(meta).__name__}")
    return meta


def check_transform_matrix(value, where: str) -> None:
    """:class:`InputError` at ``where`` unless ``value`` is a 4x4 (or 3x4) list of finite numbers."""
    ok = (
        isinstance(value, list) and len(value) in (3, 4)
        and all(isinstance(row, list) and len(row) == 4 for row in value)
        and all(isinstance(x, (int, float)) and math.isfinite(x) for row in value for x in row)
    )
    if not ok:
        raise InputError(f"{where}: 'transform_matrix' must be a 4x4 (or 3x4) list of finite numbers")


def _load_transforms(path: Path) -> dict:
    meta = read_json_object(path, "a non-empty list 'frames'")
    if not isinstance(meta.get("frames"), list) or not meta["frames"]:
        raise InputError(f"{path}: expected a JSON object with a non-empty list 'frames'")
    return meta


def image_path(data_dir: Path, file_path: str, downscale_factor: Optional[int]) -> Path:
    """Where nerfstudio-data reads a frame's image: ``images_N/<name>`` with ``--downscale-factor N``
    > 1, else the frame's own ``file_path`` (relative to the folder of transforms.json)."""
    if downscale_factor is not None and downscale_factor > 1:
        return data_dir / f"images_{downscale_factor}" / Path(file_path).name
    return data_dir / file_path


def check_nerfstudio_capture(data: Path, downscale_factor: Optional[int] = None) -> None:
    """Check what nerfstudio's ``nerfstudio-data`` parser will read from ``data``; raise
    InputError on the first problem.

    Checks: ``transforms.json`` exists and is a JSON object with a non-empty ``frames`` list; each
    frame has a string ``file_path`` and a finite 4x4 (or 3x4) ``transform_matrix``; each frame's
    image exists and is an image nerfstudio's loader reads correctly; images whose frame has no
    ``w`` and ``h`` of its own (they share the file's one camera) all have one size, the file's
    ``w`` x ``h`` where it gives them (at full resolution).
    """
    path, data_dir = transforms_path(Path(data))
    meta = _load_transforms(path)
    shared: Optional[Tuple[Tuple[int, int], Path]] = None
    scale = downscale_factor if downscale_factor and downscale_factor > 1 else 1
    if scale == 1 and isinstance(meta.get("w"), int) and isinstance(meta.get("h"), int):
        shared = ((meta["w"], meta["h"]), path)
    for i, frame in enumerate(meta["frames"]):
        where = f"{path} frame {i}"
        if not isinstance(frame, dict) or not isinstance(frame.get("file_path"), str):
            raise InputError(f"{where}: missing 'file_path'")
        check_transform_matrix(frame.get("transform_matrix"), where)
        image = image_path(data_dir, frame["file_path"], downscale_factor)
        if not image.is_file():
            raise InputError(f"{where}: names image {image}, which does not exist")
        size = check_image(image, where)
        if isinstance(frame.get("w"), int) and isinstance(frame.get("h"), int):
            own = (frame["w"] // scale, frame["h"] // scale)
            if scale == 1 and size != own:
                raise InputError(f"{where}: image {image} is {size[0]}x{size[1]} but the frame says {own[0]}x{own[1]}")
            continue
        if shared is None:
            shared = (size, image)
        elif size != shared[0]:
            (w, h), source = shared
            raise InputError(
                f"{where}: image {image} is {size[0]}x{size[1]} but {source} {'says' if source == path else 'is'} {w}x{h}: "
                f"images of mixed sizes share one camera (resize them, or give each frame its own w, h, fl_x, fl_y, cx, cy)"
            )
