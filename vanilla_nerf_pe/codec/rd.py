"""Rate–distortion curves: our ``.vnpi`` files against JPEG, WebP, JPEG 2000, AVIF and JPEG XL.

Every codec is run over a range of settings on each image; a point is ``(bits per pixel of the
whole file, PSNR, SSIM)`` of the decoded 8-bit image. :func:`value_at_rate` interpolates one
image's curve at a given rate (linearly in bpp), so codecs whose settings land on different rates
are compared at the same one. The baselines are :func:`~vanilla_nerf_pe.codec.baselines.baseline_codecs`.
COIN's published Kodak curve (Dupont et al. 2021, ``results.json`` of
github.com/EmilienDupont/coin) is a reference line only: another image set (24 Kodak images of
768x512); so are the published Kodak curves of C3, Cool-chic and Cool-chic v2
(:data:`PUBLISHED_KODAK_CURVES`) and Strümpler et al.'s 0.3-bpp point (:data:`PUBLISHED_KODAK_03`).

:func:`run_rd` is ``vnp-image rd``: every baseline and our codec at each rate on each image (our
files are kept in ``OUTPUT/ours`` for the SIREN and ``OUTPUT/ours-latent`` for the latent grids, and
reused by a rerun), the decoding timed and scored;
:func:`write_rd` writes the table (:func:`rd_table`), the figure and the points. The default image
set is the lab's shipped photographs (:func:`~vanilla_nerf_pe.image.photographs.shipped_photographs`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from vanilla_nerf_pe.codec.baselines import baseline_codecs
from vanilla_nerf_pe.codec.compress import COMPRESS_KINDS, CompressConfig, compress_image
from vanilla_nerf_pe.codec.container import FORMAT_VERSION, decode_image, read_file
from vanilla_nerf_pe.codec.latent_file import LATENT_FORMAT_VERSION
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.image_io import centre_crop
from vanilla_nerf_pe.core.metrics import psnr_uint8
from vanilla_nerf_pe.image.analysis import image_ssim
from vanilla_nerf_pe.image.outputs import make_output_dir, write_json, writing
from vanilla_nerf_pe.image.photographs import load_photograph, shipped_photographs
from vanilla_nerf_pe.image.progress import ProgressFactory

#: COIN on Kodak, as published (Dupont et al. 2021, fig. 4; results.json of
#: github.com/EmilienDupont/coin at commit 5a8d310): (bpp, PSNR in dB).
COIN_KODAK: Tuple[Tuple[float, float], ...] = (
    (0.0368, 22.408), (0.07361, 23.205), (0.1604, 24.6410833), (0.3074, 26.412125), (0.6109, 28.408), (1.209, 30.644),
)

#: Published Kodak curves of overfitted neural codecs, (bpp, PSNR in dB), as collected in C3's
#: repository (github.com/google-deepmind/c3_neural_compression, ``baselines/kodak.py`` at commit
#: ce70560): C3 (Kim et al. 2024, "C3: High-performance and low-complexity neural compression from a
#: single image or video", their own runs), Cool-chic (Ladune et al. 2023, from
#: github.com/Orange-OpenSource/Cool-Chic ``results/kodak``) and Cool-chic v2 (Leguay et al. 2023,
#: "Low-complexity overfitted neural image codec", same source); mean PSNR over the 24 images.
PUBLISHED_KODAK_CURVES: Dict[str, Tuple[Tuple[float, float], ...]] = {
    "C3": ((0.0926, 27.065), (0.1339, 28.450), (0.1532, 28.959), (0.2025, 30.032), (0.2318, 30.594), (0.2761, 31.336),
           (0.3506, 32.395), (0.5144, 34.368), (0.5785, 35.016), (0.7286, 36.384), (0.8067, 37.037), (0.9140, 37.845),
           (1.0800, 38.984), (1.4093, 40.847)),
    "Cool-chic": ((0.0771, 25.699), (0.1276, 27.141), (0.1493, 27.591), (0.2105, 28.690), (0.2463, 29.217), (0.3077, 30.096),
                  (0.4031, 31.259), (0.6133, 33.313), (0.7201, 34.241), (0.9081, 35.804), (1.0144, 36.550), (1.1614, 37.563),
                  (1.3463, 38.767)),
    "Cool-chic v2": ((0.0967, 26.393), (0.2635, 30.060), (0.5991, 33.924), (0.9289, 36.815)),
}
#: Published Kodak PSNR at 0.3 bpp of codecs without a curve here: Strümpler et al. 2022 ("Implicit
#: Neural Representations for Image Compression"), as issue #26 gives it (read off the paper's Kodak
#: curve, interpolated in log-rate; a point, not a curve).
PUBLISHED_KODAK_03: Tuple[Tuple[str, float], ...] = (("Strümpler et al. 2022", 28.9),)
#: The codec name of our files of each ``--kind`` in the points, tables and figures.
OURS_LABELS: Dict[str, str] = {"siren": "ours", "latent": "ours-latent"}


def ours_label(kind: str) -> str:
    """``ours`` for the SIREN (COIN-style) files, ``ours-KIND`` for another kind."""
    return OURS_LABELS.get(kind, f"ours-{kind}")


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


def score(decoded: np.ndarray, original: np.ndarray) -> Tuple[float, float]:
    """(PSNR, SSIM) of two ``[H, W, C]`` uint8 images (the project's metrics)."""
    decoded = decoded.reshape(original.shape)
    a = torch.from_numpy(decoded.astype(np.float64) / 255.0).float()
    b = torch.from_numpy(original.astype(np.float64) / 255.0).float()
    return psnr_uint8(decoded, original), image_ssim(a, b)


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


def published_psnr_at(curve: Sequence[Tuple[float, float]], bpp: float) -> Optional[float]:
    """A published curve's PSNR at ``bpp``, linear in log(bpp) between its points; None outside it."""
    rates, values = zip(*curve)
    if not rates[0] <= bpp <= rates[-1]:
        return None
    return float(np.interp(np.log(bpp), np.log(rates), values))


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
    from vanilla_nerf_pe.image.figures import plt, save_figure

    codecs = list(dict.fromkeys(p.codec for p in points))
    fig, (*axes, key) = plt.subplots(1, 3, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1, 1, 0.5]})
    grid = np.linspace(0.02, max_bpp, 150)
    for metric, ax in zip(("psnr", "ssim"), axes):
        for codec in codecs:
            mine = [p for p in points if p.codec == codec]
            values = [(r, mean_at_rate(mine, r, metric)) for r in grid]
            kept = [(r, v) for r, v in values if v is not None]
            style = dict(linewidth=2.5, marker="o") if codec.startswith("ours") else dict(linewidth=1.2)
            if codec.startswith("ours"):
                by_setting: Dict[str, List[RatePoint]] = {}
                for p in mine:
                    by_setting.setdefault(p.setting, []).append(p)
                means = sorted((np.mean([p.bpp for p in ps]), np.mean([getattr(p, metric) for p in ps])) for ps in by_setting.values())
                label = f"ours, SIREN (.vnpi v{FORMAT_VERSION})" if codec == "ours" else f"{codec} (.vnpi v{LATENT_FORMAT_VERSION})"
                ax.plot(*zip(*means), label=label, color="black" if codec == "ours" else "crimson", **style)
            elif kept:
                ax.plot(*zip(*kept), label=codec, **style)
        if metric == "psnr":
            ax.plot(*zip(*COIN_KODAK), "--", color="gray", label="COIN (Kodak, published)")
            for (name, curve), style in zip(PUBLISHED_KODAK_CURVES.items(), (":", "-.", (0, (5, 1)))):
                ax.plot(*zip(*curve), linestyle=style, color="gray", label=f"{name} (Kodak, published)")
            for name, value in PUBLISHED_KODAK_03:
                ax.plot([0.3], [value], "s", color="gray", markerfacecolor="none", label=f"{name} (Kodak, published, 0.3 bpp only)")
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "SSIM")
        ax.set_xlim(0, max_bpp)
        ax.grid(alpha=0.3)
    key.axis("off")  # the legend in a panel of its own: inside the PSNR panel it hid curves
    key.legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc="center left")
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def rd_images(paths: Sequence[Path], crop: int) -> Dict[str, np.ndarray]:
    """The images of a run, by name: each file or shipped photograph of ``paths`` (default: the
    shipped set), centre-cropped to ``crop x crop`` (0: uncropped); ``[H, W, C]`` uint8."""
    if crop < 0:
        raise InputError(f"--crop must be >= 0, got {crop}")
    if not paths:
        return shipped_photographs(crop)
    images = {}
    for path in paths:
        array = load_photograph(path)
        images[path.stem] = centre_crop(array, crop) if crop else array
    if len(images) != len(paths):
        raise InputError("two IMAGES have the same file name; rd names them by it")
    return images


