"""A fitted image field as a compressed image: its size in bytes against PNG and JPEG.

The idea of COIN (Dupont et al. 2021, "COIN: COmpression with Implicit Neural representations"):
store an image as the weights of a small coordinate network. :func:`compression_report` counts
the field's bytes in float32 and float16 and finds the smallest JPEG of the original that is at
least as good.
"""

from __future__ import annotations

import io
from typing import Optional, Tuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from vanilla_nerf_pe.core.image_io import to_uint8
from vanilla_nerf_pe.core.metrics import psnr
from vanilla_nerf_pe.lab.field import ImageField
from vanilla_nerf_pe.lab.fit import render


def _encode(array: np.ndarray, fmt: str, quality: Optional[int] = None) -> Tuple[int, np.ndarray]:
    """Encode a ``[H, W, 1|3]`` uint8 array with Pillow; return (bytes, decoded ``[H, W, C]`` uint8)."""
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **({"quality": quality} if quality is not None else {"optimize": True}))
    decoded = np.array(Image.open(io.BytesIO(buffer.getvalue())))  # a writable copy: torch.from_numpy warns on read-only arrays
    return buffer.tell(), decoded.reshape(array.shape)


def _psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`vanilla_nerf_pe.core.metrics.psnr` of two uint8 arrays, in float64 (100 dB when identical)."""
    return float(psnr(torch.from_numpy(a).double() / 255.0, torch.from_numpy(b).double() / 255.0))


def compression_report(model: ImageField, image: Tensor) -> dict:
    """The fitted field as a compressed image, against PNG and JPEG of the original.

    The field is stored as its ``state_dict`` (weights, biases, the Fourier matrix, the
    de-standardisation): ``model_bytes_float32`` = 4 bytes per number, ``model_bytes_float16``
    with every number rounded to float16 (``psnr_float16`` is measured with those rounded
    weights). Bits per pixel = 8 * bytes / (H W). ``psnr`` is the field rendered at the image's
    size and quantised to 8 bits, as a decoder would show it. PNG is lossless (the original's size);
    JPEG (Pillow, qualities 1..100) is the smallest file whose PSNR is at least the field's, or
    None when even quality 100 is below it.

    Args:
        model: a fitted :class:`~vanilla_nerf_pe.lab.field.ImageField`.
        image: ``[H, W, C]`` the original in [0, 1].
    """
    H, W, C = image.shape
    pixels = H * W
    original = to_uint8(image)
    fitted = to_uint8(render(model, H, W))
    numbers = sum(t.numel() for t in model.state_dict().values())
    with torch.no_grad():
        half = ImageField(model.config, model.channels)
        half.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    report = {
        "psnr": _psnr_uint8(fitted, original),
        "model_numbers": numbers,
        "model_bytes_float32": 4 * numbers,
        "model_bpp_float32": 32.0 * numbers / pixels,
        "model_bytes_float16": 2 * numbers,
        "model_bpp_float16": 16.0 * numbers / pixels,
        "psnr_float16": _psnr_uint8(to_uint8(render(half.eval(), H, W)), original),
        "raw_bytes": int(original.size),
    }
    png_bytes, _ = _encode(original, "PNG")
    report.update(png_bytes=png_bytes, png_bpp=8.0 * png_bytes / pixels)
    best = None
    for quality in range(1, 101):
        size, decoded = _encode(original, "JPEG", quality)
        score = _psnr_uint8(decoded, original)
        if score >= report["psnr"] and (best is None or size < best[1]):
            best = (quality, size, score)
    report.update(
        jpeg_quality=best[0] if best else None,
        jpeg_bytes=best[1] if best else None,
        jpeg_bpp=8.0 * best[1] / pixels if best else None,
        jpeg_psnr=best[2] if best else None,
    )
    return report


__all__ = ["compression_report"]
