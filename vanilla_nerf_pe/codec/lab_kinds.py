"""The image lab's kinds with the codec's: ``vnp-image fit --kind`` and ``compare --kinds``.

The coordinate networks (:data:`~vanilla_nerf_pe.core.network.NETWORK_KINDS`) are fitted as float
fields and measured as compressed images (:func:`~vanilla_nerf_pe.codec.baselines.compression_report`:
their weights in float16 and float32, the JPEG of the same PSNR). ``latent`` is the latent-grid
codec (Cool-chic style, :mod:`~vanilla_nerf_pe.codec.latent`), which is a compressed image and
nothing else: "fitting" it is compressing the image at one operating point, a target rate
(``--latent.bpp``) or a fixed lambda (``--latent.rate-lambda``), exactly as ``vnp-image compress
--kind latent`` does (:func:`~vanilla_nerf_pe.codec.compress.compress_latent`: the same file, byte
for byte). Its reconstruction is the decoded file (8-bit), its PSNR that file's, reported beside the
file's bytes and bits per pixel; its parameters are the latents and the networks' weights. It runs
its own schedule (``--latent.steps`` and ``--latent.ste-steps``, the codec's defaults): the
networks' ``--steps``, learning rate and seed do not transfer to it, and it fits on the CPU.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Literal, Optional, Tuple

import torch
from torch import Tensor

from vanilla_nerf_pe.codec.baselines import compression_line, compression_report, reference_codecs, reference_line
from vanilla_nerf_pe.codec.compress import COMPRESS_KINDS, CompressConfig, CompressResult, compress_latent
from vanilla_nerf_pe.codec.latent import LatentConfig, LatentImage
from vanilla_nerf_pe.codec.latent_file import decode_latent, render_latent
from vanilla_nerf_pe.codec.latent_fit import latent_rate_target
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.image_io import to_uint8
from vanilla_nerf_pe.image.field import ImageFieldConfig
from vanilla_nerf_pe.image.outputs import writing
from vanilla_nerf_pe.image.progress import ProgressFactory, recording
from vanilla_nerf_pe.image.runs import Compression, ImageInput, LabFit, LabKind, Log, lab_metrics, network_kind

#: The kinds of ``vnp-image fit`` and ``compare``: the coordinate networks and ``latent`` (those of
#: ``compress``).
LAB_KINDS = COMPRESS_KINDS
LabKindName = Literal[LAB_KINDS]  # type: ignore[valid-type]
#: A network kind's size as a compressed image (the report of ``compare``'s metrics and figures).
FIELD_COMPRESSION = Compression(compression_report, compression_line)
#: The file ``fit --kind latent --output DIR`` writes (``vnp-image decompress`` reads it).
LATENT_FILE = "latent.vnpi"


@dataclass
class LabFieldConfig(ImageFieldConfig):
    """The coordinate network of a 2D image field and how it is fitted; or ``--kind latent``, the
    latent codec (its options are ``--latent.*``)."""

    kind: LabKindName = "pe"
    """a coordinate network: "none" (raw coordinates, ReLU MLP), "pe" (positional encoding),
    "fourier" (Gaussian Fourier features), "siren" (sine layers) or "hash" (hash grid); or "latent":
    the latent-grid codec at one operating point (its options are --latent.*; these do not apply)."""


@dataclass
class LatentKindConfig(LatentConfig):
    """The latent kind of ``fit`` and ``compare``: the latent-grid codec at one operating point.

    What is compared is the compressed file: the PSNR of the decoded ``.vnpi`` file (8-bit) beside
    its bytes and bits per pixel (metrics.json's ``compression``), not a float field's. Its own
    schedule (--latent.steps, --latent.ste-steps), not --steps."""

    bpp: float = 1.0
    """target bits per pixel of the whole file: lambda searched and adapted to land there (as
    ``compress --bpp``). Higher than compress's default, which the default networks alone exceed on
    the lab's 128x128 default image."""
    rate_lambda: Optional[float] = None
    """lambda of MSE + lambda bpp, fixed instead (then --latent.bpp is not aimed at; as ``compress --lambda``)."""

    def check(self) -> None:
        super().check()
        if not (math.isfinite(self.bpp) and self.bpp > 0):
            raise InputError(f"--latent.bpp must be > 0, got {self.bpp}")
        if self.rate_lambda is not None and not (math.isfinite(self.rate_lambda) and self.rate_lambda >= 0):
            raise InputError(f"--latent.rate-lambda must be >= 0, got {self.rate_lambda}")


def latent_report(result: CompressResult, image: Tensor, config: LatentKindConfig) -> dict:
    """metrics.json's ``compression`` of the latent kind: the file (its bytes and their parts, bits per
    pixel, decoded PSNR, that before the networks' quantisation, decoding seconds), the operating point
    (``target_bpp`` or ``rate_lambda``), and :func:`reference_codecs` at the file's PSNR."""
    encoded = result.encoded
    report = {
        "psnr": result.psnr,
        "file_bytes": len(encoded.data),
        "file_bpp": encoded.bpp,
        "header_bytes": encoded.header_bytes,
        "weight_bytes": encoded.weight_bytes,
        "latent_bytes": encoded.latent_bytes,
        "psnr_float": result.psnr_float,
        "decode_seconds": result.decode_seconds,
        "target_bpp": config.bpp if config.rate_lambda is None else None,
        "rate_lambda": config.rate_lambda,
    }
    report.update(reference_codecs(to_uint8(image), result.psnr))
    return report


def latent_line(report: dict) -> str:
    """One line of :func:`latent_report`'s ``report``."""
    point = f"lambda {report['rate_lambda']:g}" if report["target_bpp"] is None else f"aimed at {report['target_bpp']:g} bpp"
    return (
        f"latent: as a compressed image: its file {report['file_bytes']} B ({report['file_bpp']:.2f} bpp, {point}; "
        f"{report['header_bytes']} B header, {report['weight_bytes']} B weights, {report['latent_bytes']} B latents), "
        f"{report['psnr']:.2f} dB decoded ({report['psnr_float']:.2f} dB before the networks' quantisation); {reference_line(report)}"
    )


class LatentLabKind(LabKind):
    """The latent-grid codec as a kind of the lab (the module's docstring says what is compared)."""

    name = "latent"

    def __init__(self, config: LatentKindConfig) -> None:
        self.config = config

    def check(self, args: ImageInput, image: Tensor) -> None:
        config = self.config
        config.check()
        if args.holdout:
            raise InputError("--holdout: the latent kind is a codec fitted to every pixel, not a field to score between them; "
                             "leave latent out of --kinds or drop --holdout")
        if config.rate_lambda is None:  # a rate the networks alone exceed fails here, not after the other kinds' fits
            latent_rate_target(LatentImage(config, *image.shape), config.bpp, option="--latent.bpp")

    def fit(self, image: Tensor, args: ImageInput, progress: Optional[ProgressFactory] = None, log: Log = lambda line: None) -> LabFit:
        config = self.config
        history: List[Tuple[int, float]] = []
        codec = CompressConfig(kind="latent", bpp=config.bpp, rate_lambda=config.rate_lambda, latent=config)
        result = compress_latent(image, codec, progress=recording(progress, history))
        data = result.encoded.data
        model, _ = decode_latent(data)
        recon = torch.from_numpy(to_uint8(render_latent(model))).float() / 255.0  # the decoded file, as decompress writes it
        metrics = lab_metrics(self.name, image, recon, history, result.encode_seconds, "cpu", sum(p.numel() for p in model.parameters()))
        report = metrics["compression"] = latent_report(result, image, config)
        metrics["config"] = dataclasses.asdict(config)

        def save(out: Path) -> List[str]:
            with writing(out / LATENT_FILE):
                (out / LATENT_FILE).write_bytes(data)
            return [LATENT_FILE]

        return LabFit(metrics, recon, model, save, lines=[latent_line(report)], stored_bpp=report["file_bpp"])


def lab_kind(name: str, field: ImageFieldConfig, latent: LatentKindConfig) -> LabKind:
    """The lab's kind ``name``: ``latent`` with the options ``latent``, else the coordinate network
    with ``field``'s options, measured as a compressed image."""
    if name == LatentLabKind.name:
        return LatentLabKind(latent)
    return network_kind(name, field, FIELD_COMPRESSION)


__all__ = ["FIELD_COMPRESSION", "LAB_KINDS", "LATENT_FILE", "LabFieldConfig", "LabKindName", "LatentKindConfig", "LatentLabKind", "lab_kind",
           "latent_line", "latent_report"]
