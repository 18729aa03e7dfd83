"""The lab's runs: fit one image with one network kind, or with every kind side by side, and write
what ``vnp-image fit`` and ``vnp-image compare`` write.

:class:`ImageInput` says which image and how it is fitted (the options the two commands share);
:class:`CompareOptions` adds the kinds to compare and the output directory (an experiment YAML gives
the same options: :mod:`~vanilla_nerf_pe.image.experiment`). How a fitted field fares as a
compressed image is the codec's business: :func:`fit_summary` and :func:`compare_kinds` take it as
an optional ``measure(model, image) -> dict`` (``vnp-image`` passes
:func:`vanilla_nerf_pe.codec.baselines.compression_report`), so the lab does not import the codec.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Literal, Optional, Tuple

from torch import Tensor

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

Measure = Callable[[ImageField, Tensor], Dict]


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
    """steps between PSNR evaluations."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """where to train: auto picks cuda when a GPU is visible, else cpu."""


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


def fit_summary(result: FitResult, image: Tensor, source: str, config: ImageFieldConfig, holdout: bool,
                measure: Optional[Measure] = None) -> Tuple[Dict, Tensor]:
    """(the metrics.json entry of one fit, its ``[H, W, C]`` reconstruction, not clamped); with
    ``measure``, its dict is the entry's ``compression``."""
    H, W, C = image.shape
    recon = render(result.model, H, W)
    metrics = {
        "kind": config.kind,
        "psnr": result.final_psnr,
        "psnr_pixels": "held-out (odd row or column)" if holdout else "all",
        "psnr_full_image": float(psnr(recon.clamp(0, 1), image)),
        "ssim": image_ssim(recon, image),
        "seconds": result.seconds,
        "device": str(next(result.model.parameters()).device),
        "num_parameters": result.num_parameters,
        "psnr_history": [[s, p] for s, p in result.psnr_history],
    }
    if measure is not None:
        metrics["compression"] = measure(result.model, image)
    metrics.update(image={"source": source, "height": H, "width": W, "channels": C}, config=dataclasses.asdict(config))
    return metrics, recon


def write_fit(out: Path, result: FitResult, metrics: Dict, recon: Tensor) -> List[str]:
    """``reconstruction.png``, ``metrics.json``, ``model.pt`` and ``config.json`` of one fit in ``out``; their names."""
    save_image(recon, out / "reconstruction.png")
    write_json(metrics, out / "metrics.json")
    model_path, config_path = save_field(result.model, out, height=recon.shape[0], width=recon.shape[1])
    return ["reconstruction.png", "metrics.json", model_path.name, config_path.name]


def compare_configs(args: CompareOptions) -> Dict[str, ImageFieldConfig]:
    """One checked :class:`ImageFieldConfig` per kind of ``args.kinds`` (all checked before the first, long, fit)."""
    if not args.kinds:
        raise InputError("--kinds needs at least one network kind")
    configs = {kind: ImageFieldConfig(**dataclasses.asdict(dataclasses.replace(args.field, kind=kind))) for kind in args.kinds}
    for config in configs.values():
        config.check()
    return configs


def compare_kinds(args: CompareOptions, progress: Optional[ProgressFactory] = None, measure: Optional[Measure] = None,
                  log: Callable[[str], None] = lambda line: None,
                  on_result: Callable[[str, Dict], None] = lambda kind, metrics: None) -> List[str]:
    """Fit every kind of ``args.kinds`` to the image, write one reconstruction per kind, the figures
    and ``metrics.json`` to ``args.output``; return the figures' names. ``log`` gets each holdout
    bandwidth line, ``on_result(kind, metrics)`` each fit's summary as it ends."""
    from vanilla_nerf_pe.image import figures  # matplotlib: only this run draws

    configs = compare_configs(args)
    image, source = load_input(args)
    out = args.output
    make_output_dir(out)
    results: Dict[str, Dict] = {}
    recons: Dict[str, Tensor] = {}
    models = {}
    for kind, config in configs.items():
        config, line = holdout_config(image, config, args)
        if line is not None:
            log(f"holdout bandwidth: {line}")
        result = fit_image(image, config, args, progress)
        metrics, recon = fit_summary(result, image, source, config, args.holdout, measure)
        metrics.pop("image")
        results[kind], recons[kind], models[kind] = metrics, recon, result.model
        save_image(recon, out / f"reconstruction_{kind}.png")
        on_result(kind, metrics)

    H, W, C = image.shape
    written = ["comparison.png", "psnr_curves.png"]
    with writing(out):
        panels = [("original", image)] + [(f"{kind}: {results[kind]['psnr']:.2f} dB", recons[kind]) for kind in configs]
        figures.save_comparison(out / "comparison.png", panels)
        figures.save_psnr_curves(
            out / "psnr_curves.png",
            {kind: results[kind]["psnr_history"] for kind in configs},
            ylabel="PSNR (dB, held-out pixels)" if args.holdout else "PSNR (dB)",
        )
        if measure is not None:  # the size panel needs each field's size as a compressed image
            figures.save_speed_and_size(out / "speed_and_size.png", results)
            written.append("speed_and_size.png")
        if "siren" in models:
            written += figures.save_siren_derivatives(models["siren"], image, out)
    write_json({"image": {"source": source, "height": H, "width": W, "channels": C}, "holdout": args.holdout, "results": results},
               out / "metrics.json")
    return written


__all__ = ["CompareOptions", "ImageInput", "compare_configs", "compare_kinds", "fit_image", "fit_summary", "holdout_config",
           "load_input", "write_fit"]
