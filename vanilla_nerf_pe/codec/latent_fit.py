"""The latent-grid codec's encoder: fit latents and networks for ``MSE + lambda bpp``, then quantise
the networks.

The schedule of Cool-chic (Ladune et al. 2023) and C3 (Kim et al. 2024, sec. 3.3;
github.com/google-deepmind/c3_neural_compression, ``configs/kodak.py``): a long stage in which C3's
soft rounding with Kumaraswamy noise stands in for the latents' rounding (temperature 0.3 -> 0.1,
Kumaraswamy a 2 -> 1, both linear; Adam at 1e-2 on a cosine decay, the latents of grid k at
``1e-2 * 2^k``, C3's and Cool-chic's gains), a short stage with rounded latents and a
straight-through gradient at C3's 1e-4 that ends at its least loss, and the file with hard
rounding. C3 and Cool-chic run 10^5 steps on a GPU; the defaults here are the CPU's budget
(docs/codec.md).

With a target rate instead of a lambda (C3 and Cool-chic instead sweep lambda over whole fits),
lambda starts at a guess (:func:`initial_lambda`) or, with ``rate_search_tries``, where short fits
(:func:`search_lambda`, the secant method in log rate and log lambda) put the target; then during
the noise stage a damped multiplicative controller on the rate of the rounded latents moves it
within a factor :data:`LAMBDA_RANGE` of its start, until :data:`LAMBDA_FREEZE` of the stage.
The networks are quantised after the fit with power-of-two steps (:mod:`~vanilla_nerf_pe.codec.fixed_point`),
each network's precision, then each tensor's, chosen for least ``MSE + lambda bpp`` (Cool-chic's
post-training quantisation of its MLPs; :func:`choose_network_steps`).
"""

from __future__ import annotations

import dataclasses
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
from vanilla_nerf_pe.codec.latent_file import header_bytes
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.image.progress import FitCallback

#: lambda of MSE (images in [0, 1]) per bit per pixel that a 0.3-bpp file starts the controller at;
#: other rates start at this times (0.3 / bpp)^1.5.
LAMBDA_AT_03_BPP = 1e-2
#: The controller keeps lambda within this factor of its start (the searched lambda): the short fits
#: of the search rank lambdas right but misjudge the full fit's rate by up to a few times.
LAMBDA_RANGE = 16.0
#: d log(bpp of the latents) / d log(lambda) that the lambda search assumes before it has two tries,
#: and the flattest it extrapolates with (short fits are flatter in lambda than full ones).
RATE_SLOPE = -0.5
#: The controller's step: every LAMBDA_EVERY steps, log lambda moves by this times
#: log(rate of the rounded latents / target rate).
LAMBDA_GAIN = 0.1
LAMBDA_EVERY = 10
#: The controller runs from this fraction of the noise stage's steps until LAMBDA_FREEZE of them (the
#: last ones and the straight-through stage settle at a fixed lambda).
LAMBDA_WARMUP = 0.05
LAMBDA_FREEZE = 0.9
#: Bits per network weight the rate target sets aside for the networks (before they are quantised):
#: about what each tensor's own step costs the default networks (docs/codec.md, "Landing").
NETWORK_BITS_GUESS = 5.5
#: The networks quantised together (one precision each): the synthesis MLP with its refinement
#: convolutions, and the context model.
NETWORK_GROUPS: Dict[str, Tuple[str, ...]] = {"synthesis": ("synthesis", "refine"), "arm": ("arm",)}


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
    """the power-of-two step exponent of every network tensor (``synthesis.0.weight``, ...):
    :func:`choose_network_steps`."""
    seconds: float
    lambda_tries: List[Tuple[float, float]] = dataclasses.field(default_factory=list)
    """the short fits of the lambda search, ``[(lambda, bpp of their rounded latents)]``."""
    latent_target: Optional[float] = None
    """the latents' share of ``bpp`` the fit aimed at (None with a fixed lambda)."""


def image_planes(image: Tensor) -> Tensor:
    """``image [H, W, C]`` as the planes :meth:`LatentImage.decode_planes` returns: ``[1, C, H, W]``
    float32, channels-last in memory."""
    return image.float().cpu().permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)


def _mse(model: LatentImage, latents: List[Tensor], target: Tensor) -> Tensor:
    """The MSE of the decoded ``latents`` against ``target`` planes ``[1, C, H, W]`` (:func:`image_planes`)."""
    return ((model.decode_planes(latents) - target) ** 2).mean()


