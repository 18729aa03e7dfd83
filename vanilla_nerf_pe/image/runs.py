"""The lab's runs: fit one image with one kind, or with every kind side by side, and write what
``vnp-image fit`` and ``vnp-image compare`` write.

:class:`ImageInput` says which image and how it is fitted (the options the two commands share);
:class:`CompareOptions` adds the kinds to compare and the output directory (an experiment YAML gives
the same options: :mod:`~vanilla_nerf_pe.image.experiment`).

A kind is a :class:`LabKind`: its ``fit`` returns a :class:`LabFit` (the metrics.json entry, the
reconstruction, the model and how to save it, the lines to print). :class:`NetworkLabKind` is a
coordinate network of the lab; the caller may add others (``vnp-image`` adds the latent-grid codec,
:mod:`vanilla_nerf_pe.codec.lab_kinds`). How a fitted field fares as a compressed image is the
codec's business too: a :class:`NetworkLabKind` takes it as an optional :class:`Compression`
(``vnp-image`` passes :func:`vanilla_nerf_pe.codec.baselines.compression_report` and its line), so
the lab does not import the codec.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Literal, Optional, Sequence, Tuple

from torch import Tensor, nn

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.image_io import load_image, save_image
from vanilla_nerf_pe.core.metrics import psnr
from vanilla_nerf_pe.core.network import NETWORK_KINDS, NetworkKind
from vanilla_nerf_pe.image.analysis import image_ssim
from vanilla_nerf_pe.image.field import ImageField, ImageFieldConfig, default_image, even_pixel_mask, save_field
from vanilla_nerf_pe.image.fit import FitResult, fit, render, resolve_device
from vanilla_nerf_pe.image.outputs import make_output_dir, write_json, writing
from vanilla_nerf_pe.image.progress import ProgressFactory, fit_callback
from vanilla_nerf_pe.image.protocol import choose_holdout_bandwidth


@dataclass
class ImageInput:
    """Which image to fit and how (the options ``fit``, ``compare`` and an experiment share)."""

    image: Optional[Path] = None
    """image file to fit (PNG, JPEG, ...); default: the built-in --default image."""
    default: Literal["astronaut", "camera"] = "astronaut"
    """built-in scikit-image picture used when no IMAGE is given (camera is grayscale)."""
    size: int = 128
    """side of the built-in picture in pixels."""
    alpha: Literal["composite", "drop"] = "composite"
    """images with transparency: composite on white, or drop the alpha channel."""
    holdout: bool = False
    """train on pixels with even row and column only; PSNR is measured on the other pixels."""
    holdout_bandwidth: Literal["protocol", "as-given"] = "protocol"
    """with --holdout: protocol sets the encoding's bandwidth for the training grid (PE octaves below
    its Nyquist rate, Fourier sigma by a sweep on a validation eighth of the training pixels) and
    prints the choice; as-given keeps the options as they are."""
    bandwidth_sweep_steps: int = 200
    """steps of each fit of the Fourier sigma sweep (--holdout-bandwidth protocol)."""
    eval_every: int = 100
    """steps between PSNR evaluations of a coordinate network (the latent kind is scored a fixed
    number of times a fit, as its progress bar is: progress.PROGRESS_EVALUATIONS)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """where to train: auto picks cuda when a GPU is visible, else cpu (the latent kind fits on the CPU)."""


@dataclass
class CompareOptions(ImageInput):
    """Fit every network kind at the same MLP size and steps; write images, curves and metrics."""

    output: Path = Path("image_compare")
    """directory for the reconstructions, comparison.png, psnr_curves.png and metrics.json."""
    kinds: Tuple[NetworkKind, ...] = NETWORK_KINDS  # type: ignore[assignment]
    """network kinds to fit, in this order."""
    field: ImageFieldConfig = dataclasses.field(default_factory=ImageFieldConfig)
    """the network and fitting options of every kind (its ``kind`` is ignored)."""


def load_input(args: ImageInput) -> Tuple[Tensor, str]:
    """The image to fit, ``[H, W, C]`` in [0, 1], and a description of where it came from."""
    if args.image is not None:
        return load_image(args.image, alpha=args.alpha), str(args.image)
    if args.size < 1:
        raise InputError(f"--size must be >= 1, got {args.size}")
    return default_image(args.default, args.size), f"skimage.data.{args.default} ({args.size}x{args.size})"


def holdout_config(image: Tensor, config: ImageFieldConfig, args: ImageInput) -> Tuple[ImageFieldConfig, Optional[str]]:
    """``config`` with the bandwidth the holdout protocol asks for and the line that says what was
    chosen, or ``(config, None)`` when there is nothing to choose."""
    if not args.holdout or args.holdout_bandwidth == "as-given":
        return config, None
    if args.bandwidth_sweep_steps < 1:
        raise InputError(f"--bandwidth-sweep-steps must be >= 1, got {args.bandwidth_sweep_steps}")
    return choose_holdout_bandwidth(image, config, args.bandwidth_sweep_steps)


