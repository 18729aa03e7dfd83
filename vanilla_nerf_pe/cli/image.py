"""Console script ``vnp-image``: fit an image with a coordinate network, render it, compare encodings.

Subcommands (``vnp-image SUBCOMMAND --help`` lists every option):

* ``fit [IMAGE]``: fit one network kind (default image: scikit-image's astronaut at 128x128);
  with ``--output DIR`` write ``reconstruction.png``, ``metrics.json``, ``model.pt`` (the state
  dict) and ``config.json`` (the :class:`~vanilla_nerf_pe.image.field.ImageFieldConfig`, the
  channel count and the image size); ``--kind latent`` is the latent-grid codec at one operating
  point (``--latent.*``, :mod:`vanilla_nerf_pe.codec.lab_kinds`), its file ``latent.vnpi`` in
  place of the model;
* ``render MODEL_DIR``: reload a ``fit --output`` directory (of any version) and render it at any
  ``--height`` / ``--width`` (the field is continuous);
* ``compare [IMAGE]``: fit every kind (``--kinds``, default all of
  :data:`~vanilla_nerf_pe.core.network.NETWORK_KINDS`, and ``latent`` when named: its decoded file)
  with the same MLP size, steps and seed; write one reconstruction per kind, ``comparison.png``
  (original + fits, PSNR in the titles), ``psnr_curves.png``, ``speed_and_size.png`` (PSNR against
  seconds and against the stored size) and ``metrics.json`` (PSNR, SSIM, seconds, parameters); when
  ``siren`` is among them, also the fitted SIREN's gradient norm and Laplacian (autograd, SIREN
  paper fig. 1): ``siren_gradient.png``, ``siren_laplacian.png`` and ``siren_derivatives.png``
  (top: the ground truth by finite differences, bottom: the SIREN);
* ``experiment CONFIG``: ``compare`` with the settings of a YAML file (``configs/image/*.yaml``:
  the seed experiments), written to ``--output`` (default ``outputs/image/<config name>``);
* ``compress IMAGE OUT --bpp B``: fit a network sized for B bits per pixel, fine-tune it for
  k-bit weights and write the ``.vnpi`` file (:mod:`vanilla_nerf_pe.codec`); ``--kind latent``
  fits Cool-chic-style latent grids for rate and distortion instead (``--lambda L`` fixes the
  trade-off, ``--latent.*`` its options; a version-3 file); with ``--psnr P``
  the rate is searched (a few fits) for the smallest file that decodes to P dB, exit status 1 when
  none of the tries reached it (the best one is written);
  ``decompress FILE OUT.png`` decodes one (on the CPU, the same PNG every time);
* ``rd [IMAGES]``: rate-distortion curves (PSNR, SSIM against bpp) of ours (``--kinds siren
  latent``), JPEG, WebP, JPEG 2000, AVIF and JPEG XL, with COIN's published curve and the published
  Kodak points of Strümpler et al., Cool-chic and C3 (:mod:`vanilla_nerf_pe.codec.rd`);
* ``table1 [IMAGES]``: Tancik et al. 2020's Table 1 protocol, plus SIREN and the hash grid
  (:mod:`vanilla_nerf_pe.image.table1`).

The network options are those of the NeRF fields (:class:`~vanilla_nerf_pe.core.network.CoordinateNetworkConfig`:
``--kind``, ``--num-layers``, ``--width``, ``--pe-num-frequencies``, ``--fourier-num-features``,
``--fourier-sigma``, ``--siren-first-omega-0``, ...), plus the fitting options (``--lr``,
``--steps``, ``--batch-pixels``, ``--seed``, ``--standardize``, ``--coord-scale``).

``fit``, ``compare``, ``experiment``, ``compress``, ``rd`` and ``table1`` draw a progress bar per fit
on stderr (step, PSNR, time left; :mod:`vanilla_nerf_pe.image.progress`); ``--quiet`` turns it off.
This module only parses the options, calls the library and prints.

``--holdout`` trains on the pixels with even row and column only and scores the others (the
generalisation protocol of Tancik et al. 2020), with the encoding's bandwidth chosen for that
training grid and printed (``--holdout-bandwidth as-given`` keeps the options). Bad input (missing file, not an image, empty
image, not a model directory, an option out of range, an output that cannot be written) is an
:class:`~vanilla_nerf_pe.core.errors.InputError`: exit status 2, ``vnp-image: error: MESSAGE``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Tuple

import torch
import tyro
from typing_extensions import Annotated

from vanilla_nerf_pe.codec import rd
from vanilla_nerf_pe.codec.compress import CompressConfig, compress_image, compress_to_psnr
from vanilla_nerf_pe.codec.container import decode_image, read_file
from vanilla_nerf_pe.codec.lab_kinds import LAB_KINDS, LabFieldConfig, LabKindName, LatentKindConfig, lab_kind
from vanilla_nerf_pe.codec.latent import LatentConfig, macs_per_pixel
from vanilla_nerf_pe.codec.latent_file import EncodedLatent
from vanilla_nerf_pe.core.errors import InputError, QualityBelowThreshold, run_cli
from vanilla_nerf_pe.core.image_io import load_image, save_image
from vanilla_nerf_pe.core.network import NETWORK_KINDS, NetworkKind
from vanilla_nerf_pe.image.experiment import load_experiment
from vanilla_nerf_pe.image.field import ImageFieldConfig, load_field
from vanilla_nerf_pe.image.fit import render, resolve_device
from vanilla_nerf_pe.image.outputs import make_output_dir, write_json, writing
from vanilla_nerf_pe.image.photographs import load_photograph, shipped_photographs
from vanilla_nerf_pe.image.progress import progress_bars
from vanilla_nerf_pe.image.runs import CompareOptions, ImageInput, LabFit, compare_kinds, fit_one
from vanilla_nerf_pe.image.table1 import TABLE1_METHODS, Table1Config, check_methods, run_table1, table1_images, table1_markdown

PROG = "vnp-image"
ImageArgument = Annotated[Optional[Path], tyro.conf.Positional, tyro.conf.arg(metavar="[IMAGE]")]


@dataclass
class CompareFieldConfig(ImageFieldConfig):
    """ImageFieldConfig without ``kind``: ``compare`` fits every kind in ``--kinds``."""

    kind: tyro.conf.Suppress[NetworkKind] = "pe"


@dataclass
class FitCommand(ImageInput):
    """Fit one image with a coordinate network."""

    image: ImageArgument = None
    """image file to fit (PNG, JPEG, ...); default: the built-in --default image."""
    output: Optional[Path] = None
    """directory for reconstruction.png, metrics.json, model.pt and config.json (latent: latent.vnpi); default: print only."""
    quiet: bool = False
    """no progress bar (for scripts)."""
    field: Annotated[LabFieldConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(default_factory=LabFieldConfig)
    latent: LatentKindConfig = dataclasses.field(default_factory=LatentKindConfig)
    """--kind latent: the latent codec at --latent.bpp (or --latent.rate-lambda), compared as its decoded file (PSNR beside
    its bytes); its grids, networks and own steps (--latent.steps, --latent.ste-steps: --steps is the networks')."""


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
class CompareCommand(CompareOptions):
    """Fit every network kind at the same MLP size and steps; write images, curves and metrics."""

    kinds: Tuple[LabKindName, ...] = NETWORK_KINDS  # type: ignore[assignment]
    """kinds to fit, in this order: coordinate networks, and latent: the latent codec's decoded file at one operating point."""
    image: ImageArgument = None
    """image file to fit (PNG, JPEG, ...); default: the built-in --default image."""
    quiet: bool = False
    """no progress bar (for scripts)."""
    field: Annotated[CompareFieldConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(default_factory=CompareFieldConfig)
    latent: LatentKindConfig = dataclasses.field(default_factory=LatentKindConfig)
    """--kinds latent: the latent codec at --latent.bpp (or --latent.rate-lambda), compared as its decoded file (PSNR beside
    its bytes); its grids, networks and own steps (--latent.steps, --latent.ste-steps: --steps is the networks')."""


@dataclass
class CompressCodecConfig(CompressConfig):
    """CompressConfig with ``rate_lambda`` spelled ``--lambda``; the latent options are the command's ``--latent.*``."""

    rate_lambda: Annotated[Optional[float], tyro.conf.arg(name="lambda")] = None
    """latent only: lambda of MSE + lambda bpp, fixed (then --bpp is not aimed at); default: adapted to land at --bpp."""
    latent: tyro.conf.Suppress[LatentConfig] = dataclasses.field(default_factory=LatentConfig)


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
    quiet: bool = False
    """no progress bar (for scripts)."""
    codec: Annotated[CompressCodecConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(default_factory=CompressCodecConfig)
    latent: LatentConfig = dataclasses.field(default_factory=LatentConfig)
    """--kind latent: the latent grids, the networks and their fit (--steps and the SIREN options do not apply)."""


@dataclass
class DecompressCommand:
    """Decode a .vnpi file into a PNG (on the CPU: the same PNG on every machine and every run)."""

    file: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="FILE")]
    """the .vnpi file written by `vnp-image compress`."""
    output: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="OUT.png")]
    """the PNG to write."""


