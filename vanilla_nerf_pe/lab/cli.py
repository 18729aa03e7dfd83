"""Console script ``vnp-image``: fit an image with a coordinate network, render it, compare encodings.

Subcommands (``vnp-image SUBCOMMAND --help`` lists every option):

* ``fit [IMAGE]``: fit one representation (default image: scikit-image's astronaut at 128x128);
  with ``--output DIR`` write ``reconstruction.png``, ``metrics.json``, ``model.pt`` (the state
  dict) and ``config.json`` (the :class:`~vanilla_nerf_pe.image_field.ImageFieldConfig`, the
  channel count and the image size);
* ``render MODEL_DIR``: reload a ``fit --output`` directory and render it at any ``--height`` /
  ``--width`` (the field is continuous);
* ``compare [IMAGE]``: fit every representation with the same MLP size, steps and seed; write one
  reconstruction per representation, ``comparison.png`` (original + fits, PSNR in the titles),
  ``psnr_curves.png`` and ``metrics.json`` (PSNR, SSIM, seconds, parameters); when ``siren`` is
  among them, also the fitted SIREN's gradient norm and Laplacian (autograd, SIREN paper fig. 1):
  ``siren_gradient.png``, ``siren_laplacian.png`` and ``siren_derivatives.png`` (top: the
  ground truth by finite differences, bottom: the SIREN).

* ``experiment CONFIG``: ``compare`` with the settings of a YAML file (``configs/image/*.yaml``:
  the seed experiments), written to ``--output`` (default ``outputs/image/<config name>``).

``--holdout`` trains on the pixels with even row and column only and scores the others (the
generalisation protocol of Tancik et al. 2020). Bad input (missing file, not an image, empty
image, not a model directory) exits with status 2 and a one-line message on stderr.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Literal, Optional, Tuple

import tyro
from typing_extensions import Annotated

from vanilla_nerf_pe.image_field import REPRESENTATIONS, ImageFieldConfig, Representation

PROG = "vnp-image"
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"


class UsageError(Exception):
    """Bad input reported as one line on stderr with exit status 2."""


@dataclass
class CompareFieldConfig(ImageFieldConfig):
    """ImageFieldConfig without ``representation``: ``compare`` fits every one of them."""

    representation: tyro.conf.Suppress[Representation] = "pe"


@dataclass
class _ImageInput:
    image: Annotated[Optional[Path], tyro.conf.Positional, tyro.conf.arg(metavar="[IMAGE]")] = None
    """image file to fit (PNG, JPEG, ...); default: the built-in --default image."""
    default: Literal["astronaut", "camera"] = "astronaut"
    """built-in scikit-image picture used when no IMAGE is given (camera is grayscale)."""
    size: int = 128
    """side of the built-in picture in pixels."""
    alpha: Literal["composite", "drop"] = "composite"
    """images with transparency: composite on white, or drop the alpha channel."""
    holdout: bool = False
    """train on pixels with even row and column only; PSNR is measured on the other pixels."""
    eval_every: int = 100
    """steps between PSNR evaluations."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """where to train: auto picks cuda when a GPU is visible, else cpu."""


@dataclass
class FitCommand(_ImageInput):
    """Fit one image with a coordinate network."""

    output: Optional[Path] = None
    """directory for reconstruction.png, metrics.json, model.pt and config.json; default: print only."""
    field: Annotated[ImageFieldConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(default_factory=ImageFieldConfig)


@dataclass
class RenderCommand:
    """Render a saved image field (a `fit --output` directory) at any resolution."""

    model_dir: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="MODEL_DIR")]
    """directory written by `vnp-image fit --output`."""
    height: Optional[int] = None
    """output height in pixels; default: the fitted image's."""
    width: Optional[int] = None
    """output width in pixels; default: the fitted image's."""
    output: Optional[Path] = None
    """PNG to write; default: MODEL_DIR/render_HxW.png."""


