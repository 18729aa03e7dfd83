"""Image files in and out: ``[H, W, C]`` float32 tensors in [0, 1], ``C`` = 1 (grayscale) or 3 (RGB).

:func:`load_image` reads any image Pillow can open into that form (grayscale stays one channel,
alpha is composited on white or dropped, 16-bit data keeps its precision); :func:`save_image`
writes one as an 8-bit PNG. A file that cannot be used, read or written is an
:class:`~vanilla_nerf_pe.core.errors.InputError` whose one-line message names the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Union

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from vanilla_nerf_pe.core.errors import InputError


def load_image(path: Union[str, Path], alpha: Literal["composite", "drop"] = "composite") -> Tensor:
    """Read an image file into a ``[H, W, C]`` float32 tensor in [0, 1].

    * grayscale (modes ``1``, ``L``, 16-bit ``I;16``/``I``, float ``F``) stays one channel, C = 1;
    * 16-bit integer images are divided by 65535 (mode ``I`` is taken as 16-bit data and clipped);
    * images with an alpha channel (``RGBA``, ``LA``, palette with transparency) are composited
      on white (``alpha="composite"``, the default) or have the alpha channel discarded
      (``alpha="drop"``); the result has no alpha channel;
    * palette and other colour modes (``P``, ``CMYK``, ``YCbCr``, ...) are converted to RGB.

    Raises:
        InputError: the file is missing, is not a readable image, or has no pixels.
    """
    if alpha not in ("composite", "drop"):
        raise InputError(f"alpha must be 'composite' or 'drop', got {alpha!r}")
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file, not an image")
    try:
        with Image.open(path) as img:
            img.load()
            array = _pil_to_array(img, alpha)
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated / corrupt files
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot read image ({message})") from None
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{path}: empty image ({array.shape[1]}x{array.shape[0]} pixels)")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _pil_to_array(img: Image.Image, alpha: str) -> np.ndarray:
    """PIL image -> float32 ``[H, W, C]`` array in [0, 1] (see :func:`load_image` for the rules)."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode == "1":
        img, mode = img.convert("L"), "L"
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.clip(np.asarray(img, dtype=np.float64) / 65535.0, 0.0, 1.0)[..., None]
    elif mode == "F":
        array = np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0)[..., None]
    elif mode in ("L", "LA", "RGB", "RGBA"):
        array = np.asarray(img, dtype=np.float64) / 255.0
        if array.ndim == 2:
            array = array[..., None]
        if mode in ("LA", "RGBA"):
            colour, a = array[..., :-1], array[..., -1:]
            array = colour * a + (1.0 - a) if alpha == "composite" else colour
    else:  # CMYK, YCbCr, LAB, HSV, ...
        array = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    return array.astype(np.float32)


def to_uint8(image: Tensor) -> np.ndarray:
    """``[H, W, C]`` float image -> ``[H, W, C]`` uint8 array, clamped to [0, 1] first."""
    return (image.detach().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).cpu().numpy()


def save_image(image: Tensor, path: Union[str, Path]) -> Path:
    """Write a ``[H, W, 1|3]`` image as an 8-bit PNG (grayscale or RGB), clamping to [0, 1].

    Creates the parent directories. Raises :class:`InputError` naming the file when it cannot be
    written (a parent that is a file, no permission, a full disk, an unknown extension).
    """
    array = to_uint8(image)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot write image ({exc.strerror or exc})") from None
    except ValueError as exc:  # Pillow: an extension it has no writer for
        raise InputError(f"{path}: cannot write image ({exc})") from None
    return path


__all__ = ["load_image", "save_image", "to_uint8"]


def centre_crop(array: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` pixels of ``[H, W, ...]`` (an axis shorter than ``size`` is kept whole)."""
    H, W = array.shape[:2]
    top, left = max(0, (H - size) // 2), max(0, (W - size) // 2)
    return np.ascontiguousarray(array[top : top + size, left : left + size])


def square_resize(array: np.ndarray, size: int) -> Tensor:
    """The central square of ``array`` (``[H, W, 1|3]`` or ``[H, W]`` uint8) resized to ``size x size``
    with Pillow's Lanczos filter: ``[size, size, C]`` float32 in [0, 1] (C = 1 for grayscale)."""
    if size < 1:
        raise InputError(f"size must be >= 1, got {size}")
    square = centre_crop(array, min(array.shape[:2]))
    if square.ndim == 3 and square.shape[-1] == 1:
        square = square[..., 0]
    resized = np.asarray(Image.fromarray(square).resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0
    return torch.from_numpy(resized[..., None] if resized.ndim == 2 else resized)


__all__ += ["centre_crop", "square_resize"]