@dataclass
class RdCodecConfig(CompressCodecConfig):
    """CompressConfig without ``bpp``: ``rd`` compresses at every rate of ``--rates`` (with each kind of ``--kinds``)."""

    bpp: tyro.conf.Suppress[float] = 0.3
    psnr: tyro.conf.Suppress[Optional[float]] = None
    psnr_tries: tyro.conf.Suppress[int] = 5
    kind: tyro.conf.Suppress[str] = "siren"
    rate_lambda: tyro.conf.Suppress[Optional[float]] = None


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
    kinds: Tuple[str, ...] = ("siren", "latent")
    """our codec's kinds: siren (COIN-style, files in OUTPUT/ours), latent (Cool-chic-style, OUTPUT/ours-latent)."""
    latent_rates: Tuple[float, ...] = ()
    """target bits per pixel of the latent kind's files; default: --rates."""
    baselines: Tuple[str, ...] = ("JPEG 4:4:4", "JPEG 4:2:0", "WebP", "JPEG 2000", "AVIF", "JPEG XL")
    """baseline codecs to run (AVIF's encoder is the slow one)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """where our fits run (decoding is always on the CPU)."""
    quiet: bool = False
    """no progress bar (for scripts)."""
    codec: Annotated[RdCodecConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(default_factory=RdCodecConfig)
    latent: LatentConfig = dataclasses.field(default_factory=LatentConfig)
    """--kinds latent: the latent grids, the networks and their fit."""


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
    quiet: bool = False
    """no progress bar (for scripts)."""
    protocol: Annotated[Table1Config, tyro.conf.OmitArgPrefixes] = dataclasses.field(default_factory=Table1Config)


@dataclass
class ExperimentCommand:
    """Run `compare` with the settings of a YAML file (the seed experiments in configs/image/)."""

    config: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="CONFIG")]
    """YAML file: the options of `compare` as keys (image, default, size, holdout, kinds, field: {...}, latent: {...})."""
    output: Optional[Path] = None
    """directory to write to; default: outputs/image/<config file name without .yaml>."""
    quiet: bool = False
    """no progress bar (for scripts)."""


# --------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------


def say(line: str) -> None:
    print(f"{PROG}: {line}", flush=True)


def report_fit(kind: str, fitted: LabFit) -> None:
    metrics = fitted.metrics
    say(f"{kind}: PSNR {metrics['psnr']:.2f} dB ({metrics['psnr_pixels']} pixels), SSIM {metrics['ssim']:.3f}, "
        f"{metrics['num_parameters']} parameters, {metrics['seconds']:.1f} s")
    for line in fitted.lines:
        say(line)


def run_fit(args: FitCommand) -> None:
    with progress_bars(args.quiet) as progress:
        fitted, written = fit_one(args, lab_kind(args.field.kind, args.field, args.latent), args.output, progress, log=say)
    report_fit(args.field.kind, fitted)
    if written:
        say(f"wrote {', '.join(written)} to {args.output}")


def run_render(args: RenderCommand) -> None:
    model, saved = load_field(args.model_dir)
    H = args.height if args.height is not None else int(saved["height"])
    W = args.width if args.width is not None else int(saved["width"])
    if H < 1 or W < 1:
        raise InputError(f"--height and --width must be >= 1, got {H}x{W}")
    path = args.output if args.output is not None else args.model_dir / f"render_{H}x{W}.png"
    save_image(render(model, H, W), path)
    say(f"wrote {W}x{H} render to {path}")


def run_compare(args: CompareCommand) -> None:
    kinds = [lab_kind(name, args.field, args.latent) for name in args.kinds]
    with progress_bars(args.quiet) as progress:
        written = compare_kinds(args, kinds, progress, log=say, on_result=report_fit)
    say(f"wrote {', '.join(written)}, metrics.json and {len(args.kinds)} reconstructions to {args.output}")


def run_experiment(args: ExperimentCommand) -> None:
    command = load_experiment(args.config, args.output, options=CompareCommand, kinds=LAB_KINDS)
    command.quiet = args.quiet
    say(f"experiment {args.config} -> {command.output}")
    run_compare(command)


def run_compress(args: CompressCommand) -> None:
    args.codec.latent = args.latent
    args.codec.check()
    image = load_image(args.image, alpha=args.alpha)
    if args.output.is_dir():
        raise InputError(f"{args.output}: is a directory, not a file to write")
    make_output_dir(args.output.parent)  # before the fit: a bad path fails at once
    device = resolve_device(args.device)
    with progress_bars(args.quiet) as progress:
        if args.codec.psnr is None:
            result = compress_image(image, args.codec, device=device, progress=progress)
        else:
            search = compress_to_psnr(image, args.codec, args.codec.psnr, device=device, progress=progress)
            result = search.best
    if args.codec.psnr is not None:
        tried = "; ".join(f"{bpp:.3f} bpp -> {score:.2f} dB" for bpp, score in search.tries)
        say(f"--psnr {args.codec.psnr:g}: tried {tried}")
    encoded = result.encoded
    with writing(args.output):
        args.output.write_bytes(encoded.data)
    sizes = ", ".join(f"{coder} {size} B" for coder, size in result.coder_bytes.items())
    if isinstance(encoded, EncodedLatent):
        what = (f"latent grids: {encoded.config.levels} levels, synthesis {'x'.join(map(str, encoded.config.synthesis_widths))}, "
                f"context model {'x'.join(map(str, encoded.config.arm_widths))}; {encoded.header_bytes} B header, "
                f"{encoded.weight_bytes} B weights, {encoded.latent_bytes} B latents; "
                f"{macs_per_pixel(encoded.config, encoded.height, encoded.width, encoded.channels):.0f} MACs per pixel")
        before = "before the networks' quantisation"
    else:
        what = f"{encoded.config.kind} {encoded.config.num_layers}x{encoded.config.width} at {encoded.bits} bits"
        before = "before quantisation"
    say(
        f"wrote {args.output}: {len(encoded.data)} B, {encoded.bpp:.3f} bpp ({encoded.coder}; {sizes}), {what}, "
        f"PSNR {result.psnr:.2f} dB decoded ({result.psnr_float:.2f} dB {before}); "
        f"encoded in {result.encode_seconds:.1f} s, decoded in {result.decode_seconds:.2f} s"
    )
    if args.codec.psnr is not None and not search.reached:
        raise QualityBelowThreshold(
            f"no file of the {len(search.tries)} tried reached --psnr {args.codec.psnr:g} dB; {args.output} is the best one "
            f"({result.psnr:.2f} dB); raise --psnr-tries, --bits or --steps"
        )


def run_decompress(args: DecompressCommand) -> None:
    start = time.perf_counter()
    data = read_file(args.file)
    try:
        array = decode_image(data)
    except InputError as exc:
        raise InputError(f"{args.file}: {exc}") from None
    seconds = time.perf_counter() - start
    save_image(torch.from_numpy(array).float() / 255.0, args.output)
    say(f"wrote {array.shape[1]}x{array.shape[0]} image to {args.output} (decoded in {seconds:.2f} s)")


def run_rd_command(args: RdCommand) -> None:
    rd.check_rd_options(args.rates, args.baselines)
    images = rd.rd_images(args.images, args.crop)
    config = dataclasses.replace(args.codec, latent=args.latent)
    with progress_bars(args.quiet) as progress:
        points = rd.run_rd(images, args.output, args.rates, args.baselines, config, ours=args.ours,
                           device=resolve_device(args.device), progress=progress, log=say, kinds=args.kinds,
                           kind_rates={"latent": args.latent_rates})
    table = rd.write_rd(args.output, points, images, args.crop, args.report_rate)
    print(table, end="")
    say(f"wrote rd.png, rd_table.md and rd.json to {args.output}")


def run_table1_command(args: Table1Command) -> None:
    config = args.protocol
    config.check()
    check_methods(args.methods)
    sources = {path.stem: load_photograph(path) for path in args.images} if args.images else shipped_photographs(0)
    images = table1_images(sources, config.size)
    make_output_dir(args.output)

    def on_row(row: dict) -> None:
        say(f"table1: {row['image']} {row['method']}: held-out {row['psnr_held_out']:.2f} dB, "
            f"full image {row['psnr_full_image']:.2f} dB, {row['seconds']:.0f} s")

    with progress_bars(args.quiet) as progress:
        rows = run_table1(images, config, args.methods, device=resolve_device(args.device), on_row=on_row, progress=progress)
    table = table1_markdown(rows, args.methods, list(images))
    with writing(args.output):
        (args.output / "table1.md").write_text(table)
    write_json({"protocol": dataclasses.asdict(config), "images": list(images), "rows": rows}, args.output / "table1.json")
    print(table, end="")
    say(f"wrote table1.md and table1.json to {args.output}")


COMMANDS = {
    "fit": (FitCommand, run_fit),
    "render": (RenderCommand, run_render),
    "compare": (CompareCommand, run_compare),
    "experiment": (ExperimentCommand, run_experiment),
    "compress": (CompressCommand, run_compress),
    "decompress": (DecompressCommand, run_decompress),
    "rd": (RdCommand, run_rd_command),
    "table1": (Table1Command, run_table1_command),
}


def _run(argv) -> None:
    args = tyro.extras.subcommand_cli_from_dict(
        {name: command for name, (command, _) in COMMANDS.items()},
        prog=PROG,
        description="Fit an image with a coordinate network (no encoding / positional encoding / Fourier features / SIREN).",
        args=argv,
    )
    runners = {command: runner for command, runner in COMMANDS.values()}
    runners[type(args)](args)


def main(argv=None) -> None:
    """Console entry point ``vnp-image``; bad input exits with status 2 and one line on stderr."""
    run_cli(PROG, lambda: _run(argv))


if __name__ == "__main__":
    main()