def _psnr(mse: float) -> float:
    return -10.0 * math.log10(max(mse, 1e-12))


def network_exponents(tensors: Dict[str, Tensor], prefix: str, bits: int) -> Dict[str, int]:
    """The power-of-two step exponent of a ``bits``-bit quantiser (:func:`pow2_exponent`) of every
    tensor whose name starts with ``prefix`` (one of :data:`NETWORK_GROUPS`' names, or any ``name.``)."""
    prefixes = tuple(f"{p}." for p in NETWORK_GROUPS.get(prefix, (prefix,)))
    return {name: pow2_exponent(tensor, 2 ** (bits - 1) - 1) for name, tensor in tensors.items() if name.startswith(prefixes)}


def quantize_network(tensors: Dict[str, Tensor], prefix: str, bits: int) -> Dict[str, int]:
    """Round every tensor of ``prefix`` in place to the step of :func:`network_exponents`; returns
    their exponents."""
    exponents = network_exponents(tensors, prefix, bits)
    with torch.no_grad():
        for name, e in exponents.items():
            tensors[name].copy_(pow2_dequantize(pow2_quantize(tensors[name], e), e))
    return exponents


def weight_payload_bits(tensors: Dict[str, Tensor], exponents: Dict[str, int]) -> int:
    """Bits of the ANS-coded integer weights of the tensors named in ``exponents``."""
    symbols = [pow2_quantize(tensors[name], e).reshape(-1) for name, e in exponents.items()]
    bits = [max(2, int(np.abs(q).max()).bit_length() + 1) for q in symbols]
    if any(k > 16 for k in bits):
        return 1 << 40
    payload, _ = encode_symbols(symbols, bits, "ans")
    return 8 * len(payload)


def choose_network_steps(model: LatentImage, target: Tensor, rate_lambda: float, max_bits: int, sweeps: int = 2) -> Dict[str, int]:
    """Quantise the networks in place to the power-of-two steps of least ``MSE + lambda bpp`` on
    ``target`` planes (the rounded latents, the networks' own ANS-coded bits and the latents' under
    the quantised context model); returns each tensor's step exponent. First one precision per
    network (4..``max_bits`` bits, :data:`NETWORK_GROUPS`; Cool-chic's post-training quantisation),
    then each tensor's own step, ``sweeps`` rounds of coordinate descent over its exponent within 4
    of that start (a finer step than ``max_bits`` allows is never taken)."""
    tensors = network_tensors(model)
    saved = {name: t.detach().clone() for name, t in tensors.items()}
    latents = quantize_latents(model.latents, "hard")

    def loss(exponents: Dict[str, int]) -> float:
        with torch.no_grad():
            for name, e in exponents.items():
                tensors[name].copy_(pow2_dequantize(pow2_quantize(saved[name], e), e))
            rate = weight_payload_bits(tensors, exponents) + float(latent_bits(latents, model.arm, model.context))
            return float(_mse(model, latents, target)) + rate_lambda * rate / target[0, 0].numel()

    finest = {name: pow2_exponent(t, 2 ** (max_bits - 1) - 1) for name, t in saved.items()}
    exponents = dict(finest)
    for prefix in NETWORK_GROUPS:
        exponents = min(({**exponents, **network_exponents(saved, prefix, bits)} for bits in range(4, max_bits + 1)), key=loss)
    best = loss(exponents)
    for _ in range(sweeps):
        for name in tensors:
            for e in range(exponents[name] - 4, exponents[name] + 5):
                if e == exponents[name] or e < finest[name]:
                    continue
                trial = {**exponents, name: e}
                value = loss(trial)
                if value < best:
                    best, exponents = value, trial
    loss(exponents)  # leaves the tensors at the chosen steps
    return exponents


def initial_lambda(bpp: float) -> float:
    """The controller's starting lambda for a target of ``bpp``: :data:`LAMBDA_AT_03_BPP` scaled."""
    return LAMBDA_AT_03_BPP * (0.3 / bpp) ** 1.5


def latent_rate_target(model: LatentImage, bpp: float, option: str = "--bpp") -> float:
    """The latents' share of a ``bpp`` target: less the networks (at :data:`NETWORK_BITS_GUESS`
    bits a weight) and the file's header (:func:`~vanilla_nerf_pe.codec.latent_file.header_bytes`);
    an :class:`InputError` naming the target's ``option`` when nothing is left."""
    pixels = model.height * model.width
    weights = sum(t.numel() for t in network_tensors(model).values())
    left = bpp - (NETWORK_BITS_GUESS * weights + 8 * header_bytes(model.config, model.channels)) / pixels
    if left <= 0.02 * bpp:
        raise InputError(f"{option} {bpp:g} is too low for the latent codec's networks at {model.width}x{model.height} "
                         f"({weights} weights); raise {option} or shrink --latent.synthesis-widths / --latent.arm-widths")
    return left


