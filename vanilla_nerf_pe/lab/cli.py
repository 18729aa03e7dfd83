"""Console script ``vnp-image``: fit an image with a coordinate network, render it, compare encodings.

Subcommands (``vnp-image SUBCOMMAND --help`` lists every option):

* ``fit [IMAGE]``: fit one network kind (default image: scikit-image's astronaut at 128x128);
  with ``--output DIR`` write ``reconstruction.png``, ``metrics.json``, ``model.pt`` (the state
  dict) and ``config.json`` (the :class:`~vanilla_nerf_pe.lab.field.ImageFieldConfig`, the
  channel count and the image size);
* ``render MODEL_DIR``: reload a ``fit --output`` directory (of any version) and render it at any
  ``--height`` / ``--width`` (the field is continuous);
* ``compare [IMAGE]``: fit every kind (``--kinds``, default all of
  :data:`~vanilla_nerf_pe.core.network.NETWORK_KINDS`) with the same MLP size, steps and seed;
  write one reconstruction per kind, ``comparison.png`` (original + fits, PSNR in the titles),
  ``psnr_curves.png``, ``speed_and_size.png`` (PSNR against seconds and against the model's size)
  and ``metrics.json`` (PSNR, SSIM, seconds, parameters); when ``siren`` is
  among them, also the fitted SIREN's gradient norm and Laplacian (autograd, SIREN paper fig. 1):
  ``siren_gradient.png``, ``siren_laplacian.png`` and ``siren_derivatives.png`` (top: the
  ground truth by finite differences, bottom: the SIREN);
* ``experiment CONFIG``: ``compare`` with the settings of a YAML file (``configs/image/*.yaml``:
  the seed experiments), written to ``--output`` (default ``outputs/image/<config name>``);
* ``compress IMAGE OUT --bpp B``: fit a network sized for B bits per pixel, fine-tune it for
  k-bit weights and write the ``.vnpi`` file (:mod:`vanilla_nerf_pe.lab.codec`); with ``--psnr P``
  the rate is searched (a few fits) for the smallest file that decodes to P dB, exit status 1 when
  none of the tries reached it (the best one is written);
  ``decompress FILE OUT.png`` decodes one (on the CPU, the same PNG every time);
* ``rd [IMAGES]``: rate-distortion curves (PSNR, SSIM against bpp) of ours, JPEG, WebP, JPEG 2000,
  AVIF and JPEG XL, with COIN's published curve (:mod:`vanilla_nerf_pe.lab.rd`);
* ``table1 [IMAGES]``: Tancik et al. 2020's Table 1 protocol, plus SIREN and the hash grid
  (:mod:`vanilla_nerf_pe.lab.protocol`).

The network options are those of the NeRF fields (:class:`~vanilla_nerf_pe.core.network.CoordinateNetworkConfig`:
``--kind``, ``--num-layers``, ``--width``, ``--pe-num-frequencies``, ``--fourier-num-features``,
``--fourier-sigma``, ``--siren-first-omega-0``, ...), plus the fitting options (``--lr``,
``--steps``, ``--batch-pixels``, ``--seed``, ``--standardize``, ``--coord-scale``).

``--holdout`` trains on the pixels with even row and column only and scores the others (the
generalisation protocol of Tancik et al. 2020), with the encoding's bandwidth chosen for that
training grid and printed (``--holdout-bandwidth as-given`` keeps the options). Bad input (missing file, not an image, empty
image, not a model directory, an option out of range, an output that cannot be written) is an
:class:`~vanilla_nerf_pe.core.errors.InputError`: exit status 2, ``vnp-image: error: MESSAGE``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Literal, Optional, Tuple

import numpy as np
import torch
import tyro
from torch import Tensor
from typing_extensions import Annotated

from vanilla_nerf_pe.core.errors import InputError, QualityBelowThreshold, run_cli
from vanilla_nerf_pe.core.image_io import load_image, save_image
from vanilla_nerf_pe.core.metrics import psnr
from vanilla_nerf_pe.core.network import NETWORK_KINDS, NetworkKind
from vanilla_nerf_pe.lab.analysis import image_ssim
from vanilla_nerf_pe.lab.codec import CompressConfig, compress_image, compress_to_psnr, decode_image, read_file
from vanilla_nerf_pe.lab.compression import compression_report
from vanilla_nerf_pe.lab.field import LEGACY_CONFIG_KEYS, ImageFieldConfig, default_image, even_pixel_mask, load_field, save_field
from vanilla_nerf_pe.lab.fit import FitResult, fit, render
from vanilla_nerf_pe.lab.protocol import TABLE1_METHODS, Table1Config, choose_holdout_bandwidth

PROG = "vnp-image"
#: Keys of an experiment YAML renamed with the shared network: old -> new.
LEGACY_EXPERIMENT_KEYS = {"representations": "kinds"}


@dataclass
class CompareFieldConfig(ImageFieldConfig):
    """ImageFieldConfig without ``kind``: ``compare`` fits every kind in ``--kinds``."""

    kind: tyro.conf.Suppress[NetworkKind] = "pe"


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
    """Fit every network kind at the same MLP size and steps; write images, curves and metrics."""

    output: Path = Path("image_compare")
    """directory for the reconstructions, comparison.png, psnr_curves.png and metrics.json."""
    kinds: Tuple[NetworkKind, ...] = NETWORK_KINDS  # type: ignore[assignment]
    """network kinds to fit, in this order."""
    field: Annotated[CompareFieldConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(default_factory=CompareFieldConfig)


@dataclass
class CompressCommand:
    """Store an image as a quantised, entropy-coded coordinate network (a .vnpi file)."""

    image: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="IMAGE")]
    """image to compress (PNG, JPEG, ...)."""
    output: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="OUT")]
    """the .vnpi file to write."""
    alpha: Literal["composite", "drop"] = "composite"
    """images with transparency: composite on white, or drop the alpha channel."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """where to fit: auto picks cuda when a GPU is visible (decoding is always on the CPU)."""
    codec: Annotated[CompressConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(default_factory=CompressConfig)


@dataclass
class DecompressCommand:
    """Decode a .vnpi file into a PNG (on the CPU: the same PNG on every machine and every run)."""

    file: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="FILE")]
    """the .vnpi file written by `vnp-image compress`."""
    output: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="OUT.png")]
    """the PNG to write."""


@dataclass
class RdCodecConfig(CompressConfig):
    """CompressConfig without ``bpp``: ``rd`` compresses at every rate of ``--rates``."""

    bpp: tyro.conf.Suppress[float] = 0.3
    psnr: tyro.conf.Suppress[Optional[float]] = None
    psnr_tries: tyro.conf.Suppress[int] = 5


@dataclass
class RdCommand:
    """Rate-distortion curves (PSNR and SSIM against bpp): ours, JPEG 4:4:4 and 4:2:0, WebP, JPEG 2000, AVIF, JPEG XL, COIN."""

    images: Annotated[Tuple[Path, ...], tyro.conf.Positional, tyro.conf.arg(metavar="IMAGES")] = ()
    """image files, or names of the shipped photographs; default: the shipped set (scikit-image's astronaut, chelsea, coffee)."""
    output: Path = Path("rd")
    """directory for rd.png, rd_table.md, rd.json and ours/ (the .vnpi files; a rerun reuses them)."""
    crop: int = 256
    """centre crop of every image to crop x crop pixels (0: uncropped)."""
    rates: Tuple[float, ...] = (0.15, 0.3, 0.6)
    """target bits per pixel of our files."""
    report_rate: float = 0.3
    """the rate of the table: each codec's mean PSNR and SSIM there (interpolated per image)."""
    ours: bool = True
    """compress with our codec too (--no-ours: the baselines only, seconds)."""
    baselines: Tuple[str, ...] = ("JPEG 4:4:4", "JPEG 4:2:0", "WebP", "JPEG 2000", "AVIF", "JPEG XL")
    """baseline codecs to run (AVIF's encoder is the slow one: about 2 s per 256x256 file)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """where our fits run (decoding is always on the CPU)."""
    codec: Annotated[RdCodecConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(default_factory=RdCodecConfig)


@dataclass
class Table1Command:
    """Tancik et al. 2020's Table 1 protocol (train on y[::2, ::2], score the offset pixels), plus SIREN and the hash grid."""

    images: Annotated[Tuple[Path, ...], tyro.conf.Positional, tyro.conf.arg(metavar="IMAGES")] = ()
    """image files or names of the shipped photographs (centre-cropped to a square, resized to --size); default: the shipped set."""
    output: Path = Path("table1")
    """directory for table1.md and table1.json."""
    methods: Tuple[str, ...] = TABLE1_METHODS
    """methods to fit: none, basic, pe, gaussian (Tancik et al.'s), siren, hash."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """where to train."""
    protocol: Annotated[Table1Config, tyro.conf.OmitArgPrefixes] = dataclasses.field(default_factory=Table1Config)


@dataclass
class ExperimentCommand:
    """Run `compare` with the settings of a YAML file (the seed experiments in configs/image/)."""

    config: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="CONFIG")]
    """YAML file: the options of `compare` as keys (image, default, size, holdout, kinds, field: {...})."""
    output: Optional[Path] = None
    """directory to write to; default: outputs/image/<config file name without .yaml>."""


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Report an OSError while writing under ``path`` as an :class:`InputError` naming the file."""
    try:
        yield
    except OSError as exc:
        raise InputError(f"{exc.filename or path}: cannot write ({exc.strerror or exc})") from None


def _write_json(obj, path: Path) -> None:
    with _writing(path):
        path.write_text(json.dumps(obj, indent=2) + "\n")


def _make_output_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: output path exists and is not a directory")
    with _writing(path):
        path.mkdir(parents=True, exist_ok=True)


def _load_input(args: _ImageInput) -> Tuple[Tensor, str]:
    """The image to fit, ``[H, W, C]`` in [0, 1], and a description of where it came from."""
    if args.image is not None:
        return load_image(args.image, alpha=args.alpha), str(args.image)
    if args.size < 1:
        raise InputError(f"--size must be >= 1, got {args.size}")
    return default_image(args.default, args.size), f"skimage.data.{args.default} ({args.size}x{args.size})"


def _device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda, but torch sees no GPU (use --device cpu or auto)")
    return choice


def _fit_with_progress(image: Tensor, config: ImageFieldConfig, args: _ImageInput, label: str) -> FitResult:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    mask = even_pixel_mask(image.shape[0], image.shape[1]) if args.holdout else None
    device = _device(args.device)
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

        return fit(image, config, eval_every=args.eval_every, train_mask=mask, callback=callback, device=device)


def _holdout_config(image: Tensor, config: ImageFieldConfig, args: _ImageInput) -> ImageFieldConfig:
    """``config`` with the bandwidth the holdout protocol asks for (printed), or as it is."""
    if not args.holdout or args.holdout_bandwidth == "as-given":
        return config
    if args.bandwidth_sweep_steps < 1:
        raise InputError(f"--bandwidth-sweep-steps must be >= 1, got {args.bandwidth_sweep_steps}")
    chosen, line = choose_holdout_bandwidth(image, config, args.bandwidth_sweep_steps)
    print(f"{PROG}: holdout bandwidth: {line}")
    return chosen


def _summary(result: FitResult, image: Tensor, source: str, config: ImageFieldConfig, holdout: bool) -> Tuple[Dict, Tensor]:
    """(the metrics.json entry of one fit, its ``[H, W, C]`` reconstruction, not clamped)."""
    H, W, C = image.shape
    recon = render(result.model, H, W)
    return {
        "kind": config.kind,
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


def _compression_line(kind: str, c: Dict) -> str:
    jpeg = (
        f"JPEG at the same PSNR {c['jpeg_bytes']} B ({c['jpeg_bpp']:.2f} bpp, quality {c['jpeg_quality']})"
        if c["jpeg_bytes"] is not None
        else "no JPEG reaches that PSNR"
    )
    return (
        f"{PROG}: {kind}: as a compressed image: {c['model_bytes_float16']} B in float16 ({c['model_bpp_float16']:.2f} bpp, "
        f"{c['psnr_float16']:.2f} dB), {c['model_bytes_float32']} B in float32 ({c['psnr']:.2f} dB); "
        f"{jpeg}; lossless PNG {c['png_bytes']} B ({c['png_bpp']:.2f} bpp)"
    )


# --------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------


def run_fit(args: FitCommand) -> None:
    config = args.field
    config.check()
    image, source = _load_input(args)
    if args.output is not None:
        _make_output_dir(args.output)  # before the fit: a bad path fails at once
    config = _holdout_config(image, config, args)
    result = _fit_with_progress(image, config, args, f"fit {config.kind}")
    metrics, recon = _summary(result, image, source, config, args.holdout)
    print(
        f"{PROG}: {config.kind}: PSNR {metrics['psnr']:.2f} dB ({metrics['psnr_pixels']} pixels), "
        f"SSIM {metrics['ssim']:.3f}, {result.num_parameters} parameters, {result.seconds:.1f} s"
    )
    print(_compression_line(config.kind, metrics["compression"]))
    if args.output is not None:
        out = args.output
        save_image(recon, out / "reconstruction.png")
        _write_json(metrics, out / "metrics.json")
        model_path, config_path = save_field(result.model, out, height=image.shape[0], width=image.shape[1])
        print(f"{PROG}: wrote reconstruction.png, metrics.json, {model_path.name}, {config_path.name} to {out}")


def run_render(args: RenderCommand) -> None:
    model, saved = load_field(args.model_dir)
    H = args.height if args.height is not None else int(saved["height"])
    W = args.width if args.width is not None else int(saved["width"])
    if H < 1 or W < 1:
        raise InputError(f"--height and --width must be >= 1, got {H}x{W}")
    path = args.output if args.output is not None else args.model_dir / f"render_{H}x{W}.png"
    save_image(render(model, H, W), path)
    print(f"{PROG}: wrote {W}x{H} render to {path}")


def run_compare(args: CompareCommand) -> None:
    from vanilla_nerf_pe.lab import figures  # matplotlib: only this subcommand draws

    if not args.kinds:
        raise InputError("--kinds needs at least one network kind")
    configs = {kind: ImageFieldConfig(**dataclasses.asdict(dataclasses.replace(args.field, kind=kind))) for kind in args.kinds}
    for config in configs.values():  # every kind's options before the first (long) fit
        config.check()
    image, source = _load_input(args)
    out = args.output
    _make_output_dir(out)
    results: Dict[str, Dict] = {}
    recons: Dict[str, Tensor] = {}
    models = {}
    for kind, config in configs.items():
        config = _holdout_config(image, config, args)
        result = _fit_with_progress(image, config, args, f"fit {kind}")
        metrics, recon = _summary(result, image, source, config, args.holdout)
        metrics.pop("image")
        results[kind], recons[kind], models[kind] = metrics, recon, result.model
        save_image(recon, out / f"reconstruction_{kind}.png")
        print(f"{PROG}: {kind}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}, {result.num_parameters} parameters, {result.seconds:.1f} s")
        print(_compression_line(kind, metrics["compression"]))

    H, W, C = image.shape
    written = ["comparison.png", "psnr_curves.png", "speed_and_size.png"]
    with _writing(out):
        panels = [("original", image)] + [(f"{kind}: {results[kind]['psnr']:.2f} dB", recons[kind]) for kind in configs]
        figures.save_comparison(out / "comparison.png", panels)
        figures.save_psnr_curves(
            out / "psnr_curves.png",
            {kind: results[kind]["psnr_history"] for kind in configs},
            ylabel="PSNR (dB, held-out pixels)" if args.holdout else "PSNR (dB)",
        )
        figures.save_speed_and_size(out / "speed_and_size.png", results)
        if "siren" in models:
            written += figures.save_siren_derivatives(models["siren"], image, out)
    _write_json({"image": {"source": source, "height": H, "width": W, "channels": C}, "holdout": args.holdout, "results": results}, out / "metrics.json")
    print(f"{PROG}: wrote {', '.join(written)}, metrics.json and {len(results)} reconstructions to {out}")


def run_compress(args: CompressCommand) -> None:
    args.codec.check()
    image = load_image(args.image, alpha=args.alpha)
    if args.output.is_dir():
        raise InputError(f"{args.output}: is a directory, not a file to write")
    _make_output_dir(args.output.parent)  # before the fit: a bad path fails at once
    if args.codec.psnr is None:
        result = compress_image(image, args.codec, device=_device(args.device))
    else:
        search = compress_to_psnr(image, args.codec, args.codec.psnr, device=_device(args.device))
        result = search.best
        tried = "; ".join(f"{bpp:.3f} bpp -> {score:.2f} dB" for bpp, score in search.tries)
        print(f"{PROG}: --psnr {args.codec.psnr:g}: tried {tried}")
    encoded = result.encoded
    with _writing(args.output):
        args.output.write_bytes(encoded.data)
    sizes = ", ".join(f"{coder} {size} B" for coder, size in result.coder_bytes.items())
    print(
        f"{PROG}: wrote {args.output}: {len(encoded.data)} B, {encoded.bpp:.3f} bpp ({encoded.coder}; {sizes}), "
        f"{encoded.config.kind} {encoded.config.num_layers}x{encoded.config.width} at {encoded.bits} bits, "
        f"PSNR {result.psnr:.2f} dB decoded ({result.psnr_float:.2f} dB before quantisation); "
        f"encoded in {result.encode_seconds:.1f} s, decoded in {result.decode_seconds:.2f} s"
    )
    if args.codec.psnr is not None and not search.reached:
        raise QualityBelowThreshold(
            f"no file of the {len(search.tries)} tried reached --psnr {args.codec.psnr:g} dB; {args.output} is the best one "
            f"({result.psnr:.2f} dB); raise --psnr-tries, --bits or --steps"
        )


def run_decompress(args: DecompressCommand) -> None:
    import time

    start = time.perf_counter()
    data = read_file(args.file)
    try:
        array = decode_image(data)
    except InputError as exc:
        raise InputError(f"{args.file}: {exc}") from None
    seconds = time.perf_counter() - start
    save_image(torch.from_numpy(array).float() / 255.0, args.output)
    print(f"{PROG}: wrote {array.shape[1]}x{array.shape[0]} image to {args.output} (decoded in {seconds:.2f} s)")


def _photograph(path: Path) -> np.ndarray:
    """``[H, W, C]`` uint8: the image file ``path``, or the shipped photograph of that name when no
    such file exists (``astronaut``, ``chelsea``, ``coffee``)."""
    from vanilla_nerf_pe.core.image_io import to_uint8
    from vanilla_nerf_pe.lab import rd

    if not path.exists() and str(path) in rd.SHIPPED_PHOTOGRAPHS:
        return rd.shipped_photographs(0)[str(path)]
    return to_uint8(load_image(path))


def _rd_images(args: RdCommand) -> Dict[str, np.ndarray]:
    from vanilla_nerf_pe.lab import rd

    if args.crop < 0:
        raise InputError(f"--crop must be >= 0, got {args.crop}")
    if not args.images:
        return rd.shipped_photographs(args.crop)
    images = {}
    for path in args.images:
        array = _photograph(path)
        images[path.stem] = rd.centre_crop(array, args.crop) if args.crop else array
    if len(images) != len(args.images):
        raise InputError("two IMAGES have the same file name; rd names them by it")
    return images


def run_rd(args: RdCommand) -> None:
    import time

    from vanilla_nerf_pe.lab import rd

    if not args.rates or any(r <= 0 for r in args.rates):
        raise InputError(f"--rates must be > 0, got {args.rates}")
    unknown = [b for b in args.baselines if b not in rd.baseline_codecs()]
    if unknown:
        raise InputError(f"--baselines {unknown}: choose from {', '.join(rd.baseline_codecs())}")
    images = _rd_images(args)
    _make_output_dir(args.output / "ours")
    points: list = []
    for name, array in images.items():
        for codec in args.baselines:
            points += rd.baseline_curve(codec, name, array)
        print(f"{PROG}: rd: {name} ({array.shape[1]}x{array.shape[0]}): baselines done")
        if not args.ours:
            continue
        image = torch.from_numpy(array.astype("float32") / 255.0)
        image = image[..., None] if image.ndim == 2 else image
        for rate in sorted(args.rates):
            stem = f"{name}_{rate:g}bpp"  # not Path.with_suffix: the rate's decimal point is no suffix
            vnpi, record = args.output / "ours" / f"{stem}.vnpi", args.output / "ours" / f"{stem}.json"
            if vnpi.is_file() and record.is_file():
                encode_seconds = json.loads(record.read_text())["encode_seconds"]
            else:
                config = RdCodecConfig(**{**dataclasses.asdict(args.codec), "bpp": rate})
                result = compress_image(image, config, device=_device(args.device))
                encode_seconds = result.encode_seconds
                with _writing(vnpi):
                    vnpi.write_bytes(result.encoded.data)
                _write_json({"encode_seconds": encode_seconds, "coder_bytes": result.coder_bytes, "config": dataclasses.asdict(config)}, record)
            data = read_file(vnpi)
            start = time.perf_counter()
            decoded = decode_image(data)
            decode_seconds = time.perf_counter() - start
            quality, similarity = rd.score(decoded, array)
            point = rd.RatePoint("ours", name, f"{rate:g}", 8.0 * len(data) / (array.shape[0] * array.shape[1]), quality, similarity, encode_seconds, decode_seconds)
            points.append(point)
            print(f"{PROG}: rd: {name} ours at {rate:g}: {point.bpp:.3f} bpp, {quality:.2f} dB, SSIM {similarity:.3f}, encoded in {encode_seconds:.0f} s, decoded in {decode_seconds:.2f} s")
    rows = _rd_table(points, args.report_rate)
    table = "\n".join(rows) + "\n"
    with _writing(args.output):
        (args.output / "rd_table.md").write_text(table)
        size = next(iter(images.values())).shape
        rd.save_rd_figure(args.output / "rd.png", points, f"{', '.join(images)} ({size[1]}x{size[0]} crops): mean over images")
    _write_json({"images": list(images), "crop": args.crop, "report_rate": args.report_rate, "coin_kodak": rd.COIN_KODAK,
                 "points": [dataclasses.asdict(p) for p in points]}, args.output / "rd.json")
    print(table, end="")
    print(f"{PROG}: wrote rd.png, rd_table.md and rd.json to {args.output}")


def _rd_table(points: list, rate: float) -> list:
    """Markdown rows: each codec's mean PSNR and SSIM at ``rate`` and its mean seconds per file."""
    from vanilla_nerf_pe.lab import rd

    def cell(value, fmt):
        return format(value, fmt) if value is not None else "n/a (curve does not reach)"

    ours_at_rate = [p for p in points if p.codec == "ours" and p.setting == f"{rate:g}"]
    same = f"mean PSNR at our {rate:g}-bpp files' rates ({np.mean([p.bpp for p in ours_at_rate]):.3f} bpp on average)" if ours_at_rate else ""
    rows = [
        f"| codec | mean PSNR at {rate:g} bpp | mean SSIM at {rate:g} bpp | {same} | encode s per file (mean) | decode s per file (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for codec in dict.fromkeys(p.codec for p in points):
        mine = [p for p in points if p.codec == codec]
        at_ours = [rd.value_at_rate([p for p in mine if p.image == o.image], o.bpp) for o in ours_at_rate]
        rows.append(
            f"| {codec} | {cell(rd.mean_at_rate(mine, rate), '.2f')} | {cell(rd.mean_at_rate(mine, rate, 'ssim'), '.3f')} | "
            f"{cell(float(np.mean(at_ours)) if at_ours and None not in at_ours else None, '.2f')} | "
            f"{sum(p.encode_seconds for p in mine) / len(mine):.3g} | {sum(p.decode_seconds for p in mine) / len(mine):.3g} |"
        )
    coin_same = np.mean([rd.coin_psnr_at(o.bpp) for o in ours_at_rate]) if ours_at_rate else None
    rows.append(f"| COIN (published, Kodak 768x512, not this set) | {rd.coin_psnr_at(rate):.2f} | | {cell(coin_same, '.2f')} | | |")
    return rows


def run_table1_command(args: Table1Command) -> None:
    from PIL import Image

    from vanilla_nerf_pe.lab import protocol, rd

    config = args.protocol
    config.check()
    bad = [m for m in args.methods if m not in TABLE1_METHODS]
    if bad or not args.methods:
        raise InputError(f"--methods {bad or '(none)'}: choose from {', '.join(TABLE1_METHODS)}")
    sources = {path.stem: _photograph(path) for path in args.images} if args.images else rd.shipped_photographs(0)
    images = {}
    for name, array in sources.items():
        square = rd.centre_crop(array, min(array.shape[:2]))
        resized = Image.fromarray(square[..., 0] if square.shape[-1] == 1 else square).resize((config.size, config.size), Image.Resampling.LANCZOS)
        pixels = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0)
        images[name] = pixels[..., None] if pixels.ndim == 2 else pixels
    _make_output_dir(args.output)

    def progress(row: dict) -> None:
        print(f"{PROG}: table1: {row['image']} {row['method']}: held-out {row['psnr_held_out']:.2f} dB, "
              f"full image {row['psnr_full_image']:.2f} dB, {row['seconds']:.0f} s", flush=True)

    rows = protocol.run_table1(images, config, args.methods, device=_device(args.device), progress=progress)
    lines = [
        f"| method | held-out PSNR, mean of {len(images)} ({', '.join(images)}) | full-image PSNR | Tancik et al., DIV2K | parameters | seconds per image |",
        "|---|---|---|---|---|---|",
    ]
    for method in args.methods:
        mine = [r for r in rows if r["method"] == method]
        mean = lambda key: sum(r[key] for r in mine) / len(mine)  # noqa: E731
        paper = protocol.TANCIK_TABLE1_DIV2K.get(method)
        lines.append(f"| {method} | {mean('psnr_held_out'):.2f} dB | {mean('psnr_full_image'):.2f} dB | "
                     f"{f'{paper:.2f} dB' if paper is not None else ''} | {mine[0]['num_parameters']:,} | {mean('seconds'):.0f} |")
    table = "\n".join(lines) + "\n"
    with _writing(args.output):
        (args.output / "table1.md").write_text(table)
    _write_json({"protocol": dataclasses.asdict(config), "images": list(images), "rows": rows}, args.output / "table1.json")
    print(table, end="")
    print(f"{PROG}: wrote table1.md and table1.json to {args.output}")


def _renamed_hint(unknown, table: Dict[str, str]) -> str:
    renamed = [f"{key} -> {table[key]}" for key in unknown if key in table]
    return f" (renamed: {', '.join(renamed)})" if renamed else ""


def load_experiment(path: Path, output: Optional[Path] = None) -> CompareCommand:
    """A :class:`CompareCommand` from a YAML file whose keys are compare's options (``field`` a mapping
    of :class:`ImageFieldConfig` options). Unknown keys or bad values are an :class:`InputError`;
    a key renamed with the shared network names its new name."""
    import yaml

    if not path.is_file():
        raise InputError(f"{path}: no such experiment file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping of compare's options")
    raw = dict(raw)
    raw.pop("description", None)
    field_options = raw.pop("field", {}) or {}
    if not isinstance(field_options, dict):
        raise InputError(f"{path}: field: expected a mapping of network and fitting options")
    known = {f.name for f in dataclasses.fields(CompareCommand)} - {"field", "output"}
    unknown = sorted(set(raw) - known)
    if unknown:
        hint = _renamed_hint(unknown, LEGACY_EXPERIMENT_KEYS)
        raise InputError(f"{path}: unknown option(s) {', '.join(unknown)}{hint}; known: {', '.join(sorted(known))}")
    field_known = {f.name for f in dataclasses.fields(ImageFieldConfig)} - {"kind"}
    field_unknown = sorted(set(field_options) - field_known)
    if field_unknown:
        hint = _renamed_hint(field_unknown, LEGACY_CONFIG_KEYS)
        raise InputError(f"{path}: unknown field option(s) {', '.join(field_unknown)}{hint}")
    if raw.get("image") is not None:
        raw["image"] = Path(raw["image"])
    if "kinds" in raw:
        raw["kinds"] = tuple(raw["kinds"])
        bad = [k for k in raw["kinds"] if k not in NETWORK_KINDS]
        if bad:
            raise InputError(f"{path}: unknown network kind(s) {bad}; choose from {list(NETWORK_KINDS)}")
    try:
        field_config = CompareFieldConfig(**field_options)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: {exc}") from None
    out = output if output is not None else Path("outputs/image") / path.stem
    return CompareCommand(output=out, field=field_config, **raw)


def _run(argv) -> None:
    args = tyro.extras.subcommand_cli_from_dict(
        {
            "fit": FitCommand,
            "render": RenderCommand,
            "compare": CompareCommand,
            "experiment": ExperimentCommand,
            "compress": CompressCommand,
            "decompress": DecompressCommand,
            "rd": RdCommand,
            "table1": Table1Command,
        },
        prog=PROG,
        description="Fit an image with a coordinate network (no encoding / positional encoding / Fourier features / SIREN).",
        args=argv,
    )
    runners = {FitCommand: run_fit, RenderCommand: run_render, CompressCommand: run_compress,
               DecompressCommand: run_decompress, RdCommand: run_rd, Table1Command: run_table1_command}
    if type(args) in runners:
        runners[type(args)](args)
    elif isinstance(args, ExperimentCommand):
        command = load_experiment(args.config, args.output)
        print(f"{PROG}: experiment {args.config} -> {command.output}")
        run_compare(command)
    else:
        run_compare(args)


def main(argv=None) -> None:
    """Console entry point ``vnp-image``; bad input exits with status 2 and one line on stderr."""
    run_cli(PROG, lambda: _run(argv))


if __name__ == "__main__":
    main()
