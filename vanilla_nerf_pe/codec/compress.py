"""The compression driver: fit a network sized for the rate, fine-tune it for its quantised weights,
and encode it (``vnp-image compress``); or search the rate for a target PSNR.

COIN (Dupont et al. 2021) fits a SIREN (Sitzmann et al. 2020) whose float16 weights are the image;
Strümpler et al. 2022 quantise and entropy-code them after quantisation-aware fine-tuning. The
network's size comes from the rate model (:mod:`~vanilla_nerf_pe.codec.rate`), the file from
:mod:`~vanilla_nerf_pe.codec.container`. ``--kind latent`` is the latent-grid codec of Cool-chic
(Ladune et al. 2023) instead: :mod:`~vanilla_nerf_pe.codec.latent_fit` fits it for rate and
distortion at once, :mod:`~vanilla_nerf_pe.codec.latent_file` writes the version-3 file.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

from vanilla_nerf_pe.codec.container import EncodedImage, decode_image, encode_field, model_tensor_bits, network_parameters, storable_config
from vanilla_nerf_pe.codec.entropy import CODERS
from vanilla_nerf_pe.codec.latent import LatentConfig
from vanilla_nerf_pe.codec.latent_file import EncodedLatent, decode_latent_image, encode_latent
from vanilla_nerf_pe.codec.latent_fit import fit_latent_image
from vanilla_nerf_pe.codec.quantize import fake_quantize, max_symbol
from vanilla_nerf_pe.codec.rate import architecture_for_rate, next_rate
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.image_io import to_uint8
from vanilla_nerf_pe.core.metrics import psnr_uint8
from vanilla_nerf_pe.core.network import NETWORK_KINDS
from vanilla_nerf_pe.image.field import ImageField, ImageFieldConfig, pixel_grid
from vanilla_nerf_pe.image.fit import fit
from vanilla_nerf_pe.image.progress import FitCallback, ProgressFactory, eval_every, fit_callback

#: What ``--kind`` compresses with: a coordinate network of the lab (``.vnpi`` version 2; COIN's is
#: ``siren``) or the latent-grid codec (version 3).
COMPRESS_KINDS: Tuple[str, ...] = NETWORK_KINDS + ("latent",)


@dataclass
class CompressConfig:
    """How ``vnp-image compress`` turns an image into a ``.vnpi`` file."""

    bpp: float = 0.3
    """target bits per pixel of the whole file; sizes the network (see :func:`architecture_for_rate`)."""
    bits: int = 8
    """k: bits per quantised weight (2..16)."""
    bias_bits: int = 12
    """bits per quantised bias (2..16): a SIREN's bias errors are multiplied by omega_0 (docs/codec.md)."""
    first_layer_bits: int = 12
    """bits of a SIREN's first weight matrix (2..16): omega_0 times its weights are the network's
    frequencies, and an 8-bit step there costs more than all the other weights together (docs/codec.md)."""
    coder: str = "best"
    """entropy coder of the symbols: ans, lzma, raw, or best (the smallest of the three)."""
    kind: str = "siren"
    """network kind (COIN: siren), or latent: the latent-grid codec (Cool-chic; smaller files, see docs/codec.md)."""
    rate_lambda: Optional[float] = None
    """latent only: lambda of MSE + lambda bpp, fixed (then --bpp is not aimed at); default: adapted to land at --bpp."""
    latent: LatentConfig = dataclasses.field(default_factory=LatentConfig)
    """latent only: the latent grids, the networks and the fit (--steps and the SIREN options do not apply)."""
    siren_first_omega_0: float = 15.0
    """a SIREN's omega_0 of the first layer (its initial frequency range; Sitzmann et al. and COIN:
    30). On the shipped crops 15 fits better than 30 (docs/codec.md)."""
    num_layers: Optional[int] = None
    """hidden layers; default: chosen with the width for --bpp."""
    width: Optional[int] = None
    """units per layer; default: chosen for --bpp."""
    expected_bits_per_weight: float = 7.5
    """what the rate model assumes a weight costs after entropy coding (sizes the network for --bpp)."""
    steps: int = 5000
    """full-image Adam steps of the float fit."""
    lr: float = 1e-3
    """Adam learning rate of the float fit."""
    lr_final: float = 1e-5
    """the float fit's learning rate at its last step (cosine decay from --lr)."""
    qat_steps: int = 0
    """steps of quantisation-aware fine-tuning (straight-through estimator) after the float fit;
    0 by default: with the first layer at --first-layer-bits it did not pay (docs/codec.md)."""
    qat_lr: float = 1e-4
    """learning rate of the quantisation-aware fine-tuning."""
    seed: int = 0
    """seed of the initialisation."""
    psnr: Optional[float] = None
    """target PSNR of the decoded file in dB instead of a rate: the rate is searched from --bpp
    (:func:`compress_to_psnr`, one fit per try) and the smallest file that reaches it is kept."""
    psnr_tries: int = 5
    """with --psnr: the most fits the search runs."""

    def check(self) -> None:
        if not self.bpp > 0:
            raise InputError(f"--bpp must be > 0, got {self.bpp}")
        if self.psnr is not None and not (math.isfinite(self.psnr) and self.psnr > 0):
            raise InputError(f"--psnr must be a positive number of dB, got {self.psnr}")
        if self.psnr_tries < 1:
            raise InputError(f"--psnr-tries must be >= 1, got {self.psnr_tries}")
        max_symbol(self.bits)
        max_symbol(self.bias_bits)
        max_symbol(self.first_layer_bits)
        if self.coder not in CODERS + ("best",):
            raise InputError(f"--coder {self.coder!r}: choose one of {', '.join(CODERS + ('best',))}")
        if self.kind not in COMPRESS_KINDS:
            raise InputError(f"--kind {self.kind!r}: choose one of {', '.join(COMPRESS_KINDS)}")
        if self.rate_lambda is not None and (self.kind != "latent" or not (math.isfinite(self.rate_lambda) and self.rate_lambda >= 0)):
            raise InputError(f"--lambda is for --kind latent and must be >= 0, got {self.rate_lambda} with --kind {self.kind}")
        if self.psnr is not None and self.rate_lambda is not None:
            raise InputError("--psnr searches the rate: leave --lambda unset")
        if self.kind == "latent":
            self.latent.check()
        if self.steps < 0 or self.qat_steps < 0:
            raise InputError("--steps and --qat-steps must be >= 0")
        if not self.expected_bits_per_weight > 0:
            raise InputError("--expected-bits-per-weight must be > 0")