def check_rd_options(rates: Sequence[float], baselines: Sequence[str]) -> None:
    """An :class:`InputError` for a rate that is not positive or a baseline that is not known."""
    if not rates or any(r <= 0 for r in rates):
        raise InputError(f"--rates must be > 0, got {tuple(rates)}")
    unknown = [b for b in baselines if b not in baseline_codecs()]
    if unknown:
        raise InputError(f"--baselines {unknown}: choose from {', '.join(baseline_codecs())}")


def ours_point(name: str, array: np.ndarray, config: CompressConfig, folder: Path, device: str = "cpu",
               progress: Optional[ProgressFactory] = None) -> RatePoint:
    """Our codec on ``array [H, W, C]`` uint8 at ``config.bpp``: the file ``folder/NAME_RATEbpp.vnpi``
    and its record (``.json``: encoding seconds, each coder's bytes, the options) are written, or
    reused when both are there; the file is then read back, decoded (timed) and scored. The point's
    codec is :func:`ours_label` of ``config.kind``."""
    stem = f"{name}_{config.bpp:g}bpp"  # not Path.with_suffix: the rate's decimal point is no suffix
    vnpi, record = folder / f"{stem}.vnpi", folder / f"{stem}.json"
    if vnpi.is_file() and record.is_file():
        encode_seconds = json.loads(record.read_text())["encode_seconds"]
    else:
        image = torch.from_numpy(array.astype("float32") / 255.0)
        image = image[..., None] if image.ndim == 2 else image
        result = compress_image(image, config, device=device, progress=progress)
        encode_seconds = result.encode_seconds
        with writing(vnpi):
            vnpi.write_bytes(result.encoded.data)
        write_json({"encode_seconds": encode_seconds, "coder_bytes": result.coder_bytes, "config": dataclasses.asdict(config)}, record)
    data = read_file(vnpi)
    start = time.perf_counter()
    decoded = decode_image(data)
    decode_seconds = time.perf_counter() - start
    quality, similarity = score(decoded, array)
    bpp = 8.0 * len(data) / (array.shape[0] * array.shape[1])
    return RatePoint(ours_label(config.kind), name, f"{config.bpp:g}", bpp, quality, similarity, encode_seconds, decode_seconds)