def fit_image(image: Tensor, config: ImageFieldConfig, args: ImageInput, progress: Optional[ProgressFactory] = None) -> FitResult:
    """:func:`~vanilla_nerf_pe.image.fit.fit` with ``args``' holdout mask, evaluation interval and device."""
    mask = even_pixel_mask(image.shape[0], image.shape[1]) if args.holdout else None
    callback = fit_callback(progress, f"fit {config.kind}", config.steps)
    return fit(image, config, eval_every=args.eval_every, train_mask=mask, callback=callback, device=resolve_device(args.device))


Log = Callable[[str], None]


@dataclass(frozen=True)
class Compression:
    """How a fitted field fares as a compressed image, and that in one line (the codec's business:
    ``vnp-image`` passes :func:`vanilla_nerf_pe.codec.baselines.compression_report` and
    :func:`~vanilla_nerf_pe.codec.baselines.compression_line`)."""

    report: Callable[[ImageField, Tensor], Dict]
    """``report(model, image)``: the metrics' ``compression`` entry; its ``model_bpp_float16`` is the
    field's size in ``speed_and_size.png``."""
    line: Callable[[str, Dict], str]
    """``line(kind, report)``: what the commands print of it."""


@dataclass
class LabFit:
    """One kind's fit of one image, as ``fit`` and ``compare`` report and write it."""

    metrics: Dict
    """its metrics.json entry (:func:`lab_metrics`, then ``compression`` when measured and ``config``)."""
    recon: Tensor
    """the reconstruction ``[H, W, C]``, not clamped."""
    model: nn.Module
    """the fitted field (or representation)."""
    save: Callable[[Path], List[str]]
    """``save(directory)`` writes the model's own files there (``fit --output``) and returns their names."""
    lines: List[str] = dataclasses.field(default_factory=list)
    """what the commands print under its PSNR line (how it fares as a compressed image)."""
    stored_bpp: Optional[float] = None
    """bits per pixel of its stored form (a field's float16 weights, a codec's file), the x of
    ``speed_and_size.png``; None: not measured."""


class LabKind(ABC):
    """A kind that ``fit`` and ``compare`` fit: :class:`NetworkLabKind`, or one the caller adds."""

    name: str

    def check(self, args: ImageInput, image: Tensor) -> None:
        """An :class:`InputError` for options it cannot run with on ``image``, before any (long) fit."""

    @abstractmethod
    def fit(self, image: Tensor, args: ImageInput, progress: Optional[ProgressFactory] = None, log: Log = lambda line: None) -> LabFit:
        """Fit ``image [H, W, C]`` with ``args``' options; ``progress`` draws its bar, ``log`` gets
        the lines it has to say on the way (a choice it made)."""


def lab_metrics(kind: str, image: Tensor, recon: Tensor, history: Sequence[Tuple[int, float]], seconds: float, device: str,
                num_parameters: int, held_out_psnr: Optional[float] = None) -> Dict:
    """The start of one fit's metrics.json entry: ``psnr`` is ``held_out_psnr`` when given (the
    holdout protocol's pixels), else the whole reconstruction's (clamped to [0, 1])."""
    full = float(psnr(recon.clamp(0, 1), image))
    return {
        "kind": kind,
        "psnr": full if held_out_psnr is None else held_out_psnr,
        "psnr_pixels": "all" if held_out_psnr is None else "held-out (odd row or column)",
        "psnr_full_image": full,
        "ssim": image_ssim(recon, image),
        "seconds": seconds,
        "device": device,
        "num_parameters": num_parameters,
        "psnr_history": [[s, p] for s, p in history],
    }


class NetworkLabKind(LabKind):
    """A coordinate network of the lab (:data:`~vanilla_nerf_pe.core.network.NETWORK_KINDS`), fitted
    by :func:`~vanilla_nerf_pe.image.fit.fit`; with ``compression``, measured as a compressed image."""

    def __init__(self, config: ImageFieldConfig, compression: Optional[Compression] = None) -> None:
        self.config, self.compression, self.name = config, compression, config.kind

    def check(self, args: ImageInput, image: Tensor) -> None:
        self.config.check()

    def fit(self, image: Tensor, args: ImageInput, progress: Optional[ProgressFactory] = None, log: Log = lambda line: None) -> LabFit:
        config, line = holdout_config(image, self.config, args)
        if line is not None:
            log(f"holdout bandwidth: {line}")
        result = fit_image(image, config, args, progress)
        H, W, _ = image.shape
        recon = render(result.model, H, W)
        metrics = lab_metrics(config.kind, image, recon, result.psnr_history, result.seconds, str(next(result.model.parameters()).device),
                              result.num_parameters, held_out_psnr=result.final_psnr if args.holdout else None)
        fitted = LabFit(metrics, recon, result.model, save=lambda out: [path.name for path in save_field(result.model, out, height=H, width=W)])
        if self.compression is not None:
            report = metrics["compression"] = self.compression.report(result.model, image)
            fitted.lines.append(self.compression.line(config.kind, report))
            fitted.stored_bpp = report["model_bpp_float16"]
        metrics["config"] = dataclasses.asdict(config)
        return fitted


