"""Uniform, symmetric per-tensor quantisation of a network's weights to k-bit integers, and its
straight-through form for quantisation-aware training (Strümpler et al. 2022, "Implicit Neural
Representations for Image Compression", sec. 3.2).

Shapes: a tensor of any shape in, integer symbols of the same shape out; one step per tensor.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vanilla_nerf_pe.core.errors import InputError


def max_symbol(bits: int) -> int:
    """The largest integer of a symmetric ``bits``-bit quantiser: ``2^(bits-1) - 1``."""
    if not 2 <= bits <= 16:
        raise InputError(f"--bits must be in 2..16, got {bits}")
    return 2 ** (bits - 1) - 1


def quantization_step(weights: Tensor, bits: int) -> float:
    """The step of a uniform, symmetric ``bits``-bit quantiser that covers ``max |weights|``.

    ``max|w| / (2^(bits-1) - 1)`` rounded up to the next float16 (the file stores it in 16 bits, and
    rounding up keeps every weight inside the quantiser's range); 1 for a tensor of zeros.
    """
    largest = float(weights.detach().abs().max()) if weights.numel() else 0.0
    if largest == 0.0:
        return 1.0
    step = np.float16(largest / max_symbol(bits))
    while float(step) * max_symbol(bits) < largest or float(step) == 0.0:
        step = np.nextafter(step, np.float16(np.inf))
    return float(step)


def quantize(weights: Tensor, step: float, bits: int) -> Tensor:
    """Integer symbols ``round(w / step)`` clamped to ``[-(2^(bits-1) - 1), 2^(bits-1) - 1]``: same shape, int64.

    With ``step`` from :func:`quantization_step` nothing is clamped and ``|w - q step| <= step / 2``.
    """
    limit = max_symbol(bits)
    return torch.round(weights.detach().float() / step).clamp(-limit, limit).long()


def dequantize(symbols: Tensor, step: float) -> Tensor:
    """``symbols * step`` in float32, the decoder's weights (the encoder uses this very function)."""
    return symbols.to(torch.float32) * torch.tensor(step, dtype=torch.float32)


def fake_quantize(weights: Tensor, bits: int) -> Tensor:
    """Quantise and dequantise ``weights`` in the forward pass, the identity in the backward pass
    (the straight-through estimator of quantisation-aware training, Strümpler et al. 2022 sec. 3.2)."""
    step = quantization_step(weights, bits)
    return weights + (dequantize(quantize(weights, step, bits), step).to(weights.device) - weights).detach()


__all__ = ["dequantize", "fake_quantize", "max_symbol", "quantization_step", "quantize"]