def rounded_latent_rate(model: LatentImage) -> float:
    """Bits per pixel of the model's rounded latents under its context model (what the file's
    latents cost, to the ANS coder's overhead)."""
    with torch.no_grad():
        return float(latent_bits(quantize_latents(model.latents, "hard"), model.arm, model.context)) / (model.height * model.width)


def rounded_loss(model: LatentImage, target: Tensor, rate_lambda: float) -> float:
    """``MSE + lambda bpp`` of the model's rounded latents (through its networks as they are) on
    ``target`` planes ``[1, C, H, W]``: the straight-through stage's loss."""
    with torch.no_grad():
        latents = quantize_latents(model.latents, "hard")
        return float(_mse(model, latents, target) + rate_lambda * latent_bits(latents, model.arm, model.context) / target[0, 0].numel())


def secant_lambda(tries: List[Tuple[float, float]], target: float, slope: float = RATE_SLOPE) -> float:
    """The lambda predicted to give latents of ``target`` bpp from ``tries`` ``[(lambda, bpp)]``: log
    bpp linear in log lambda, through the last try with the slope of the last two (clamped to
    ``[-2, RATE_SLOPE]``), or ``slope`` with one try."""
    (l1, r1) = tries[-1]
    if len(tries) > 1:
        (l0, r0) = tries[-2]
        if abs(math.log(l1 / l0)) > 1e-6:
            slope = min(max(math.log(r1 / r0) / math.log(l1 / l0), -2.0), RATE_SLOPE)
    return l1 * math.exp((math.log(target) - math.log(max(r1, 1e-6))) / slope)


def search_lambda(image: Tensor, config: LatentConfig, bpp: float) -> Tuple[float, List[Tuple[float, float]]]:
    """lambda for latents at ``bpp``'s share (:func:`latent_rate_target`): ``config.rate_search_tries``
    short fits (``config.rate_search_steps`` noise steps each, the whole schedule compressed), each
    at the lambda :func:`secant_lambda` predicts from the ones before (the first at
    :func:`initial_lambda`); returns the next prediction and the tries ``[(lambda, bpp)]``."""
    H, W, C = image.shape
    target = latent_rate_target(LatentImage(config, H, W, C), bpp)
    short = dataclasses.replace(config, steps=config.rate_search_steps, ste_steps=0)
    tries: List[Tuple[float, float]] = []
    rate_lambda = initial_lambda(bpp)
    for _ in range(config.rate_search_tries):
        model = LatentImage(short, H, W, C)
        train_latent_image(model, image_planes(image), short, rate_lambda)
        tries.append((rate_lambda, rounded_latent_rate(model)))
        rate_lambda = secant_lambda(tries, target)
    return rate_lambda, tries


