"""Versions 3 and 4 of the ``.vnpi`` file: a latent-grid image (:mod:`~vanilla_nerf_pe.codec.latent`).

File format, version 4 (all integers little-endian; ``f16`` an IEEE half float)::

    magic            4 bytes   b"VNPI" (as versions 1 and 2)
    version          u8        4
    channels         u8        1 or 3
    height, width    u16, u16  the image's size in pixels
    levels           u8        K, the latent grids (ceil(H/2^k) x ceil(W/2^k), k = 0..K-1)
    synthesis        u8 n, n u8  the synthesis MLP's hidden widths
    refinement       u8        residual blocks of two 3x3 convolutions after the synthesis MLP
    context model    u8 n, n u8  the auto-regressive model's hidden widths
    context          u8        the neighbours the context model reads: their index in
                               :data:`~vanilla_nerf_pe.codec.latent.CONTEXTS` (0 ten, 1 c3-12, 2 c3-24)
    half-width       u8        D: the latent symbols are offsets -D..D from the predicted mean's base
    per tensor       u8 i8 u8 f16  bits (the symbols' range, 2..16), power-of-two step exponent e
                               (step 2^e), entropy family (0 Laplace, 1 Gaussian), entropy scale; one
                               entry per network tensor: synthesis MLP, refinement convolutions, then
                               context model, each layer's weight then bias
    weights length   u32       bytes of the weights' ANS stream
    latents length   u32       bytes of the latents' ANS stream
    checksum         u32       CRC-32 of every byte before it and of both streams
    weights          bytes     constriction ANS stream of the integer weights (a quantised Laplace or
                               Gaussian per tensor, as versions 1 and 2)
    latents          bytes     constriction ANS stream of the latents, in wavefront order

Version 3 is version 4 without the context byte: its context model reads the ten neighbours of
:data:`~vanilla_nerf_pe.codec.latent.VERSION3_CONTEXT` (``context`` 0).

The latents are decoded grid-interleaved along wavefronts ``t = j + s i`` (every neighbour of the
context model has a smaller ``t``; :func:`wavefront_order`): for each ``t``, every grid's latents of
that ``t``, row by row. Each latent's probabilities come from the integer context model and the
integer CDF tables of :mod:`~vanilla_nerf_pe.codec.fixed_point`, so the decoder sees the encoder's
probabilities bit for bit on any machine and thread count. The synthesis then runs in float32 on the
CPU. Errors are one-line :class:`~vanilla_nerf_pe.core.errors.InputError` s, as for versions 1 and 2.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np
import torch

from vanilla_nerf_pe.codec.entropy import decode_symbols, encode_symbols
from vanilla_nerf_pe.codec.fixed_point import (
    LATENT_LIMIT, IntegerLayer, IntegerMLP, cdf_tables, distribution_indices, integer_mlp, pow2_dequantize, pow2_quantize,
    probability_tables, table_probabilities,
)
from vanilla_nerf_pe.codec.latent import CONTEXTS, CausalContext, LatentConfig, LatentImage, grid_shapes, network_tensors
from vanilla_nerf_pe.codec.file_reader import FileReader
from vanilla_nerf_pe.core.errors import InputError, VanillaNeRFError
from vanilla_nerf_pe.core.image_io import to_uint8

LATENT_FORMAT_VERSION = 4
#: The latent-grid versions :func:`decode_latent` reads.
LATENT_VERSIONS: Tuple[int, ...] = (3, 4)
_MAGIC = b"VNPI"  # container.MAGIC (a test checks they agree; this module does not import the container)
_PREFIX = "<4sBBHHB"
_TENSOR = "<BbBe"
_TAIL = "<III"
#: Symbols per call of the ANS encoder (bounds the encoder's probability arrays).
_ENCODE_CHUNK = 1 << 15


@dataclass
class EncodedLatent:
    """What :func:`encode_latent` wrote and :func:`decode_latent` read back."""

    data: bytes
    height: int
    width: int
    channels: int
    config: LatentConfig
    """the architecture (levels and widths; the fitting options at their defaults when decoded)."""
    latents: List[np.ndarray]
    """the integer latents of each grid, ``[h_k, w_k]`` int64."""
    weights: Dict[str, np.ndarray]
    """the integer symbols of each network tensor."""
    exponents: Dict[str, int]
    """the power-of-two step exponent of each network tensor."""
    half_width: int
    header_bytes: int = 0
    weight_bytes: int = 0
    latent_bytes: int = 0
    coder: str = "ans"
    tensor_bits: List[int] = field(default_factory=list)

    @property
    def bpp(self) -> float:
        return 8.0 * len(self.data) / (self.height * self.width)


# --------------------------------------------------------------------------
# Wavefront order
# --------------------------------------------------------------------------


@dataclass
class WavefrontOrder:
    """Where each latent lives in the decoder's padded buffer and in which order it is coded."""

    positions: np.ndarray
    """``[N]`` the buffer index of each latent, in coding order."""
    neighbours: np.ndarray
    """``[N, T]`` the buffer indices of its context (padding cells stay 0)."""
    groups: np.ndarray
    """``[G + 1]`` boundaries of the wavefronts in the coding order (one decoder step each)."""
    grid_slices: List[Tuple[int, int, int, int]]
    """per grid ``(offset, h, w, padded width)`` in the buffer."""
    size: int
    """the buffer's length."""
    top: int
    """rows of padding above each grid."""
    left: int
    """columns of padding left of each grid."""


