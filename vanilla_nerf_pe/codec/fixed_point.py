"""The latent codec's probability model in integer arithmetic: the same probabilities on every machine.

An arithmetic decoder reproduces the encoder's symbols only if it is fed exactly the encoder's
probabilities; a float network on another CPU, BLAS or thread count may round differently
(Ballé et al. 2019, "Integer Networks for Data Compression with Latent-Variable Models"). So the
auto-regressive context model of :mod:`~vanilla_nerf_pe.codec.latent` runs here in int64 numpy:

- its weights are quantised with **power-of-two steps** ``2^e`` (:func:`pow2_exponent`), so a layer
  is integer multiply-adds and a rounding shift;
- activations are fixed point with :data:`ACT_FRAC` fractional bits; the integer latents enter
  exactly (``x << ACT_FRAC``);
- the outputs, a Laplace mean ``mu`` and log-scale, are mapped to indices: ``mu`` to a multiple of
  ``1 / MU_STEPS`` (an integer ``base`` plus a sub-step ``r``), the log-scale to one of
  :data:`NUM_SCALES` scales on a fixed grid;
- each ``(scale, r)`` has a **quantised CDF table** over the offsets ``d = x - base`` in
  ``[-D, D]`` (:func:`cdf_tables`): integer frequencies summing to ``2^TABLE_PRECISION``, every
  offset at least 1, built from a handful of correctly rounded ``decimal`` exponentials and integer
  powers only. ``constriction``'s categorical coder gets those frequencies as exact dyadic floats.

Shapes: ``context [N, T]`` int64 latents, weights ``[out, in]``; outputs ``[N]``.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from vanilla_nerf_pe.core.errors import InputError

#: Fractional bits of the integer context model's activations.
ACT_FRAC = 12
#: The Laplace mean is rounded to a multiple of 1 / MU_STEPS (a power of two).
MU_STEPS = 8
#: The log-scale grid: NUM_SCALES scales, ln b = (LOG_SCALE_MIN + s LOG_SCALE_STEP) / 2^ACT_FRAC.
NUM_SCALES = 64
LOG_SCALE_MIN = -4 * 2**ACT_FRAC
LOG_SCALE_STEP = 560
#: Frequencies of a CDF table sum to 2^TABLE_PRECISION.
TABLE_PRECISION = 16
#: Fixed-point precision of the exponentials the tables are built from.
_EXP_FRAC = 30
#: The integer latents and the context model's mean are clamped to +-LATENT_LIMIT.
LATENT_LIMIT = 100


def log_scale_bounds() -> Tuple[float, float]:
    """``(ln b_min, ln b_max)``: the float range of the scale grid (training clamps to it)."""
    return LOG_SCALE_MIN / 2**ACT_FRAC, (LOG_SCALE_MIN + (NUM_SCALES - 1) * LOG_SCALE_STEP) / 2**ACT_FRAC


# --------------------------------------------------------------------------
# Power-of-two quantisation of weights
# --------------------------------------------------------------------------


def pow2_exponent(weights: Tensor, max_abs_symbol: int) -> int:
    """The exponent ``e`` of the finest power-of-two step ``2^e`` with ``|w| / 2^e`` rounding into
    ``[-max_abs_symbol, max_abs_symbol]`` for every weight (0 for a tensor of zeros)."""
    largest = float(weights.detach().abs().max()) if weights.numel() else 0.0
    if largest == 0.0:
        return 0
    e = int(np.ceil(np.log2(largest / max_abs_symbol)))
    while round(largest / 2.0**e) > max_abs_symbol:
        e += 1
    while e > -60 and round(largest / 2.0 ** (e - 1)) <= max_abs_symbol:
        e -= 1
    return e


def pow2_quantize(weights: Tensor, exponent: int) -> np.ndarray:
    """``round(w / 2^e)`` as int64, same shape (round half to even, as the training forward pass)."""
    return torch.round(weights.detach().double() / 2.0**exponent).long().numpy()


def pow2_dequantize(symbols: np.ndarray, exponent: int) -> Tensor:
    """``symbols * 2^e`` in float32 (exact for |symbols| < 2^24)."""
    return torch.from_numpy(np.asarray(symbols, dtype=np.float64) * 2.0**exponent).float()


# --------------------------------------------------------------------------
# The integer context model
# --------------------------------------------------------------------------


@dataclass
class IntegerLayer:
    """One linear layer of the integer model: ``weight [out, in]`` and ``bias [out]`` integer symbols
    with their power-of-two exponents."""

    weight: np.ndarray
    weight_exponent: int
    bias: np.ndarray
    bias_exponent: int


def _shift_round(values: np.ndarray, shift: int) -> np.ndarray:
    """``values * 2^-shift`` rounded half up, in integers (``shift`` may be negative: a left shift)."""
    if shift <= 0:
        return values << -shift
    return (values + (1 << (shift - 1))) >> shift


def _integer_matmul(a: np.ndarray, weight: np.ndarray, bound: Optional[float] = None) -> np.ndarray:
    """``a @ weight.T`` of int64 arrays, exactly. When no partial sum can reach 2^52 (``bound``: a
    bound of ``|a|``, default its maximum) it runs as a float64 product (BLAS), which is then exact
    whatever the order of the additions (every partial sum is an integer a float64 holds), so the same
    integers on every machine; otherwise in int64."""
    if a.size and weight.size:
        largest = float(np.abs(a).max()) if bound is None else bound
        if largest * float(np.abs(weight).sum(axis=1).max()) < 2.0**52:
            return (a.astype(np.float64) @ weight.astype(np.float64).T).astype(np.int64)
    return a @ weight.astype(np.int64).T


def integer_mlp(context: np.ndarray, layers: List[IntegerLayer]) -> np.ndarray:
    """The context model on integer latents ``context [N, T]``: ReLU between the layers, none after
    the last; ``[N, out]`` int64 at ``2^-ACT_FRAC``. Only integer multiply-adds (exact), adds and
    shifts."""
    return IntegerMLP(layers)(context)


class IntegerMLP:
    """:func:`integer_mlp` prepared once for many calls on contexts within +-LATENT_LIMIT (the
    decoder's one call per wavefront): the bias terms shifted and each layer's bound on its input
    computed ahead."""

    def __init__(self, layers: List[IntegerLayer]) -> None:
        self.layers = layers
        self.biases = [_shift_round(np.asarray(layer.bias, dtype=np.int64) << ACT_FRAC, -layer.bias_exponent) for layer in layers]
        self.weights = [np.asarray(layer.weight, dtype=np.int64) for layer in layers]
        bound = float(LATENT_LIMIT << ACT_FRAC)
        self.bounds = []
        for layer, weight, bias in zip(layers, self.weights, self.biases):
            self.bounds.append(bound)
            row = np.abs(weight).sum(axis=1).max(initial=0)
            bound = float(row) * bound * 2.0**layer.weight_exponent + 1.0 + float(np.abs(bias).max(initial=0))

    def __call__(self, context: np.ndarray) -> np.ndarray:
        context = np.asarray(context, dtype=np.int64)
        bound = self.bounds[0] if context.size and int(np.abs(context).max()) <= LATENT_LIMIT else None
        a = context << ACT_FRAC
        for index, (layer, weight, bias) in enumerate(zip(self.layers, self.weights, self.biases)):
            acc = _integer_matmul(a, weight, bound)  # at 2^(e_w - ACT_FRAC)
            a = _shift_round(acc, -layer.weight_exponent) + bias
            if index < len(self.layers) - 1:
                a = np.maximum(a, 0)
            bound = self.bounds[index + 1] if bound is not None and index + 1 < len(self.layers) else None
        return a


def float_reference(context: np.ndarray, layers: List[IntegerLayer]) -> np.ndarray:
    """The same network in float64 with the dequantised weights: ``[N, out]`` (the test's reference)."""
    a = np.asarray(context, dtype=np.float64)
    for index, layer in enumerate(layers):
        a = a @ (layer.weight * 2.0**layer.weight_exponent).T + layer.bias * 2.0**layer.bias_exponent
        if index < len(layers) - 1:
            a = np.maximum(a, 0.0)
    return a


def distribution_indices(outputs: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(base, r, s)`` of the context model's integer ``outputs [N, 2]`` (mean, log-scale at
    ``2^-ACT_FRAC``): the mean rounded to ``base + r / MU_STEPS`` (``0 <= r < MU_STEPS``, clamped to
    +-LATENT_LIMIT) and the index ``s`` of the nearest scale of the grid (clamped to it)."""
    mu_shift = ACT_FRAC - int(np.log2(MU_STEPS))
    limit = LATENT_LIMIT * MU_STEPS
    m = np.minimum(np.maximum(_shift_round(outputs[:, 0], mu_shift), -limit), limit)
    base, r = m >> int(np.log2(MU_STEPS)), m & (MU_STEPS - 1)
    s = np.minimum(np.maximum((outputs[:, 1] - LOG_SCALE_MIN + LOG_SCALE_STEP // 2) // LOG_SCALE_STEP, 0), NUM_SCALES - 1)
    return base, r, s


# --------------------------------------------------------------------------
# Quantised CDF tables
# --------------------------------------------------------------------------


def _exp_constants() -> np.ndarray:
    """``Q_s = exp(-1 / (2 MU_STEPS b_s))`` at ``2^_EXP_FRAC``, one per scale: correctly rounded
    ``decimal`` arithmetic (the same integers on every machine)."""
    context = decimal.Context(prec=40)
    out = []
    for s in range(NUM_SCALES):
        log_b = context.divide(decimal.Decimal(LOG_SCALE_MIN + s * LOG_SCALE_STEP), decimal.Decimal(2**ACT_FRAC))
        b = context.exp(log_b)
        q = context.exp(context.divide(decimal.Decimal(-1), context.multiply(decimal.Decimal(2 * MU_STEPS), b)))
        out.append(int(context.multiply(q, decimal.Decimal(2**_EXP_FRAC)).to_integral_value(rounding=decimal.ROUND_HALF_EVEN)))
    return np.array(out, dtype=np.int64)


def cdf_tables(half_width: int) -> np.ndarray:
    """Integer frequencies ``[NUM_SCALES, MU_STEPS, 2 D + 1]`` (``D = half_width``) of a Laplace of
    scale ``b_s`` and mean ``r / MU_STEPS`` over the integers ``-D..D`` (the tails folded into the
    end bins): each row sums to ``2^TABLE_PRECISION`` with every entry at least 1.

    With ``Q = exp(-1 / (2 MU_STEPS b))`` the Laplace's CDF at a bin edge ``j - 1/2`` is
    ``Q^n / 2`` or ``1 - Q^n / 2`` with the integer ``n = |2 MU_STEPS j - MU_STEPS - 2 r|``, so the
    table is integer powers of one constant per scale (fixed point, rounding products half up)."""
    if not 1 <= half_width <= 2 * LATENT_LIMIT + 1:
        raise InputError(f"corrupt header (latent alphabet half-width {half_width})")
    D, M = half_width, MU_STEPS
    one = 1 << _EXP_FRAC
    n_max = 2 * M * (D + 1) + M
    powers = np.empty((NUM_SCALES, n_max + 1), dtype=np.int64)
    powers[:, 0] = one
    q = _exp_constants()
    for n in range(1, n_max + 1):
        powers[:, n] = (powers[:, n - 1] * q + (one >> 1)) >> _EXP_FRAC
    j = np.arange(-D, D + 2)  # bin edges j - 1/2 for the bins -D..D
    r = np.arange(M)
    n = 2 * M * j[None, :] - M - 2 * r[:, None]  # [M, 2D+2]
    tail = powers[:, np.abs(n)]  # [S, M, 2D+2]
    cdf = np.where(n[None] < 0, tail >> 1, one - (tail >> 1))
    cdf[..., 0], cdf[..., -1] = 0, one  # the tails fold into the end bins
    mass = np.diff(cdf, axis=-1)  # [S, M, 2D+1] at 2^_EXP_FRAC
    total = 1 << TABLE_PRECISION
    freq = np.maximum(mass >> (_EXP_FRAC - TABLE_PRECISION), 1)
    largest = np.argmax(freq, axis=-1)
    excess = freq.sum(axis=-1) - total
    rows = np.take_along_axis(freq, largest[..., None], axis=-1)[..., 0]
    if np.any(rows - excess < 1):
        raise InputError(f"latent alphabet too wide for {TABLE_PRECISION}-bit tables (half-width {D})")
    np.put_along_axis(freq, largest[..., None], (rows - excess)[..., None], axis=-1)
    return freq


def table_probabilities(tables: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The rows of ``tables`` for each symbol's ``(r, s)`` as float64 probabilities ``[N, 2 D + 1]``
    (exact: integers over a power of two), for ``constriction``'s categorical model family. Integer
    ``tables`` are divided by ``2^TABLE_PRECISION``; float ones (:func:`probability_tables`) are
    taken as they are."""
    rows = tables[s, r]
    return rows if rows.dtype == np.float64 else rows.astype(np.float64) / float(1 << TABLE_PRECISION)


def probability_tables(tables: np.ndarray) -> np.ndarray:
    """``tables / 2^TABLE_PRECISION`` in float64 (exact), once for many :func:`table_probabilities`."""
    return tables.astype(np.float64) / float(1 << TABLE_PRECISION)


__all__ = [
    "ACT_FRAC",
    "IntegerLayer",
    "IntegerMLP",
    "LATENT_LIMIT",
    "LOG_SCALE_MIN",
    "LOG_SCALE_STEP",
    "MU_STEPS",
    "NUM_SCALES",
    "TABLE_PRECISION",
    "cdf_tables",
    "distribution_indices",
    "float_reference",
    "integer_mlp",
    "log_scale_bounds",
    "pow2_dequantize",
    "pow2_exponent",
    "pow2_quantize",
    "probability_tables",
    "table_probabilities",
]