def train_latent_image(model: LatentImage, target: Tensor, config: LatentConfig, rate_lambda: float, latent_target: Optional[float] = None,
                       callback: Optional[FitCallback] = None, eval_every: int = 100) -> float:
    """Train ``model`` in place on ``target`` planes ``[1, C, H, W]`` for ``MSE + lambda bpp`` (the
    schedule of the module's docstring); with ``latent_target`` (bpp of the latents) lambda is
    adapted towards it within :data:`LAMBDA_RANGE` of ``rate_lambda`` during the noise stage. The
    straight-through stage's loss is the rounded latents' (what the file holds, through the float
    networks), and the model ends at its least (C3's reset to the best parameters). Returns the last
    lambda."""
    H, W = target.shape[-2:]
    start_lambda = rate_lambda
    generator = torch.Generator().manual_seed(config.seed)
    total = config.steps + config.ste_steps
    networks = [p for name, p in model.named_parameters() if not name.startswith("latents.")]
    step = 0
    for stage, steps, lr, latent_lr in ((config.quantizer, config.steps, config.lr, config.latent_lr), ("ste", config.ste_steps, config.ste_lr, config.ste_lr)):
        if steps == 0:
            continue
        gains = [config.latent_gain**k if stage != "ste" else 1.0 for k in range(len(model.latents))]
        optimizer = torch.optim.Adam([*({"params": [g], "lr": latent_lr * gain} for g, gain in zip(model.latents, gains)),
                                      {"params": networks, "lr": lr}])
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(i / steps, 1.0))))
        best = (math.inf, None)
        for i in range(steps):
            step += 1
            optimizer.zero_grad(set_to_none=True)
            progress = i / max(steps - 1, 1)
            temperature = config.softround_temperature[0] + progress * (config.softround_temperature[1] - config.softround_temperature[0])
            noise_a = config.kumaraswamy[0] + progress * (config.kumaraswamy[1] - config.kumaraswamy[0])
            latents = quantize_latents(model.latents, stage, generator, temperature, noise_a)
            seen = quantize_latents(model.latents, "ste") if stage != "ste" and config.mixed_quantization else latents
            mse = _mse(model, seen, target)
            bits = latent_bits(latents, model.arm, model.context)
            loss = mse + rate_lambda * bits / (H * W)
            value = float(loss.detach())
            if stage == "ste" and value < best[0]:  # the loss of the parameters as they are, before this step
                best = (value, {name: t.detach().clone() for name, t in model.state_dict().items()})
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            if latent_target is not None and stage != "ste" and step % LAMBDA_EVERY == 0 and LAMBDA_WARMUP * steps <= i < LAMBDA_FREEZE * steps:
                # the rate of what the file will hold, not of the noisy latents
                rate_lambda *= math.exp(LAMBDA_GAIN * math.log(max(rounded_latent_rate(model), 1e-6) / latent_target))
                rate_lambda = min(max(rate_lambda, start_lambda / LAMBDA_RANGE), start_lambda * LAMBDA_RANGE)
            score = None
            if callback is not None and (step % max(eval_every, 1) == 0 or step == total):
                with torch.no_grad():
                    score = _psnr(float(((model.decode_planes(quantize_latents(model.latents, "hard")).clamp(0, 1) - target) ** 2).mean()))
            if callback is not None:
                callback(step, value, score)
        if best[1] is not None and rounded_loss(model, target, rate_lambda) > best[0]:
            model.load_state_dict(best[1])
    return rate_lambda


def fit_latent_image(image: Tensor, config: LatentConfig, bpp: Optional[float] = None, rate_lambda: Optional[float] = None,
                     callback: Optional[FitCallback] = None, eval_every: int = 100) -> LatentFit:
    """Fit a :class:`LatentImage` to ``image [H, W, C]`` for ``MSE + lambda bpp`` with ``rate_lambda``
    or, without one, lambda searched by short fits (:func:`search_lambda`) and then adapted during
    the fit (:func:`train_latent_image`) to land at ``bpp``; then quantise its networks.
    ``callback(step, loss, psnr_or_None)`` after every step of the (main) fit. On the CPU, in float32."""
    config.check()
    if rate_lambda is None and (bpp is None or not bpp > 0):
        raise InputError("the latent codec needs --bpp or --lambda")
    if rate_lambda is not None and not (math.isfinite(rate_lambda) and rate_lambda >= 0):
        raise InputError(f"--lambda must be >= 0, got {rate_lambda}")
    start = time.perf_counter()
    H, W, C = image.shape
    target = image_planes(image)
    model = LatentImage(config, H, W, C)
    latent_target, tries = None, []
    if rate_lambda is None:
        latent_target = latent_rate_target(model, bpp)
        rate_lambda, tries = search_lambda(image, config, bpp) if config.rate_search_tries else (initial_lambda(bpp), [])
    rate_lambda = train_latent_image(model, target, config, rate_lambda, latent_target, callback, eval_every)
    model.eval()
    with torch.no_grad():
        psnr_float = _psnr(float(_mse(model, quantize_latents(model.latents, "hard"), target)))
        exponents = choose_network_steps(model, target, rate_lambda, config.weight_bits)
    return LatentFit(model, rate_lambda, psnr_float, exponents, time.perf_counter() - start, tries, latent_target)


__all__ = [
    "LAMBDA_AT_03_BPP",
    "LatentFit",
    "choose_network_steps",
    "NETWORK_GROUPS",
    "fit_latent_image",
    "image_planes",
    "initial_lambda",
    "latent_rate_target",
    "network_exponents",
    "quantize_network",
    "rounded_latent_rate",
    "rounded_loss",
    "search_lambda",
    "secant_lambda",
    "train_latent_image",
    "weight_payload_bits",
]