def wavefront_order(shapes: List[Tuple[int, int]], context: CausalContext) -> WavefrontOrder:
    """The coding order of grids of ``shapes`` under ``context``: by wavefront ``t = j + s i`` (``s``
    the context's :attr:`~CausalContext.slope`), then grid, then row; each grid is padded by the
    context's :attr:`~CausalContext.padding` in one buffer (the rows below need none)."""
    top, left, right = context.padding
    positions, neighbours, keys, slices = [], [], [], []
    offset = 0
    rows = max(h for h, _ in shapes)
    for k, (h, w) in enumerate(shapes):
        pw = w + left + right
        i = np.repeat(np.arange(h), w)
        j = np.tile(np.arange(w), h)
        position = offset + (i + top) * pw + j + left
        positions.append(position)
        neighbours.append(position[:, None] + np.array([di * pw + dj for di, dj in context.offsets])[None, :])
        keys.append(((j + context.slope * i) * len(shapes) + k) * rows + i)
        slices.append((offset, h, w, pw))
        offset += (h + top) * pw
    key = np.concatenate(keys)
    order = np.argsort(key, kind="stable")
    t = key[order] // (len(shapes) * rows)
    groups = np.concatenate([[0], np.flatnonzero(np.diff(t)) + 1, [t.size]])
    return WavefrontOrder(np.concatenate(positions)[order], np.concatenate(neighbours)[order], groups, slices, offset, top, left)


def grid_view(buffer: np.ndarray, order: WavefrontOrder, k: int) -> np.ndarray:
    """Grid k's latents inside ``buffer`` (a view, ``[h_k, w_k]``)."""
    offset, h, w, pw = order.grid_slices[k]
    return buffer[offset : offset + (h + order.top) * pw].reshape(h + order.top, pw)[order.top :, order.left : order.left + w]


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------


def _integer_layers(weights: Dict[str, np.ndarray], exponents: Dict[str, int], prefix: str) -> List[IntegerLayer]:
    layers, i = [], 0
    while f"{prefix}.{i}.weight" in weights:
        w, b = f"{prefix}.{i}.weight", f"{prefix}.{i}.bias"
        layers.append(IntegerLayer(weights[w], exponents[w], weights[b], exponents[b]))
        i += 1
    return layers


def _architecture(config: LatentConfig) -> bytes:
    return struct.pack(f"<B{len(config.synthesis_widths)}B", len(config.synthesis_widths), *config.synthesis_widths) + \
        struct.pack("<B", config.refine_blocks) + struct.pack(f"<B{len(config.arm_widths)}B", len(config.arm_widths), *config.arm_widths) + \
        struct.pack("<B", list(CONTEXTS).index(config.context))


def header_bytes(config: LatentConfig, channels: int) -> int:
    """Bytes of the version-4 header (checksum included) of ``config``'s architecture: what a file
    holds besides its two streams."""
    return (struct.calcsize(_PREFIX) + len(_architecture(config)) + 1 + struct.calcsize(_TENSOR) * len(_tensor_shapes(config, channels))
            + struct.calcsize(_TAIL))


