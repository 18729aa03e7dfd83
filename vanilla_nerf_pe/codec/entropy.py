"""Entropy coding of the quantised weights' integer symbols: raw bit packing, LZMA, or ANS with a
quantised Laplace or Gaussian model per tensor (constriction's ANS coder).

:func:`encode_symbols` turns a list of int symbol arrays into one payload and each tensor's
``(family, scale)`` (the file stores them per tensor); :func:`decode_symbols` inverts it. A
payload that does not decode is an :class:`~vanilla_nerf_pe.core.errors.InputError`.
"""

from __future__ import annotations

import lzma
import math
from typing import List, Tuple

import numpy as np

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.codec.quantize import max_symbol

#: The coders, in the order of their index in the file.
CODERS: Tuple[str, ...] = ("raw", "lzma", "ans")
#: The entropy models of the ANS coder, in the order of their index in the file.
ENTROPY_FAMILIES: Tuple[str, ...] = ("laplace", "gaussian")
#: The entropy model's scale never goes below this (a tensor of zeros still has a valid model).
MIN_ENTROPY_SCALE = 0.1


def _entropy_model(family: int, bits: int):
    import constriction

    limit = max_symbol(bits)
    model = constriction.stream.model
    return model.QuantizedLaplace(-limit, limit) if family == 0 else model.QuantizedGaussian(-limit, limit)


def _ans_encode(groups: List[Tuple[np.ndarray, int, float, int]]) -> bytes:
    """One ANS stream of every group ``(int32 symbols, family, scale, bits)``, decoded in the same order."""
    import constriction

    coder = constriction.stream.stack.AnsCoder()
    for symbols, family, scale, bits in reversed(groups):
        n = symbols.size
        coder.encode_reverse(symbols.astype(np.int32), _entropy_model(family, bits), np.zeros(n), np.full(n, scale))
    return coder.get_compressed().astype("<u4").tobytes()


def _ans_decode(payload: bytes, groups: List[Tuple[int, int, float, int]]) -> List[np.ndarray]:
    import constriction

    if len(payload) % 4:
        raise InputError("the ANS payload is not a whole number of 32-bit words")
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    out = []
    for n, family, scale, bits in groups:
        out.append(coder.decode(_entropy_model(family, bits), np.zeros(n), np.full(n, scale)).astype(np.int64))
    return out


def _entropy_scale(symbols: np.ndarray, family: int) -> float:
    """The maximum-likelihood scale of a zero-mean Laplace (mean |q|) or Gaussian (root mean square),
    at least :data:`MIN_ENTROPY_SCALE`, as the float16 the file stores."""
    q = symbols.astype(np.float64)
    raw = np.abs(q).mean() if family == 0 else math.sqrt((q**2).mean())
    return float(np.float16(max(raw, MIN_ENTROPY_SCALE)))


def _pack_bits(tensors: List[np.ndarray], bits: List[int]) -> bytes:
    """Each tensor's symbols, offset to ``0..2 max_symbol``, in its ``bits`` bits, most significant
    first, all in one bit stream (zero-padded to a byte)."""
    streams = []
    for q, k in zip(tensors, bits):
        offset = (q.reshape(-1) + max_symbol(k)).astype(np.uint32)
        streams.append(((offset[:, None] >> np.arange(k - 1, -1, -1, dtype=np.uint32)) & 1).astype(np.uint8).reshape(-1))
    return np.packbits(np.concatenate(streams) if streams else np.zeros(0, np.uint8)).tobytes()


def _unpack_bits(payload: bytes, counts: List[int], bits: List[int]) -> List[np.ndarray]:
    flat = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    needed = sum(n * k for n, k in zip(counts, bits))
    if flat.size < needed or flat.size >= needed + 8:
        raise InputError(f"the payload holds {flat.size} bits, the architecture needs {needed}")
    out, start = [], 0
    for n, k in zip(counts, bits):
        rows = flat[start : start + n * k].reshape(n, k).astype(np.int64)
        out.append(rows @ (1 << np.arange(k - 1, -1, -1)) - max_symbol(k))
        start += n * k
    return out


_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


def encode_symbols(tensors: List[np.ndarray], bits: List[int], coder: str) -> Tuple[bytes, List[Tuple[int, float]]]:
    """The payload for ``tensors`` (int symbols of ``bits[i]`` bits each) with ``coder``, and each
    tensor's ``(family, scale)``.

    raw packs each tensor's symbols in its bits, one bit stream; lzma compresses one byte per symbol
    (two when some tensor has more than 8 bits); ans picks, per tensor, the family (Laplace or
    Gaussian) whose stream is shorter.
    """
    models = []
    for q, k in zip(tensors, bits):
        if coder == "ans":
            options = [(f, _entropy_scale(q, f)) for f in range(len(ENTROPY_FAMILIES))]
            models.append(min(options, key=lambda m: len(_ans_encode([(q, m[0], m[1], k)]))))
        else:
            models.append((0, 0.0))
    flat = np.concatenate([q.reshape(-1) for q in tensors]) if tensors else np.zeros(0, dtype=np.int64)
    if coder == "raw":
        return _pack_bits(tensors, bits), models
    if coder == "lzma":
        dtype = "<i1" if max(bits) <= 8 else "<i2"
        return lzma.compress(flat.astype(dtype).tobytes(), format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS), models
    if coder == "ans":
        return _ans_encode([(q.reshape(-1), f, s, k) for q, (f, s), k in zip(tensors, models, bits)]), models
    raise InputError(f"unknown coder {coder!r}; choose one of {', '.join(CODERS)}")


def decode_symbols(payload: bytes, counts: List[int], models: List[Tuple[int, float]], bits: List[int], coder: str) -> List[np.ndarray]:
    """The inverse of :func:`encode_symbols`: one int64 array per entry of ``counts``."""
    total = sum(counts)
    if coder == "raw":
        return _unpack_bits(payload, counts, bits)
    elif coder == "lzma":
        dtype = "<i1" if max(bits) <= 8 else "<i2"
        try:
            raw = lzma.decompress(payload, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
        except lzma.LZMAError as exc:
            raise InputError(f"corrupt lzma payload ({exc})") from None
        flat = np.frombuffer(raw, dtype=dtype).astype(np.int64)
        if flat.size != total:
            raise InputError(f"the payload holds {flat.size} weights, the architecture needs {total}")
    else:
        return _ans_decode(payload, [(n, f, s, k) for n, (f, s), k in zip(counts, models, bits)])
    return list(np.split(flat, np.cumsum(counts)[:-1]))


__all__ = ["CODERS", "ENTROPY_FAMILIES", "MIN_ENTROPY_SCALE", "decode_symbols", "encode_symbols"]