def run_rd(images: Dict[str, np.ndarray], output: Path, rates: Sequence[float], baselines: Sequence[str], config: CompressConfig,
           ours: bool = True, device: str = "cpu", progress: Optional[ProgressFactory] = None,
           log: Callable[[str], None] = lambda line: None, kinds: Sequence[str] = ("siren",),
           kind_rates: Optional[Dict[str, Sequence[float]]] = None) -> List[RatePoint]:
    """Every point of every codec on every image: each of ``baselines`` over its settings and, with
    ``ours``, our codec of each of ``kinds`` (``config`` at each of ``rates``, or of
    ``kind_rates[kind]``; files kept in ``output/`` :func:`ours_label`). ``log`` gets a line per
    image and per file of ours."""
    check_rd_options(rates, baselines)
    kind_rates = {kind: (kind_rates or {}).get(kind) or rates for kind in kinds}
    for chosen in kind_rates.values():
        check_rd_options(chosen, baselines)
    unknown = [k for k in kinds if k not in COMPRESS_KINDS]
    if unknown or not kinds:
        raise InputError(f"--kinds {list(kinds)}: choose from {', '.join(COMPRESS_KINDS)}")
    for kind in kinds:
        make_output_dir(output / ours_label(kind))
    points: List[RatePoint] = []
    for name, array in images.items():
        for codec in baselines:
            points += baseline_curve(codec, name, array)
        log(f"rd: {name} ({array.shape[1]}x{array.shape[0]}): baselines done")
        if not ours:
            continue
        for kind, rate in ((k, r) for k in kinds for r in sorted(kind_rates[k])):
            point = ours_point(name, array, dataclasses.replace(config, bpp=rate, kind=kind), output / ours_label(kind), device, progress)
            points.append(point)
            log(f"rd: {name} {point.codec} at {rate:g}: {point.bpp:.3f} bpp, {point.psnr:.2f} dB, SSIM {point.ssim:.3f}, "
                f"encoded in {point.encode_seconds:.0f} s, decoded in {point.decode_seconds:.2f} s")
    return points