def encode_latent(model: LatentImage, exponents: Dict[str, int]) -> EncodedLatent:
    """The version-4 file of ``model``: its latents rounded to integers, its network tensors (already
    on their power-of-two grids) as the integers of ``exponents``' steps."""
    H, W, C = model.height, model.width, model.channels
    if not (1 <= H < 2**16 and 1 <= W < 2**16):
        raise InputError(f"image size {W}x{H} does not fit the file format (1..65535)")
    tensors = network_tensors(model)
    weights = {name: pow2_quantize(t, exponents[name]) for name, t in tensors.items()}
    bits = [max(2, int(np.abs(q).max(initial=0)).bit_length() + 1) for q in weights.values()]
    if max(bits) > 16:
        raise InputError("a network weight does not fit 16 bits at its step")
    weight_payload, models = encode_symbols([q.reshape(-1) for q in weights.values()], bits, "ans")

    shapes = grid_shapes(H, W, model.config.levels)
    order = wavefront_order(shapes, model.context)
    buffer = np.zeros(order.size, dtype=np.int64)
    grids = [torch.round(g.detach().clamp(-LATENT_LIMIT, LATENT_LIMIT)).long().numpy() for g in model.latents]
    for k, grid in enumerate(grids):
        grid_view(buffer, order, k)[...] = grid
    base, r, s = distribution_indices(integer_mlp(buffer[order.neighbours], _integer_layers(weights, exponents, "arm")))
    offsets = buffer[order.positions] - base
    half_width = max(1, int(np.abs(offsets).max(initial=0)))
    if half_width > 255:
        raise InputError(f"latents too far from the context model's prediction to store (offset {half_width})")
    tables = cdf_tables(half_width)
    symbols = (offsets + half_width).astype(np.int32)
    import constriction

    coder = constriction.stream.stack.AnsCoder()
    family = constriction.stream.model.Categorical(perfect=False)
    for start in reversed(range(0, symbols.size, _ENCODE_CHUNK)):
        chunk = slice(start, start + _ENCODE_CHUNK)
        coder.encode_reverse(symbols[chunk], family, table_probabilities(tables, r[chunk], s[chunk]))
    latent_payload = coder.get_compressed().astype("<u4").tobytes()

    header = struct.pack(_PREFIX, _MAGIC, LATENT_FORMAT_VERSION, C, H, W, model.config.levels) + _architecture(model.config)
    header += struct.pack("<B", half_width)
    for name, k, (fam, scale) in zip(weights, bits, models):
        header += struct.pack(_TENSOR, k, exponents[name], fam, scale)
    header += struct.pack("<II", len(weight_payload), len(latent_payload))
    checksum = zlib.crc32(weight_payload + latent_payload, zlib.crc32(header))
    header += struct.pack("<I", checksum)
    data = header + weight_payload + latent_payload
    return EncodedLatent(data, H, W, C, model.config, grids, weights, dict(exponents), half_width, len(header),
                         len(weight_payload), len(latent_payload), "ans", bits)


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------



def _tensor_shapes(config: LatentConfig, channels: int) -> List[Tuple[int, ...]]:
    """The shapes of the network tensors a header describes, in file order (without building them)."""
    def dense(n_in: int, widths: Tuple[int, ...], n_out: int) -> List[Tuple[int, ...]]:
        dims = [n_in, *widths, n_out]
        return [shape for a, b in zip(dims, dims[1:]) for shape in ((b, a), (b,))]

    refine = [(channels, channels, 3, 3), (channels,)] * (2 * config.refine_blocks)
    return dense(config.levels, config.synthesis_widths, channels) + refine + dense(CONTEXTS[config.context].size, config.arm_widths, 2)


