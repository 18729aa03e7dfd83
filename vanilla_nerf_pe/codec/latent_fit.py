"""The latent-grid codec's encoder: fit latents and networks for ``MSE + lambda bpp``, then quantise
the networks.

The schedule of Cool-chic (Ladune et al. 2023) and C3 (Kim et al. 2024, sec. 3.3): a long stage with
uniform noise standing in for the latents' rounding (differentiable rate and distortion), a short
stage with rounded latents and a straight-through gradient, and the file with hard rounding. With
a target rate instead of a lambda, lambda is adapted during the fit (a multiplicative, damped
controller on the rate of the rounded latents, which the noisy ones overestimate), which replaces
the search over lambda of separate fits.
The networks are quantised after the fit with power-of-two steps (:mod:`~vanilla_nerf_pe.codec.fixed_point`),
each network's precision chosen for least ``MSE + lambda bpp`` (Cool-chic's post-training
quantisation of its MLPs).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from vanilla_nerf_pe.codec.entropy import encode_symbols
from vanilla_nerf_pe.codec.fixed_point import pow2_dequantize, pow2_exponent, pow2_quantize
from vanilla_nerf_pe.codec.latent import LatentConfig, LatentImage, latent_bits, network_tensors, quantize_latents
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.image.progress import FitCallback

#: lambda of MSE (images in [0, 1]) per bit per pixel that a 0.3-bpp file starts the controller at;
#: other rates start at this times (0.3 / bpp)^1.5.
LAMBDA_AT_03_BPP = 1e-2
#: The controller keeps lambda within this factor of its start: a lambda far above it can drive
#: every latent to zero, a state the fit does not leave (the image collapses to a flat colour).
LAMBDA_RANGE = 4.0
#: The controller's step: every LAMBDA_EVERY steps, log lambda moves by this times
#: log(rate of the rounded latents / target rate).
LAMBDA_GAIN = 0.05
LAMBDA_EVERY = 10
#: The controller runs from this fraction of all steps (the latents grow from zero first) until
#: LAMBDA_FREEZE of them (the last steps settle at a fixed lambda).
LAMBDA_WARMUP = 0.1
LAMBDA_FREEZE = 0.9
#: Bits per network weight the rate target sets aside for the networks (before they are quantised).
NETWORK_BITS_GUESS = 7.0
#: The networks quantised together (one precision each): the synthesis MLP with its refinement
#: convolutions, and the context model.
NETWORK_GROUPS: Dict[str, Tuple[str, ...]] = {"synthesis": ("synthesis", "refine"), "arm": ("arm",)}
#: Bytes the rate target sets aside for the version-3 header.
HEADER_BYTES_GUESS = 40


@dataclass
class LatentFit:
    """What :func:`fit_latent_image` returns."""

    model: LatentImage
    """the fitted representation; its networks hold the quantised weights."""
    rate_lambda: float
    """lambda at the end of the fit."""
    psnr_float: float
    """PSNR of the rounded latents through the float networks (before their quantisation)."""
    exponents: Dict[str, int]
    """the power-of-two step exponent of every network tensor (``synthesis.0.weight``, ...)."""
    weight_bits: Dict[str, int]
    """the bits each network's tensors were quantised to (``synthesis``, ``arm``)."""
    seconds: float


def image_planes(image: Tensor) -> Tensor:
    """``image [H, W, C]`` as the planes :meth:`LatentImage.decode_planes` returns: ``[1, C, H, W]``
    float32, channels-last in memory."""
    return image.float().cpu().permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)


def _mse(model: LatentImage, latents: List[Tensor], target: Tensor) -> Tensor:
    """The MSE of the decoded ``latents`` against ``target`` planes ``[1, C, H, W]`` (:func:`image_planes`)."""
    return ((model.decode_planes(latents) - target) ** 2).mean()


def _psnr(mse: float) -> float:
    return -10.0 * math.log10(max(mse, 1e-12))


