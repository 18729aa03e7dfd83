"""The codec's rate model: the network whose file is about a target number of bits per pixel, and
the next rate to try when a target PSNR is searched.

A network's file is its header (:func:`~vanilla_nerf_pe.codec.container.header_bytes`: a fixed
part and one entry per parameter tensor) and its entropy-coded weights, each costing about
``expected_bits_per_weight`` bits. The model sizes any network kind from the network itself: it
builds the candidate (:class:`~vanilla_nerf_pe.image.field.ImageField`) and counts its parameter
tensors and numbers (:func:`network_size`), so a positional encoding's wider first layer or a hash
grid's tables are paid for like the rest.
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Optional, Tuple

import torch

from vanilla_nerf_pe.codec.container import header_bytes, network_parameters
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.image.field import ImageField, ImageFieldConfig

#: The depth of the network whose header the first, rough, weight budget sets aside (before the
#: depth is chosen): the middle of COIN's depths; the header changes the budget by a few tensor
#: entries only.
ROUGH_DEPTH = 10
#: The widest network :func:`architecture_for_rate` considers.
MAX_WIDTH = 1023
#: What the rate search assumes before it has two points of its own: dB gained per doubling of
#: the rate (about what SIREN files of the shipped photographs gain: docs/codec.md, "What the defaults rest on").
DB_PER_RATE_DOUBLING = 2.5


def network_size(config: ImageFieldConfig, channels: int) -> Tuple[int, int]:
    """``(parameter tensors, parameters)`` of the network of ``ImageField(config, channels)``: what
    the file stores (one header entry per tensor, one symbol per parameter). Builds the network
    (without touching the global random state)."""
    with torch.random.fork_rng(devices=[]):
        tensors = network_parameters(ImageField(config, channels))
    return len(tensors), sum(p.numel() for _, p in tensors)


def siren_parameter_count(num_layers: int, width: int, channels: int, in_dim: int = 2) -> int:
    """Parameters of ``Siren(in_dim, num_layers, width, channels)``: the first layer, the hidden
    layers and the output layer, weights and biases (the closed form of :func:`network_size`'s count
    for a SIREN)."""
    return (in_dim + 1) * width + (num_layers - 1) * (width + 1) * width + (width + 1) * channels


def architecture_for_rate(height: int, width: int, channels: int, bpp: float, expected_bits_per_weight: float,
                          network: Optional[ImageFieldConfig] = None) -> Tuple[int, int]:
    """``(num_layers, width)`` of the network ``network`` (default: a SIREN; its ``num_layers`` and
    ``width`` are replaced) whose file is about ``bpp`` bits per pixel.

    The weight budget is ``(bpp H W - header bits) / expected_bits_per_weight``. Its shape follows
    COIN's architectures (Dupont et al. 2021, appendix A: width about three times the depth): depth
    ``round((budget / 9)^(1/3))`` in 2..16 (the budget left by the header of a :data:`ROUGH_DEPTH`
    network), then the widest width whose network's parameters fit the budget left by that depth's
    own header (both counted on the network itself, :func:`network_size`). A rate too small for the
    narrowest network of that depth is an :class:`InputError`.
    """
    network = network if network is not None else ImageFieldConfig(kind="siren")

    def size(depth: int, units: int) -> Tuple[int, int]:
        return network_size(dataclasses.replace(network, num_layers=depth, width=units), channels)

    total_bits = bpp * height * width
    rough = (total_bits - 8 * header_bytes(size(ROUGH_DEPTH, 1)[0], channels)) / expected_bits_per_weight
    depth = int(min(16, max(2, round((max(rough, 1.0) / 9.0) ** (1.0 / 3.0)))))
    budget = (total_bits - 8 * header_bytes(size(depth, 1)[0], channels)) / expected_bits_per_weight
    narrowest = size(depth, 1)[1]
    if narrowest > budget:
        raise InputError(
            f"--bpp {bpp:g} is too small for a {network.kind} network on {width}x{height} pixels: the narrowest of "
            f"{depth} layers has {narrowest} parameters, the rate leaves room for about {max(int(budget), 0)}"
        )
    low, high = 1, MAX_WIDTH  # the widest width that fits: the parameter count grows with the width
    while low < high:
        middle = (low + high + 1) // 2
        if size(depth, middle)[1] <= budget:
            low = middle
        else:
            high = middle - 1
    return depth, low


def next_rate(tries: List[Tuple[float, float]], target: float) -> float:
    """The rate of the next fit of the search for ``target`` dB, from the ``(bpp, psnr)`` tries so far.

    PSNR is close to linear in log(bpp) over a factor of a few in rate, so the next rate
    interpolates in log(bpp) between the closest tries below and above the target, or, on one side
    only, extrapolates with the slope of the two closest tries (:data:`DB_PER_RATE_DOUBLING` with one
    try, and never less than 0.5 dB per doubling); a step is at most a factor of 4.
    """
    below = [t for t in tries if t[1] < target]
    above = [t for t in tries if t[1] >= target]
    if below and above:
        (r0, p0), (r1, p1) = max(below, key=lambda t: t[1]), min(above, key=lambda t: t[0])
        if p1 > p0 and r1 > r0:
            return math.exp(math.log(r0) + (target - p0) / (p1 - p0) * (math.log(r1) - math.log(r0)))
        return math.sqrt(r0 * r1)
    near = sorted(tries, key=lambda t: abs(t[1] - target))
    rate, score = near[0]
    slope = DB_PER_RATE_DOUBLING
    if len(near) >= 2 and near[1][0] != rate:
        slope = max(0.5, (near[1][1] - score) / math.log2(near[1][0] / rate))
    return rate * 2.0 ** min(2.0, max(-2.0, (target - score) / slope))


__all__ = ["DB_PER_RATE_DOUBLING", "MAX_WIDTH", "ROUGH_DEPTH", "architecture_for_rate", "network_size", "next_rate",
           "siren_parameter_count"]