def network_kind(name: str, field: ImageFieldConfig, compression: Optional[Compression] = None) -> NetworkLabKind:
    """The coordinate network ``name`` with the options of ``field`` (of any subclass of
    :class:`ImageFieldConfig`: its own ``kind`` is ignored)."""
    return NetworkLabKind(ImageFieldConfig(**dataclasses.asdict(dataclasses.replace(field, kind=name))), compression)


def image_entry(image: Tensor, source: str) -> Dict:
    """metrics.json's ``image``: where it came from and its size."""
    H, W, C = image.shape
    return {"source": source, "height": H, "width": W, "channels": C}


def fit_one(args: ImageInput, kind: LabKind, output: Optional[Path] = None, progress: Optional[ProgressFactory] = None,
            log: Log = lambda line: None) -> Tuple[LabFit, List[str]]:
    """``vnp-image fit``: ``kind`` fitted to ``args``' image; with ``output``, ``reconstruction.png``,
    ``metrics.json`` and the kind's own files (a network's ``model.pt`` and ``config.json``) written
    there. Returns the fit and the names written."""
    image, source = load_input(args)
    kind.check(args, image)
    if output is not None:
        make_output_dir(output)  # before the fit: a bad path fails at once
    fitted = kind.fit(image, args, progress, log)
    fitted.metrics["image"] = image_entry(image, source)
    if output is None:
        return fitted, []
    save_image(fitted.recon, output / "reconstruction.png")
    write_json(fitted.metrics, output / "metrics.json")
    return fitted, ["reconstruction.png", "metrics.json", *fitted.save(output)]


def compare_kinds(args: CompareOptions, kinds: Optional[Sequence[LabKind]] = None, progress: Optional[ProgressFactory] = None,
                  log: Log = lambda line: None, on_result: Callable[[str, LabFit], None] = lambda kind, fitted: None) -> List[str]:
    """Fit every kind of ``kinds`` (default: the coordinate networks of ``args.kinds``, unmeasured)
    to the image, write one reconstruction per kind, the figures and ``metrics.json`` to
    ``args.output``; return the figures' names. Every kind is checked before the first, long, fit.
    ``log`` gets the kinds' lines (a holdout bandwidth), ``on_result(kind, fit)`` each fit as it ends."""
    from vanilla_nerf_pe.image import figures  # matplotlib: only this run draws

    kinds = list(kinds) if kinds is not None else [network_kind(name, args.field) for name in args.kinds]
    if not kinds:
        raise InputError("--kinds needs at least one kind")
    image, source = load_input(args)
    for kind in kinds:
        kind.check(args, image)
    out = args.output
    make_output_dir(out)
    fits: Dict[str, LabFit] = {}
    for kind in kinds:
        fitted = fits[kind.name] = kind.fit(image, args, progress, log)
        save_image(fitted.recon, out / f"reconstruction_{kind.name}.png")
        on_result(kind.name, fitted)

    results = {name: fitted.metrics for name, fitted in fits.items()}
    written = ["comparison.png", "psnr_curves.png"]
    with writing(out):
        panels = [("original", image)] + [(f"{name}: {metrics['psnr']:.2f} dB", fits[name].recon) for name, metrics in results.items()]
        figures.save_comparison(out / "comparison.png", panels)
        figures.save_psnr_curves(
            out / "psnr_curves.png",
            {name: metrics["psnr_history"] for name, metrics in results.items()},
            ylabel="PSNR (dB, held-out pixels)" if args.holdout else "PSNR (dB)",
        )
        sizes = {name: fitted.stored_bpp for name, fitted in fits.items()}
        if None not in sizes.values():  # the size panel needs every kind's size as a compressed image
            figures.save_speed_and_size(out / "speed_and_size.png", results, sizes)
            written.append("speed_and_size.png")
        if "siren" in fits:
            written += figures.save_siren_derivatives(fits["siren"].model, image, out)
    write_json({"image": image_entry(image, source), "holdout": args.holdout, "results": results}, out / "metrics.json")
    return written


__all__ = ["CompareOptions", "Compression", "ImageInput", "LabFit", "LabKind", "NetworkLabKind", "compare_kinds", "fit_image", "fit_one",
           "holdout_config", "image_entry", "lab_metrics", "load_input", "network_kind"]