@dataclass
class CompareCommand(_ImageInput):
    """Fit every representation at the same MLP size and steps; write images, curves and metrics."""

    output: Path = Path("image_compare")
    """directory for the reconstructions, comparison.png, psnr_curves.png and metrics.json."""
    representations: Tuple[Representation, ...] = REPRESENTATIONS  # type: ignore[assignment]
    """representations to fit, in this order."""
    field: Annotated[CompareFieldConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(default_factory=CompareFieldConfig)


@dataclass
class ExperimentCommand:
    """Run `compare` with the settings of a YAML file (the seed experiments in configs/image/)."""

    config: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="CONFIG")]
    """YAML file: the options of `compare` as keys (image, default, size, holdout, representations, field: {...})."""
    output: Optional[Path] = None
    """directory to write to; default: outputs/image/<config file name without .yaml>."""


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _load_input(args: _ImageInput):
    from vanilla_nerf_pe.image_field import default_image, load_image

    if args.image is not None:
        return load_image(args.image, alpha=args.alpha), str(args.image)
    if args.size < 1:
        raise UsageError(f"--size must be >= 1, got {args.size}")
    return default_image(args.default, args.size), f"skimage.data.{args.default} ({args.size}x{args.size})"


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda, but torch sees no GPU (use --device cpu or auto)")
    return choice


def _fit_with_progress(image, config: ImageFieldConfig, args: _ImageInput, label: str):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from vanilla_nerf_pe.image_field import even_pixel_mask, fit

    mask = even_pixel_mask(image.shape[0], image.shape[1]) if args.holdout else None
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.2e}  PSNR {task.fields[psnr]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=config.steps, loss=float("nan"), psnr="-")

        def callback(step: int, loss: float, score: Optional[float]) -> None:
            fields = {"loss": loss}
            if score is not None:
                fields["psnr"] = f"{score:.2f} dB"
            progress.update(task, completed=step, **fields)

        result = fit(image, config, eval_every=args.eval_every, train_mask=mask, callback=callback, device=_device(args.device))
    return result


def _summary(result, image, source: str, config: ImageFieldConfig, holdout: bool) -> Dict:
    from vanilla_nerf_pe.image_field import compression_report, image_ssim, psnr, render

    H, W, C = image.shape
    recon = render(result.model, H, W)
    return {
        "representation": config.representation,
        "psnr": result.final_psnr,
        "psnr_pixels": "held-out (odd row or column)" if holdout else "all",
        "psnr_full_image": float(psnr(recon.clamp(0, 1), image)),
        "ssim": image_ssim(recon, image),
        "seconds": result.seconds,
        "device": str(next(result.model.parameters()).device),
        "num_parameters": result.num_parameters,
        "psnr_history": [[s, p] for s, p in result.psnr_history],
        "compression": compression_report(result.model, image),
        "image": {"source": source, "height": H, "width": W, "channels": C},
        "config": dataclasses.asdict(config),
    }, recon


def _compression_line(rep: str, c: Dict) -> str:
    jpeg = (
        f"JPEG at the same PSNR {c['jpeg_bytes']} B ({c['jpeg_bpp']:.2f} bpp, quality {c['jpeg_quality']})"
        if c["jpeg_bytes"] is not None
        else "no JPEG reaches that PSNR"
    )
    return (
        f"{PROG}: {rep}: as a compressed image: {c['model_bytes_float16']} B in float16 ({c['model_bpp_float16']:.2f} bpp, "
        f"{c['psnr_float16']:.2f} dB), {c['model_bytes_float32']} B in float32 ({c['psnr']:.2f} dB); "
        f"{jpeg}; lossless PNG {c['png_bytes']} B ({c['png_bpp']:.2f} bpp)"
    )


def _write_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


# --------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------


def run_fit(args: FitCommand) -> None:
    import torch

    from vanilla_nerf_pe.image_field import save_image

    image, source = _load_input(args)
    config = args.field
    result = _fit_with_progress(image, config, args, f"fit {config.representation}")
    metrics, recon = _summary(result, image, source, config, args.holdout)
    print(
        f"{PROG}: {config.representation}: PSNR {metrics['psnr']:.2f} dB ({metrics['psnr_pixels']} pixels), "
        f"SSIM {metrics['ssim']:.3f}, {result.num_parameters} parameters, {result.seconds:.1f} s"
    )
    print(_compression_line(config.representation, metrics["compression"]))
    if args.output is not None:
        out = args.output
        out.mkdir(parents=True, exist_ok=True)
        save_image(recon, out / "reconstruction.png")
        _write_json(metrics, out / "metrics.json")
        torch.save(result.model.state_dict(), out / MODEL_FILE)
        H, W, C = image.shape
        _write_json(
            {"format": "vanilla_nerf_pe.image_field", "config": dataclasses.asdict(config), "channels": C, "height": H, "width": W},
            out / CONFIG_FILE,
        )
        print(f"{PROG}: wrote reconstruction.png, metrics.json, {MODEL_FILE}, {CONFIG_FILE} to {out}")