def quantization_aware_finetune(model: ImageField, image: Tensor, bits: int, steps: int, lr: float, chunk: int = 65536,
                                bias_bits: Optional[int] = None, first_layer_bits: Optional[int] = None,
                                callback: Optional[FitCallback] = None) -> None:
    """Fine-tune ``model`` in place so that its ``bits``-bit quantised weights (``bias_bits`` for the
    biases, default ``bits``; ``first_layer_bits`` for a SIREN's first layer) fit ``image``.

    Full-image Adam steps on the MSE of the network run with :func:`fake_quantize`d parameters (the
    straight-through estimator: the gradient reaches the float weights as if quantisation were the
    identity; Strümpler et al. 2022, sec. 3.2). ``callback(step, loss, None)`` after every step.
    """
    H, W, C = image.shape
    device = model.mean.device  # fine-tunes where the model is
    coords = pixel_grid(H, W).reshape(-1, 2).to(device)
    target = image.reshape(-1, C).float().to(device)
    names = [f"network.{name}" for name, _ in network_parameters(model)]
    per_tensor = model_tensor_bits(model, bits, bias_bits, first_layer_bits)
    params = [p for _, p in network_parameters(model)]
    optimizer = torch.optim.Adam(params, lr=lr)
    model.train()
    for step in range(1, steps + 1):
        optimizer.zero_grad(set_to_none=True)
        quantised = {name: fake_quantize(p, k) for name, p, k in zip(names, params, per_tensor)}
        loss_value = 0.0
        for i in range(0, coords.shape[0], chunk):
            pred = torch.func.functional_call(model, quantised, (coords[i : i + chunk],))
            loss = ((pred - target[i : i + chunk]) ** 2).sum() / target.numel()
            loss.backward(retain_graph=i + chunk < coords.shape[0])
            loss_value += float(loss.detach())
        optimizer.step()
        if callback is not None:
            callback(step, loss_value, None)
    model.eval()


@dataclass
class CompressResult:
    encoded: Union[EncodedImage, EncodedLatent]
    coder_bytes: Dict[str, int]
    """the file's size with each coder (the file keeps the chosen one)."""
    psnr: float
    """PSNR of the decoded file against the image (8-bit decoded image)."""
    psnr_float: float
    """PSNR of the float network before quantisation."""
    encode_seconds: float
    decode_seconds: float


def field_config_for(config: CompressConfig) -> ImageFieldConfig:
    """The network and fit options of ``config`` (its size still the defaults: :func:`compress_image` sets it)."""
    return ImageFieldConfig(kind=config.kind, siren_first_omega_0=config.siren_first_omega_0, lr=config.lr, lr_final=config.lr_final,
                            steps=config.steps, seed=config.seed)


