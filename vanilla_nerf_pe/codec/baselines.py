"""The codecs ours is compared with, and a fitted field as a compressed image.

:func:`baseline_codecs`: Pillow encodes JPEG (4:4:4 and 4:2:0 chroma, optimised Huffman tables) and
WebP (method 6, its slowest and smallest); ``imagecodecs`` encodes JPEG 2000 (OpenJPEG), AVIF
(libavif) and JPEG XL (libjxl); the rate-distortion curves (:mod:`~vanilla_nerf_pe.codec.rd`) run
them over their settings.

:func:`compression_report` is the idea of COIN (Dupont et al. 2021, "COIN: COmpression with
Implicit Neural representations"): store an image as the weights of a small coordinate network. It
counts a fitted field's bytes in float32 and float16 and finds the smallest JPEG of the original
that is at least as good.
"""

from __future__ import annotations

import io
from typing import Callable, Dict, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from vanilla_nerf_pe.core.image_io import to_uint8
from vanilla_nerf_pe.core.metrics import psnr_uint8
from vanilla_nerf_pe.image.field import ImageField
from vanilla_nerf_pe.image.fit import render


def pillow_encode(array: np.ndarray, fmt: str, **options) -> bytes:
    """The ``fmt`` file (PNG, JPEG, WEBP, ...) of a ``[H, W, 1|3]`` uint8 array, written by Pillow with ``options``."""
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def pillow_decode(data: bytes) -> np.ndarray:
    """The ``[H, W]`` or ``[H, W, C]`` uint8 array of an image file's bytes (a writable copy:
    ``torch.from_numpy`` warns on read-only arrays)."""
    return np.array(Image.open(io.BytesIO(data)))


def _pillow(fmt: str, **options) -> Tuple[Callable[[np.ndarray, float], bytes], Callable[[bytes], np.ndarray]]:
    """Pillow's ``fmt`` with ``options`` as ``(encode(array, quality), decode)``."""

    def encode(array: np.ndarray, setting: float) -> bytes:
        return pillow_encode(array, fmt, quality=int(setting), **options)

    return encode, pillow_decode


def _imagecodecs(name: str, option: str) -> Tuple[Callable[[np.ndarray, float], bytes], Callable[[bytes], np.ndarray]]:
    import imagecodecs

    encoder, decoder = getattr(imagecodecs, f"{name}_encode"), getattr(imagecodecs, f"{name}_decode")

    def encode(array: np.ndarray, setting: float) -> bytes:
        return bytes(encoder(array[..., 0] if array.shape[-1] == 1 else array, **{option: setting}))

    return encode, decoder


def baseline_codecs() -> Dict[str, Tuple[Callable, Callable, Sequence[float]]]:
    """``name -> (encode(array, setting) -> bytes, decode(bytes) -> array, settings)`` of the baselines."""
    return {
        # optimize: Huffman tables fitted to the image (libjpeg two-pass mode), much smaller files
        # than the standard tables at these rates (docs/benchmarks.md): the fair JPEG.
        "JPEG 4:4:4": (*_pillow("JPEG", subsampling=0, optimize=True), (1, 3, 5, 7, 9, 12, 18, 25, 35, 50, 70, 90)),
        "JPEG 4:2:0": (*_pillow("JPEG", subsampling=2, optimize=True), (1, 3, 5, 7, 9, 12, 18, 25, 35, 50, 70, 90)),
        "WebP": (*_pillow("WEBP", method=6), (0, 5, 10, 20, 35, 50, 70, 90)),
        # JPEG 2000's knob in imagecodecs is the target PSNR of its one quality layer (dB).
        "JPEG 2000": (*_imagecodecs("jpeg2k", "level"), (20, 22, 24, 26, 28, 30, 33, 36, 40)),
        "AVIF": (*_imagecodecs("avif", "level"), (0, 5, 10, 20, 30, 40, 55, 70, 85)),
        # JPEG XL's knob is the butteraugli distance (lower is better); 25 is its largest.
        "JPEG XL": (*_imagecodecs("jpegxl", "distance"), (25, 15, 10, 7, 5, 3, 2, 1)),
    }