def load_model(model_dir: Path):
    """Rebuild the :class:`ImageField` saved by ``fit --output``; returns (model, saved config dict)."""
    import torch

    from vanilla_nerf_pe.image_field import ImageField

    config_path, model_path = model_dir / CONFIG_FILE, model_dir / MODEL_FILE
    if not config_path.is_file() or not model_path.is_file():
        raise UsageError(f"{model_dir}: not a saved model directory (needs {CONFIG_FILE} and {MODEL_FILE})")
    try:
        saved = json.loads(config_path.read_text())
        model = ImageField(ImageFieldConfig(**saved["config"]), int(saved["channels"]))
        model.load_state_dict(torch.load(model_path, map_location="cpu", weights_only=True))
    except (ValueError, KeyError, TypeError, RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{model_dir}: cannot load the saved model ({first})") from None
    model.eval()
    return model, saved


def run_render(args: RenderCommand) -> None:
    from vanilla_nerf_pe.image_field import render, save_image

    model, saved = load_model(args.model_dir)
    H = args.height if args.height is not None else int(saved["height"])
    W = args.width if args.width is not None else int(saved["width"])
    if H < 1 or W < 1:
        raise UsageError(f"--height and --width must be >= 1, got {H}x{W}")
    path = args.output if args.output is not None else args.model_dir / f"render_{H}x{W}.png"
    save_image(render(model, H, W), path)
    print(f"{PROG}: wrote {W}x{H} render to {path}")


def run_compare(args: CompareCommand) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vanilla_nerf_pe.image_field import save_image

    if not args.representations:
        raise UsageError("--representations needs at least one representation")
    image, source = _load_input(args)
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    results: Dict[str, Dict] = {}
    recons = {}
    models = {}
    for rep in args.representations:
        config = dataclasses.replace(args.field, representation=rep)
        config = ImageFieldConfig(**dataclasses.asdict(config))
        result = _fit_with_progress(image, config, args, f"fit {rep}")
        metrics, recon = _summary(result, image, source, config, args.holdout)
        metrics.pop("image")
        results[rep] = metrics
        recons[rep] = recon
        models[rep] = result.model
        save_image(recon, out / f"reconstruction_{rep}.png")
        print(f"{PROG}: {rep}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}, {result.num_parameters} parameters, {result.seconds:.1f} s")
        print(_compression_line(rep, metrics["compression"]))

    H, W, C = image.shape
    gray = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if C == 1 else {}
    panels = [("original", image)] + [(f"{rep}: {results[rep]['psnr']:.2f} dB", recons[rep]) for rep in args.representations]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.3), squeeze=False)
    for ax, (title, img) in zip(axes[0], panels):
        shown = img.detach().clamp(0, 1).numpy()
        ax.imshow(shown[..., 0] if C == 1 else shown, interpolation="nearest", **gray)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "comparison.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for rep in args.representations:
        hist = results[rep]["psnr_history"]
        ax.plot([s for s, _ in hist], [p for _, p in hist], marker=".", label=rep)
    ax.set_xlabel("step")
    ax.set_ylabel("PSNR (dB, held-out pixels)" if args.holdout else "PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "psnr_curves.png", dpi=100)
    plt.close(fig)

    _write_json({"image": {"source": source, "height": H, "width": W, "channels": C}, "holdout": args.holdout, "results": results}, out / "metrics.json")
    extra = ""
    if "siren" in models:
        _write_siren_derivatives(models["siren"], image, out)
        extra = ", siren_gradient.png, siren_laplacian.png, siren_derivatives.png"
    print(f"{PROG}: wrote comparison.png, psnr_curves.png{extra}, metrics.json and {len(results)} reconstructions to {out}")


def load_experiment(path: Path, output: Optional[Path] = None) -> CompareCommand:
    """A :class:`CompareCommand` from a YAML file whose keys are compare's options (``field`` a mapping
    of :class:`ImageFieldConfig` options). Unknown keys or values are a :class:`UsageError`."""
    import yaml

    if not path.is_file():
        raise UsageError(f"{path}: no such experiment file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: expected a mapping of compare's options")
    raw = dict(raw)
    raw.pop("description", None)
    field_options = raw.pop("field", {}) or {}
    known = {f.name for f in dataclasses.fields(CompareCommand)} - {"field", "output"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UsageError(f"{path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    field_known = {f.name for f in dataclasses.fields(ImageFieldConfig)} - {"representation"}
    field_unknown = sorted(set(field_options) - field_known)
    if field_unknown:
        raise UsageError(f"{path}: unknown field option(s) {', '.join(field_unknown)}")
    if "image" in raw and raw["image"] is not None:
        raw["image"] = Path(raw["image"])
    if "representations" in raw:
        raw["representations"] = tuple(raw["representations"])
        bad = [r for r in raw["representations"] if r not in REPRESENTATIONS]
        if bad:
            raise UsageError(f"{path}: unknown representation(s) {bad}; choose from {REPRESENTATIONS}")
    try:
        field_config = CompareFieldConfig(**field_options)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    out = output if output is not None else Path("outputs/image") / path.stem
    return CompareCommand(output=out, field=field_config, **raw)


def _derivative_panel(fig, ax, values, kind: str, title: str) -> None:
    """One colour-mapped map with a colourbar and no axes; the Laplacian uses a symmetric
    diverging scale clipped at the 99th percentile of |value| (a few pixels dominate otherwise)."""
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    if kind == "gradient":
        vmax = float(np.percentile(values, 99)) or 1.0
        im = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=vmax, interpolation="nearest")
    else:
        vmax = float(np.percentile(np.abs(values), 99)) or 1.0
        im = ax.imshow(values, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title, fontsize=10)
    ax.axis("off")


def _write_siren_derivatives(model, image, out: Path) -> None:
    """SIREN fig. 1 (Sitzmann et al. 2020): gradient norm and Laplacian of the fitted SIREN (autograd)
    next to the ground truth's (finite differences), grayscale value, [-1, 1] coordinate units."""
    import matplotlib.pyplot as plt

    from vanilla_nerf_pe.image_field import finite_difference_derivatives, gradient_and_laplacian

    H, W, _ = image.shape
    grad, lap = (t.numpy() for t in gradient_and_laplacian(model, H, W))
    gt_grad, gt_lap = finite_difference_derivatives(image)
    for name, values, kind, title in (
        ("siren_gradient.png", grad, "gradient", "SIREN |grad f|"),
        ("siren_laplacian.png", lap, "laplacian", "SIREN Laplacian of f"),
    ):
        fig, ax = plt.subplots(figsize=(4, 3.5))
        _derivative_panel(fig, ax, values, kind, title)
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
    fig, axes = plt.subplots(2, 2, figsize=(7.5, 6.5))
    _derivative_panel(fig, axes[0, 0], gt_grad, "gradient", "ground truth |grad f| (finite diff.)")
    _derivative_panel(fig, axes[0, 1], gt_lap, "laplacian", "ground truth Laplacian (finite diff.)")
    _derivative_panel(fig, axes[1, 0], grad, "gradient", "SIREN |grad f| (autograd)")
    _derivative_panel(fig, axes[1, 1], lap, "laplacian", "SIREN Laplacian (autograd)")
    fig.tight_layout()
    fig.savefig(out / "siren_derivatives.png", dpi=100)
    plt.close(fig)


def main(argv=None) -> None:
    """Console entry point ``vnp-image``."""
    from vanilla_nerf_pe.image_field import ImageError

    args = tyro.extras.subcommand_cli_from_dict(
        {"fit": FitCommand, "render": RenderCommand, "compare": CompareCommand, "experiment": ExperimentCommand},
        prog=PROG,
        description="Fit an image with a coordinate network (no encoding / positional encoding / Fourier features / SIREN).",
        args=argv,
    )
    try:
        if isinstance(args, FitCommand):
            run_fit(args)
        elif isinstance(args, RenderCommand):
            run_render(args)
        elif isinstance(args, ExperimentCommand):
            command = load_experiment(args.config, args.output)
            print(f"{PROG}: experiment {args.config} -> {command.output}")
            run_compare(command)
        else:
            run_compare(args)
    except (ImageError, UsageError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