def rd_table(points: Sequence[RatePoint], rate: float) -> List[str]:
    """Markdown rows: each codec's mean PSNR and SSIM at ``rate`` and its mean seconds per file; the
    third column at the rates of our files of ``rate`` (the latent grids' when there are some), then
    the published references."""

    def cell(value, fmt):
        return format(value, fmt) if value is not None else "n/a (curve does not reach)"

    reference = next((label for label in ("ours-latent", "ours") if any(p.codec == label for p in points)), "ours")
    ours_at_rate = [p for p in points if p.codec == reference and p.setting == f"{rate:g}"]
    same = f"mean PSNR at the rates of {reference}'s {rate:g}-bpp files ({np.mean([p.bpp for p in ours_at_rate]):.3f} bpp on average)" if ours_at_rate else ""
    rows = [
        f"| codec | mean PSNR at {rate:g} bpp | mean SSIM at {rate:g} bpp | {same} | encode s per file (mean) | decode s per file (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for codec in dict.fromkeys(p.codec for p in points):
        mine = [p for p in points if p.codec == codec]
        at_ours = [value_at_rate([p for p in mine if p.image == o.image], o.bpp) for o in ours_at_rate]
        rows.append(
            f"| {codec} | {cell(mean_at_rate(mine, rate), '.2f')} | {cell(mean_at_rate(mine, rate, 'ssim'), '.3f')} | "
            f"{cell(float(np.mean(at_ours)) if at_ours and None not in at_ours else None, '.2f')} | "
            f"{sum(p.encode_seconds for p in mine) / len(mine):.3g} | {sum(p.decode_seconds for p in mine) / len(mine):.3g} |"
        )
    coin_same = np.mean([coin_psnr_at(o.bpp) for o in ours_at_rate]) if ours_at_rate else None
    rows.append(f"| COIN (published, Kodak 768x512, not this set) | {coin_psnr_at(rate):.2f} | | {cell(coin_same, '.2f')} | | |")
    for name, curve in PUBLISHED_KODAK_CURVES.items():
        rows.append(f"| {name} (published, Kodak 768x512, not this set) | {cell(published_psnr_at(curve, rate), '.2f')} | | | | |")
    if abs(rate - 0.3) < 1e-9:
        rows += [f"| {name} (published, Kodak 768x512, not this set) | {value:.1f} | | | | |" for name, value in PUBLISHED_KODAK_03]
    return rows


def write_rd(output: Path, points: Sequence[RatePoint], images: Dict[str, np.ndarray], crop: int, report_rate: float) -> str:
    """``rd_table.md`` (:func:`rd_table` at ``report_rate``), ``rd.png`` and ``rd.json`` in ``output``; returns the table."""
    table = "\n".join(rd_table(points, report_rate)) + "\n"
    with writing(output):
        (output / "rd_table.md").write_text(table)
        size = next(iter(images.values())).shape
        save_rd_figure(output / "rd.png", points, f"{', '.join(images)} ({size[1]}x{size[0]} crops): mean over images")
    write_json({"images": list(images), "crop": crop, "report_rate": report_rate, "coin_kodak": COIN_KODAK,
                "published_kodak_curves": PUBLISHED_KODAK_CURVES, "published_kodak_0.3bpp": dict(PUBLISHED_KODAK_03),
                "points": [dataclasses.asdict(p) for p in points]}, output / "rd.json")
    return table


__all__ = [
    "COIN_KODAK",
    "OURS_LABELS",
    "PUBLISHED_KODAK_03",
    "PUBLISHED_KODAK_CURVES",
    "RatePoint",
    "baseline_curve",
    "check_rd_options",
    "coin_psnr_at",
    "mean_at_rate",
    "ours_label",
    "ours_point",
    "published_psnr_at",
    "rd_images",
    "rd_table",
    "run_rd",
    "save_rd_figure",
    "score",
    "value_at_rate",
    "write_rd",
]
