"""Rate–distortion curves: our ``.vnpi`` files against JPEG, WebP, JPEG 2000, AVIF and JPEG XL.

Every codec is run over a range of settings on each image; a point is ``(bits per pixel of the
whole file, PSNR, SSIM)`` of the decoded 8-bit image. :func:`value_at_rate` interpolates one
image's curve at a given rate (linearly in bpp), so codecs whose settings land on different rates
are compared at the same one. Pillow encodes JPEG (4:4:4 and 4:2:0 chroma, optimised Huffman
tables) and WebP (method 6, its slowest and smallest);
``imagecodecs`` encodes JPEG 2000 (OpenJPEG), AVIF (libavif) and JPEG XL (libjxl). COIN's
published Kodak curve (Dupont et al. 2021, ``results.json`` of github.com/EmilienDupont/coin) is a
reference line only: another image set (24 Kodak images of 768x512).

The shipped set (:func:`shipped_photographs`) is scikit-image's natural colour photographs that its
wheel contains (no download): astronaut, chelsea, coffee, centre-cropped.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.metrics import psnr
from vanilla_nerf_pe.lab.analysis import image_ssim

#: COIN on Kodak, as published (Dupont et al. 2021, fig. 4; results.json of
#: github.com/EmilienDupont/coin at commit 5a8d310): (bpp, PSNR in dB).
COIN_KODAK: Tuple[Tuple[float, float], ...] = (
    (0.0368, 22.408), (0.07361, 23.205), (0.1604, 24.6410833), (0.3074, 26.412125), (0.6109, 28.408), (1.209, 30.644),
)
#: scikit-image's natural colour photographs shipped in its wheel (``skimage.data``, no download).
SHIPPED_PHOTOGRAPHS: Tuple[str, ...] = ("astronaut", "chelsea", "coffee")


@dataclass
class RatePoint:
    """One encoding of one image."""

    codec: str
    image: str
    setting: str
    """the codec's quality knob (quality, target dB, distance, or target bpp for ours)."""
    bpp: float
    psnr: float
    ssim: float
    encode_seconds: float
    decode_seconds: float