def quantize_network(tensors: Dict[str, Tensor], prefix: str, bits: int) -> Dict[str, int]:
    """Round every tensor whose name starts with ``prefix`` (one of :data:`NETWORK_GROUPS`' names,
    or any ``name.``) in place to the power-of-two step of a ``bits``-bit quantiser
    (:func:`pow2_exponent`); returns their exponents."""
    prefixes = tuple(f"{p}." for p in NETWORK_GROUPS.get(prefix, (prefix,)))
    exponents = {}
    with torch.no_grad():
        for name, tensor in tensors.items():
            if name.startswith(prefixes):
                e = pow2_exponent(tensor, 2 ** (bits - 1) - 1)
                tensor.copy_(pow2_dequantize(pow2_quantize(tensor, e), e))
                exponents[name] = e
    return exponents


def weight_payload_bits(tensors: Dict[str, Tensor], exponents: Dict[str, int]) -> int:
    """Bits of the ANS-coded integer weights of the tensors named in ``exponents``."""
    symbols = [pow2_quantize(tensors[name], e).reshape(-1) for name, e in exponents.items()]
    bits = [max(2, int(np.abs(q).max()).bit_length() + 1) for q in symbols]
    if any(k > 16 for k in bits):
        return 1 << 40
    payload, _ = encode_symbols(symbols, bits, "ans")
    return 8 * len(payload)


def _choose_network_bits(model: LatentImage, target: Tensor, rate_lambda: float, max_bits: int) -> Dict[str, object]:
    """Quantise the synthesis, then the context model, at the bits (4..``max_bits``) of least
    ``MSE + lambda bpp`` (the networks' own bits included); returns the exponents and bits."""
    H, W = target.shape[-2:]
    tensors = network_tensors(model)
    saved = {name: t.detach().clone() for name, t in tensors.items()}
    latents = quantize_latents(model.latents, "hard")
    exponents: Dict[str, int] = {}
    chosen: Dict[str, int] = {}
    for prefix, members in NETWORK_GROUPS.items():
        mine = [name for name in tensors if name.startswith(tuple(f"{m}." for m in members))]
        best = None
        for bits in range(4, max_bits + 1):
            with torch.no_grad():
                for name in mine:
                    tensors[name].copy_(saved[name])
                trial = quantize_network(tensors, prefix, bits)
                rate = weight_payload_bits(tensors, trial) + (float(latent_bits(latents, model.arm)) if prefix == "arm" else 0.0)
                loss = (float(_mse(model, latents, target)) if prefix == "synthesis" else 0.0) + rate_lambda * rate / (H * W)
            if best is None or loss < best[0]:
                best = (loss, bits)
        with torch.no_grad():
            for name in mine:
                tensors[name].copy_(saved[name])
        exponents.update(quantize_network(tensors, prefix, best[1]))
        chosen[prefix] = best[1]
    return {"exponents": exponents, "bits": chosen}


def initial_lambda(bpp: float) -> float:
    """The controller's starting lambda for a target of ``bpp``: :data:`LAMBDA_AT_03_BPP` scaled."""
    return LAMBDA_AT_03_BPP * (0.3 / bpp) ** 1.5


def latent_rate_target(model: LatentImage, bpp: float) -> float:
    """The latents' share of a ``bpp`` target: less the networks (at :data:`NETWORK_BITS_GUESS`
    bits a weight) and the header; an :class:`InputError` when nothing is left."""
    pixels = model.height * model.width
    weights = sum(t.numel() for t in network_tensors(model).values())
    left = bpp - (NETWORK_BITS_GUESS * weights + 8 * HEADER_BYTES_GUESS) / pixels
    if left <= 0.02 * bpp:
        raise InputError(f"--bpp {bpp:g} is too low for the latent codec's networks at {model.width}x{model.height} "
                         f"({weights} weights); raise --bpp or shrink --latent.synthesis-widths / --latent.arm-widths")
    return left