def reference_codecs(original: np.ndarray, psnr: float) -> dict:
    """What the classic codecs need for the ``[H, W, C]`` uint8 ``original`` at ``psnr`` dB: its raw
    and lossless PNG sizes, and the smallest JPEG (Pillow, qualities 1..100) whose PSNR is at least
    ``psnr`` (``jpeg_*`` None when even quality 100 is below it)."""
    pixels = original.shape[0] * original.shape[1]
    png_bytes = len(pillow_encode(original, "PNG", optimize=True))
    best = None
    for quality in range(1, 101):
        data = pillow_encode(original, "JPEG", quality=quality)
        size, score = len(data), psnr_uint8(pillow_decode(data).reshape(original.shape), original)
        if score >= psnr and (best is None or size < best[1]):
            best = (quality, size, score)
    return {
        "raw_bytes": int(original.size),
        "png_bytes": png_bytes,
        "png_bpp": 8.0 * png_bytes / pixels,
        "jpeg_quality": best[0] if best else None,
        "jpeg_bytes": best[1] if best else None,
        "jpeg_bpp": 8.0 * best[1] / pixels if best else None,
        "jpeg_psnr": best[2] if best else None,
    }


def reference_line(report: Dict) -> str:
    """:func:`reference_codecs`' entries of ``report`` in words: the JPEG of the same PSNR, the lossless PNG."""
    jpeg = (
        f"JPEG at the same PSNR {report['jpeg_bytes']} B ({report['jpeg_bpp']:.2f} bpp, quality {report['jpeg_quality']})"
        if report["jpeg_bytes"] is not None
        else "no JPEG reaches that PSNR"
    )
    return f"{jpeg}; lossless PNG {report['png_bytes']} B ({report['png_bpp']:.2f} bpp)"


def compression_report(model: ImageField, image: Tensor) -> dict:
    """The fitted field as a compressed image, against PNG and JPEG of the original.

    The field is stored as its ``state_dict`` (weights, biases, the Fourier matrix, the
    de-standardisation): ``model_bytes_float32`` = 4 bytes per number, ``model_bytes_float16``
    with every number rounded to float16 (``psnr_float16`` is measured with those rounded
    weights). Bits per pixel = 8 * bytes / (H W). ``psnr`` is the field rendered at the image's
    size and quantised to 8 bits, as a decoder would show it. PNG and JPEG: :func:`reference_codecs`
    at that PSNR.

    Args:
        model: a fitted :class:`~vanilla_nerf_pe.image.field.ImageField`.
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
        "psnr": psnr_uint8(fitted, original),
        "model_numbers": numbers,
        "model_bytes_float32": 4 * numbers,
        "model_bpp_float32": 32.0 * numbers / pixels,
        "model_bytes_float16": 2 * numbers,
        "model_bpp_float16": 16.0 * numbers / pixels,
        "psnr_float16": psnr_uint8(to_uint8(render(half.eval(), H, W)), original),
    }
    report.update(reference_codecs(original, report["psnr"]))
    return report


def compression_line(kind: str, report: Dict) -> str:
    """One line of :func:`compression_report`'s ``report`` of a ``kind`` field: its float16 and
    float32 sizes, the JPEG of the same PSNR, the lossless PNG."""
    return (
        f"{kind}: as a compressed image: {report['model_bytes_float16']} B in float16 ({report['model_bpp_float16']:.2f} bpp, "
        f"{report['psnr_float16']:.2f} dB), {report['model_bytes_float32']} B in float32 ({report['psnr']:.2f} dB); "
        f"{reference_line(report)}"
    )


__all__ = ["baseline_codecs", "compression_line", "compression_report", "pillow_decode", "pillow_encode", "reference_codecs",
           "reference_line"]