def compress_image(image: Tensor, config: CompressConfig, device: str = "cpu", progress: Optional[ProgressFactory] = None) -> CompressResult:
    """Fit, fine-tune for quantisation, and encode ``image [H, W, C]``; the PSNR is the decoded file's.
    ``progress`` (see :mod:`~vanilla_nerf_pe.image.progress`) draws the fit's and the fine-tuning's bars."""
    config.check()
    if config.kind == "latent":
        return compress_latent(image, config, progress)
    H, W, C = image.shape
    start = time.perf_counter()
    network = field_config_for(config)
    depth, width = config.num_layers, config.width
    if depth is None or width is None:
        rate_depth, rate_width = architecture_for_rate(H, W, C, config.bpp, config.expected_bits_per_weight, network)
        depth, width = depth or rate_depth, width or rate_width
    field_config = storable_config(dataclasses.replace(network, num_layers=depth, width=width))
    label = f"compress {config.kind} {depth}x{width} ({config.bpp:g} bpp)"
    result = fit(image, field_config, eval_every=eval_every(config.steps, progress), device=device,
                 callback=fit_callback(progress, label, config.steps))
    psnr_float = result.final_psnr
    quantization_aware_finetune(result.model, image, config.bits, config.qat_steps, config.qat_lr, bias_bits=config.bias_bits,
                                first_layer_bits=config.first_layer_bits,
                                callback=fit_callback(progress, f"fine-tune for {config.bits}-bit weights", config.qat_steps) if config.qat_steps else None)
    model = result.model.cpu()
    coders = CODERS if config.coder == "best" else (config.coder,)
    encodings = {coder: encode_field(model, H, W, config.bits, coder, bias_bits=config.bias_bits, first_layer_bits=config.first_layer_bits)
                 for coder in coders}
    encoded = min(encodings.values(), key=lambda e: len(e.data))
    encode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decode_image(encoded.data)
    decode_seconds = time.perf_counter() - start
    score = psnr_uint8(decoded, to_uint8(image))
    return CompressResult(encoded, {c: len(e.data) for c, e in encodings.items()}, score, psnr_float, encode_seconds, decode_seconds)


def compress_latent(image: Tensor, config: CompressConfig, progress: Optional[ProgressFactory] = None) -> CompressResult:
    """``--kind latent``: fit the latent-grid representation (on the CPU) and write its version-3 file;
    the PSNR is the decoded file's."""
    latent = config.latent
    start = time.perf_counter()
    total = latent.steps + latent.ste_steps
    label = f"compress latent, {latent.levels} grids" + (f" ({config.bpp:g} bpp)" if config.rate_lambda is None else f" (lambda {config.rate_lambda:g})")
    fitted = fit_latent_image(image.cpu(), latent, bpp=config.bpp, rate_lambda=config.rate_lambda,
                              callback=fit_callback(progress, label, total), eval_every=eval_every(total, progress))
    encoded = encode_latent(fitted.model, fitted.exponents)
    encode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decode_latent_image(encoded.data)
    decode_seconds = time.perf_counter() - start
    score = psnr_uint8(decoded, to_uint8(image.cpu()))
    return CompressResult(encoded, {"ans": len(encoded.data)}, score, fitted.psnr_float, encode_seconds, decode_seconds)


@dataclass
class PsnrSearch:
    best: CompressResult
    """the smallest file that reached the target, else the one of the highest PSNR."""
    tries: List[Tuple[float, float]]
    """(bpp of the file, decoded PSNR) of every fit, in order."""
    reached: bool


def compress_to_psnr(image: Tensor, config: CompressConfig, target: float, device: str = "cpu", compress=None,
                     progress: Optional[ProgressFactory] = None) -> PsnrSearch:
    """The smallest file whose decoded PSNR reaches ``target`` dB that a search of at most
    ``config.psnr_tries`` fits finds: the first at ``config.bpp``, then :func:`next_rate`, moved on
    by 5 % steps where it would size a network already tried (:func:`architecture_for_rate` has a
    granularity of one unit of width). The search stops once a file reaches the target within
    0.25 dB, or when the next network is one already tried or none fits the next rate.
    ``compress(image, config)`` defaults to :func:`compress_image` on ``device`` (with ``progress``)."""
    if config.num_layers is not None or config.width is not None:
        raise InputError("--psnr searches the network's size: leave --num-layers and --width unset")
    compress = compress or (lambda img, cfg: compress_image(img, cfg, device=device, progress=progress))
    H, W, C = image.shape
    network = field_config_for(config)

    def shape(rate: float) -> Optional[Tuple[int, int]]:
        if config.kind == "latent":  # no network to size: every rate 1 % apart is a new try
            return (0, round(math.log(rate) / math.log(1.01)))
        try:
            return architecture_for_rate(H, W, C, rate, config.expected_bits_per_weight, network)
        except InputError:  # no network of this kind is that small: the search does not go there
            return None

    results: List[CompressResult] = []
    shapes: List[Optional[Tuple[int, int]]] = []
    rate = config.bpp
    for _ in range(config.psnr_tries):
        shapes.append(shape(rate))
        result = compress(image, dataclasses.replace(config, bpp=rate, psnr=None))
        results.append(result)
        if target <= result.psnr < target + 0.25:
            break
        wanted = next_rate([(r.encoded.bpp, r.psnr) for r in results], target)
        factor = 1.05 if wanted > rate else 1.0 / 1.05
        for _ in range(40):
            if shape(wanted) not in shapes:
                break
            wanted *= factor
        if shape(wanted) is None or shape(wanted) in shapes:
            break
        rate = wanted
    reached = [r for r in results if r.psnr >= target]
    best = min(reached, key=lambda r: len(r.encoded.data)) if reached else max(results, key=lambda r: r.psnr)
    return PsnrSearch(best, [(r.encoded.bpp, r.psnr) for r in results], bool(reached))


__all__ = ["COMPRESS_KINDS", "CompressConfig", "CompressResult", "PsnrSearch", "compress_image", "compress_latent", "compress_to_psnr", "field_config_for",
           "quantization_aware_finetune"]