def fit_latent_image(image: Tensor, config: LatentConfig, bpp: Optional[float] = None, rate_lambda: Optional[float] = None,
                     callback: Optional[FitCallback] = None, eval_every: int = 100) -> LatentFit:
    """Fit a :class:`LatentImage` to ``image [H, W, C]`` for ``MSE + lambda bpp`` (the schedule of the
    module's docstring), with ``rate_lambda`` or, without one, lambda adapted to land at ``bpp``;
    then quantise its networks. ``callback(step, loss, psnr_or_None)`` after every step (steps of
    both stages counted together). On the CPU, in float32."""
    config.check()
    if rate_lambda is None and (bpp is None or not bpp > 0):
        raise InputError("the latent codec needs --bpp or --lambda")
    if rate_lambda is not None and not (math.isfinite(rate_lambda) and rate_lambda >= 0):
        raise InputError(f"--lambda must be >= 0, got {rate_lambda}")
    start = time.perf_counter()
    H, W, C = image.shape
    target = image_planes(image)
    model = LatentImage(config, H, W, C)
    adaptive = rate_lambda is None
    rate_lambda = start_lambda = initial_lambda(bpp) if adaptive else rate_lambda
    latent_target = latent_rate_target(model, bpp) if adaptive else None
    generator = torch.Generator().manual_seed(config.seed)
    total = config.steps + config.ste_steps
    networks = [p for name, p in model.named_parameters() if not name.startswith("latents.")]
    step = 0
    for stage, steps, lr, latent_lr in (("noise", config.steps, config.lr, config.latent_lr), ("ste", config.ste_steps, config.ste_lr, config.ste_lr)):
        if steps == 0:
            continue
        optimizer = torch.optim.Adam([{"params": list(model.latents), "lr": latent_lr}, {"params": networks, "lr": lr}])
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(i / steps, 1.0))))
        for i in range(steps):
            step += 1
            optimizer.zero_grad(set_to_none=True)
            latents = quantize_latents(model.latents, stage, generator)
            seen = quantize_latents(model.latents, "ste") if stage == "noise" and config.mixed_quantization else latents
            mse = _mse(model, seen, target)
            bits = latent_bits(latents, model.arm)
            loss = mse + rate_lambda * bits / (H * W)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if adaptive and step % LAMBDA_EVERY == 0 and LAMBDA_WARMUP * total <= step < LAMBDA_FREEZE * total:
                with torch.no_grad():  # the rate of what the file will hold, not of the noisy latents
                    rounded = float(latent_bits(quantize_latents(model.latents, "hard"), model.arm)) / (H * W)
                rate_lambda *= math.exp(LAMBDA_GAIN * math.log(max(rounded, 1e-6) / latent_target))
                rate_lambda = min(max(rate_lambda, start_lambda / LAMBDA_RANGE), start_lambda * LAMBDA_RANGE)
            score = None
            if step % max(eval_every, 1) == 0 or step == total:
                with torch.no_grad():
                    score = _psnr(float(((model.decode_planes(quantize_latents(model.latents, "hard")).clamp(0, 1) - target) ** 2).mean()))
            if callback is not None:
                callback(step, float(loss.detach()), score)
    model.eval()
    with torch.no_grad():
        psnr_float = _psnr(float(_mse(model, quantize_latents(model.latents, "hard"), target)))
        chosen = _choose_network_bits(model, target, rate_lambda, config.weight_bits)
    return LatentFit(model, rate_lambda, psnr_float, chosen["exponents"], chosen["bits"], time.perf_counter() - start)


__all__ = [
    "LAMBDA_AT_03_BPP",
    "LatentFit",
    "NETWORK_GROUPS",
    "fit_latent_image",
    "image_planes",
    "initial_lambda",
    "latent_rate_target",
    "quantize_network",
    "weight_payload_bits",
]