def centre_crop(array: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` pixels of ``[H, W, C]`` (an axis shorter than ``size`` is kept whole)."""
    H, W = array.shape[:2]
    top, left = max(0, (H - size) // 2), max(0, (W - size) // 2)
    return np.ascontiguousarray(array[top : top + size, left : left + size])


def shipped_photographs(size: int = 256) -> Dict[str, np.ndarray]:
    """:data:`SHIPPED_PHOTOGRAPHS` as ``[size, size, 3]`` uint8 centre crops (0: uncropped)."""
    import skimage.data

    return {name: centre_crop(getattr(skimage.data, name)(), size) if size else getattr(skimage.data, name)() for name in SHIPPED_PHOTOGRAPHS}


def score(decoded: np.ndarray, original: np.ndarray) -> Tuple[float, float]:
    """(PSNR, SSIM) of two ``[H, W, C]`` uint8 images (the project's metrics)."""
    a = torch.from_numpy(decoded.reshape(original.shape).astype(np.float64) / 255.0)
    b = torch.from_numpy(original.astype(np.float64) / 255.0)
    return float(psnr(a, b)), image_ssim(a.float(), b.float())


def _pillow(fmt: str, **options) -> Tuple[Callable[[np.ndarray, float], bytes], Callable[[bytes], np.ndarray]]:
    from PIL import Image

    def encode(array: np.ndarray, setting: float) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, format=fmt, quality=int(setting), **options)
        return buffer.getvalue()

    def decode(data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)))

    return encode, decode


def _imagecodecs(name: str, option: str) -> Tuple[Callable[[np.ndarray, float], bytes], Callable[[bytes], np.ndarray]]:
    import imagecodecs

    encoder, decoder = getattr(imagecodecs, f"{name}_encode"), getattr(imagecodecs, f"{name}_decode")

    def encode(array: np.ndarray, setting: float) -> bytes:
        return bytes(encoder(array[..., 0] if array.shape[-1] == 1 else array, **{option: setting}))

    return encode, decoder


def baseline_codecs() -> Dict[str, Tuple[Callable, Callable, Sequence[float]]]:
    """``name -> (encode(array, setting) -> bytes, decode(bytes) -> array, settings)`` of the baselines."""
    return {
        # optimize: Huffman tables fitted to the image (libjpeg two-pass mode), 30 to 50 % smaller
        # files than the standard tables at these rates (256x256, qualities 1 to 5): the fair JPEG.
        "JPEG 4:4:4": (*_pillow("JPEG", subsampling=0, optimize=True), (1, 3, 5, 7, 9, 12, 18, 25, 35, 50, 70, 90)),
        "JPEG 4:2:0": (*_pillow("JPEG", subsampling=2, optimize=True), (1, 3, 5, 7, 9, 12, 18, 25, 35, 50, 70, 90)),
        "WebP": (*_pillow("WEBP", method=6), (0, 5, 10, 20, 35, 50, 70, 90)),
        # JPEG 2000's knob in imagecodecs is the target PSNR of its one quality layer (dB).
        "JPEG 2000": (*_imagecodecs("jpeg2k", "level"), (20, 22, 24, 26, 28, 30, 33, 36, 40)),
        "AVIF": (*_imagecodecs("avif", "level"), (0, 5, 10, 20, 30, 40, 55, 70, 85)),
        # JPEG XL's knob is the butteraugli distance (lower is better); 25 is its largest.
        "JPEG XL": (*_imagecodecs("jpegxl", "distance"), (25, 15, 10, 7, 5, 3, 2, 1)),
    }


def baseline_curve(name: str, image: str, array: np.ndarray) -> List[RatePoint]:
    """Every setting of baseline ``name`` on ``array [H, W, C]`` uint8, sorted by bpp."""
    encode, decode, settings = baseline_codecs()[name]
    pixels = array.shape[0] * array.shape[1]
    points = []
    for setting in settings:
        start = time.perf_counter()
        data = encode(array, setting)
        encode_seconds = time.perf_counter() - start
        start = time.perf_counter()
        decoded = decode(data)
        decode_seconds = time.perf_counter() - start
        quality, similarity = score(decoded, array)
        points.append(RatePoint(name, image, f"{setting:g}", 8.0 * len(data) / pixels, quality, similarity, encode_seconds, decode_seconds))
    return sorted(points, key=lambda p: p.bpp)


def value_at_rate(points: Sequence[RatePoint], bpp: float, metric: str = "psnr") -> Optional[float]:
    """One image's ``metric`` at ``bpp``, linear in bpp between the two nearest points of its curve
    (kept monotone: the best value at or below each rate); None outside the curve's range."""
    ordered = sorted(points, key=lambda p: p.bpp)
    if not ordered or not ordered[0].bpp <= bpp <= ordered[-1].bpp:
        return None
    rates = np.array([p.bpp for p in ordered])
    values = np.maximum.accumulate(np.array([getattr(p, metric) for p in ordered]))
    return float(np.interp(bpp, rates, values))


def coin_psnr_at(bpp: float) -> float:
    """COIN's published Kodak PSNR at ``bpp`` (linear between its points)."""
    rates, values = zip(*COIN_KODAK)
    if not rates[0] <= bpp <= rates[-1]:
        raise InputError(f"COIN's published curve spans {rates[0]} to {rates[-1]} bpp, not {bpp}")
    return float(np.interp(bpp, rates, values))


def mean_at_rate(points: Sequence[RatePoint], bpp: float, metric: str = "psnr") -> Optional[float]:
    """The mean over images of :func:`value_at_rate`; None when any image's curve misses the rate."""
    by_image: Dict[str, List[RatePoint]] = {}
    for p in points:
        by_image.setdefault(p.image, []).append(p)
    values = [value_at_rate(curve, bpp, metric) for curve in by_image.values()]
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(values))


def save_rd_figure(path, points: Sequence[RatePoint], title: str, max_bpp: float = 1.5) -> None:
    """PSNR and SSIM against bpp: each codec's mean over images on a common grid of rates (where
    every image's curve reaches), ours as its mean points, COIN's published Kodak curve dashed."""
    from vanilla_nerf_pe.lab.figures import plt, save_figure

    codecs = list(dict.fromkeys(p.codec for p in points))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    grid = np.linspace(0.02, max_bpp, 150)
    for metric, ax in zip(("psnr", "ssim"), axes):
        for codec in codecs:
            mine = [p for p in points if p.codec == codec]
            values = [(r, mean_at_rate(mine, r, metric)) for r in grid]
            kept = [(r, v) for r, v in values if v is not None]
            style = dict(linewidth=2.5, marker="o") if codec == "ours" else dict(linewidth=1.2)
            if codec == "ours":
                by_setting: Dict[str, List[RatePoint]] = {}
                for p in mine:
                    by_setting.setdefault(p.setting, []).append(p)
                means = sorted((np.mean([p.bpp for p in ps]), np.mean([getattr(p, metric) for p in ps])) for ps in by_setting.values())
                ax.plot(*zip(*means), label="ours (.vnpi)", color="black", **style)
            elif kept:
                ax.plot(*zip(*kept), label=codec, **style)
        if metric == "psnr":
            ax.plot(*zip(*COIN_KODAK), "--", color="gray", label="COIN (Kodak, published)")
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "SSIM")
        ax.set_xlim(0, max_bpp)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


__all__ = [
    "COIN_KODAK",
    "SHIPPED_PHOTOGRAPHS",
    "RatePoint",
    "baseline_codecs",
    "baseline_curve",
    "centre_crop",
    "coin_psnr_at",
    "mean_at_rate",
    "save_rd_figure",
    "score",
    "shipped_photographs",
    "value_at_rate",
]