def decode_latent(data: bytes) -> Tuple[LatentImage, EncodedLatent]:
    """The :class:`LatentImage` of a version-3 or 4 file (eval mode, CPU, its latents the decoded integers)
    and what was read. A truncated, corrupt or foreign file is a one-line :class:`InputError`."""
    if data[: len(_MAGIC)] != _MAGIC:
        raise InputError("not a vnp-image compressed file (wrong magic bytes)")
    reader = FileReader(data)
    _, version, C, H, W, levels = reader.take(_PREFIX)
    if version not in LATENT_VERSIONS:
        raise InputError(f"file format version {version} is not a latent-grid file")
    (n,) = reader.take("<B")
    synthesis = reader.take(f"<{n}B")
    (refine_blocks,) = reader.take("<B")
    (n,) = reader.take("<B")
    arm = reader.take(f"<{n}B")
    architecture = dict(levels=levels, synthesis_widths=tuple(synthesis), refine_blocks=refine_blocks, arm_widths=tuple(arm))
    context = 0
    if version > 3:
        (context,) = reader.take("<B")
    if context >= len(CONTEXTS):
        raise InputError(f"corrupt header (context {context} of {len(CONTEXTS)})")
    config = LatentConfig(**architecture, context=list(CONTEXTS)[context])
    (half_width,) = reader.take("<B")
    shapes = _tensor_shapes(config, C)
    entries = [reader.take(_TENSOR) for _ in shapes]
    weight_length, latent_length = reader.take("<II")
    header_end = reader.pos
    (checksum,) = reader.take("<I")
    payload = data[reader.pos :]
    if len(payload) < weight_length + latent_length:
        raise InputError(f"truncated file ({len(payload)} of {weight_length + latent_length} payload bytes)")
    if len(payload) > weight_length + latent_length:
        raise InputError(f"corrupt file ({len(payload) - weight_length - latent_length} bytes after the payload)")
    if zlib.crc32(payload, zlib.crc32(data[:header_end])) != checksum:
        raise InputError("corrupt file (checksum mismatch)")
    try:
        config.check()
        if C not in (1, 3) or H < 1 or W < 1 or half_width < 1:
            raise InputError("channels, size or alphabet out of range")
        if not all(2 <= k <= 16 and family in (0, 1) for k, _, family, _ in entries) or latent_length % 4:
            raise InputError("a tensor's bits or entropy model, or the latent stream's length, out of range")
        with torch.random.fork_rng(devices=[]):
            model = LatentImage(config, H, W, C)
    except VanillaNeRFError as exc:
        raise InputError(f"corrupt header ({str(exc).splitlines()[0]})") from None
    tensors = network_tensors(model)
    counts = [t.numel() for t in tensors.values()]
    symbols = decode_symbols(payload[:weight_length], counts, [(f, s) for _, _, f, s in entries], [k for k, _, _, _ in entries], "ans")
    weights = {name: q.reshape(t.shape) for (name, t), q in zip(tensors.items(), symbols)}
    exponents = {name: e for name, (_, e, _, _) in zip(tensors, entries)}
    with torch.no_grad():
        for name, t in tensors.items():
            t.copy_(pow2_dequantize(weights[name], exponents[name]).reshape(t.shape))

    import constriction

    order = wavefront_order(grid_shapes(H, W, levels), model.context)
    context_model = IntegerMLP(_integer_layers(weights, exponents, "arm"))
    tables = probability_tables(cdf_tables(half_width))
    buffer = np.zeros(order.size, dtype=np.int64)
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(payload[weight_length:], dtype="<u4").astype(np.uint32))
    family = constriction.stream.model.Categorical(perfect=False)
    groups = order.groups
    for g in range(groups.size - 1):
        chunk = slice(groups[g], groups[g + 1])
        base, r, s = distribution_indices(context_model(buffer[order.neighbours[chunk]]))
        decoded = coder.decode(family, table_probabilities(tables, r, s))
        buffer[order.positions[chunk]] = np.minimum(np.maximum(decoded - half_width + base, -LATENT_LIMIT), LATENT_LIMIT)
    grids = [grid_view(buffer, order, k).copy() for k in range(levels)]
    with torch.no_grad():
        for parameter, grid in zip(model.latents, grids):
            parameter.copy_(torch.from_numpy(grid).float())
    model.eval()
    read = EncodedLatent(data, H, W, C, config, grids, weights, exponents, half_width, header_end + 4, weight_length, latent_length,
                         "ans", [k for k, _, _, _ in entries])
    return model, read


def render_latent(model: LatentImage) -> torch.Tensor:
    """The float image ``[H, W, C]`` of a decoded (or fitted) model's integer latents, on the CPU."""
    with torch.no_grad():
        return model.decode([torch.round(g.detach()).cpu() for g in model.latents])


def decode_latent_image(data: bytes) -> np.ndarray:
    """The decoded image of a version-3 or 4 file: ``[H, W, C]`` uint8."""
    model, _ = decode_latent(data)
    return to_uint8(render_latent(model))


__all__ = ["EncodedLatent", "LATENT_FORMAT_VERSION", "LATENT_VERSIONS", "WavefrontOrder", "decode_latent", "decode_latent_image", "encode_latent",
           "grid_view", "header_bytes", "render_latent", "wavefront_order"]
