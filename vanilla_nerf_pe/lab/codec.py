"""An image stored as a quantised, entropy-coded coordinate network: the ``.vnpi`` file format.

COIN (Dupont et al. 2021, "COIN: COmpression with Implicit Neural representations") keeps an
image as the float16 weights of a small SIREN. Strümpler et al. 2022 ("Implicit Neural
Representations for Image Compression") add what turns that into a codec: weights quantised per
layer to k bits, quantisation-aware fine-tuning, and entropy coding of the integer symbols. This
module does those three steps for any :class:`~vanilla_nerf_pe.lab.field.ImageField` and defines
the file they are written to.

File format, version 2 (all integers little-endian; ``f16``/``f32`` IEEE floats)::

    magic            4 bytes   b"VNPI"
    version          u8        2
    coder            u8        index into CODERS: 0 raw (k bits per symbol, packed), 1 lzma (raw
                               LZMA2 stream of one byte, or two for k > 8, per symbol), 2 ans
                               (constriction's ANS coder, a quantised Laplace or Gaussian per tensor)
    height, width    u16, u16  the image's size in pixels
    channels         u8        1 (grayscale) or 3 (RGB)
    bits             u8        k, the quantisation's bits per weight (2..16)
    bias bits        u8        the bits of the bias vectors (2..16): few numbers, but in a SIREN an
                               error in a bias is multiplied by omega_0, so they get more bits
    architecture     ARCH      the ImageFieldConfig options that shape the network (see ARCH_FORMAT)
    flags            u8        bit 0: standardised output (mean and std follow)
    [mean, std]      2 C f32   only with flag bit 0
    per tensor       u8 u8 f16 f16  the tensor's bits (2..16), entropy-model family (0 Laplace,
                               1 Gaussian), the quantisation step, the entropy model's scale; one
                               entry per parameter tensor of the network, in ``named_parameters``
                               order (the architecture fixes their number and shapes)
    payload length   u32
    checksum         u32       CRC-32 of every byte before it and of the payload
    payload          bytes

Version 1 (still read) had no bits in the tensor entries (``u8 f16 f16``): every bias vector
had the bias bits, every other tensor the bits. Version 2 lets the encoder give a tensor its own
bits: a SIREN's first layer gets ``first_layer_bits`` (see :class:`CompressConfig`).

Buffers are not stored: the Fourier matrix B is drawn again from ``fourier_seed``. Decoding
(:func:`decode_field`) rebuilds the network on the CPU in float32 from the integers and steps, so
the weights are bit-exact and, the render being on the CPU whatever GPU the machine has, so is the
decoded PNG. A file that is not one, is of another version, is truncated or fails its checksum is an
:class:`~vanilla_nerf_pe.core.errors.InputError` with a one-line message.
"""

from __future__ import annotations

import dataclasses
import lzma
import math
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.image_io import to_uint8
from vanilla_nerf_pe.core.network import NETWORK_KINDS
from vanilla_nerf_pe.lab.field import ImageField, ImageFieldConfig, pixel_grid
from vanilla_nerf_pe.lab.fit import fit, render

MAGIC = b"VNPI"
FORMAT_VERSION = 2
#: The versions :func:`decode_field` reads.
READABLE_VERSIONS: Tuple[int, ...] = (1, 2)
CODERS: Tuple[str, ...] = ("raw", "lzma", "ans")
ENTROPY_FAMILIES: Tuple[str, ...] = ("laplace", "gaussian")
#: The architecture block: kind, num_layers, width, skip-connection bit mask, pe_num_frequencies,
#: pe_include_input, pe_base_frequency, fourier_num_features, fourier_sigma, fourier_seed,
#: siren_first_omega_0, siren_hidden_omega_0, coord_scale, hash_num_levels, hash_features_per_level,
#: hash_log2_table_size, hash_base_resolution, hash_max_resolution.
ARCH_FORMAT = "<BBHHB?fHfIfffBBBHH"
_PREFIX_FORMAT = "<4sBBHHBBB"
_TENSOR_FORMAT = "<BBee"
_TENSOR_FORMAT_V1 = "<Bee"
_TAIL_FORMAT = "<II"
#: The entropy model's scale never goes below this (a tensor of zeros still has a valid model).
MIN_ENTROPY_SCALE = 0.1


# --------------------------------------------------------------------------
# Quantisation
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Architecture block and field reconstruction
# --------------------------------------------------------------------------


def _f32(value: float) -> float:
    return float(np.float32(value))


def pack_architecture(config: ImageFieldConfig) -> bytes:
    """The :data:`ARCH_FORMAT` block of ``config`` (its network-shaping options)."""
    if config.kind not in NETWORK_KINDS:
        raise InputError(f"kind {config.kind!r} cannot be stored; choose one of {', '.join(NETWORK_KINDS)}")
    mask = sum(1 << i for i in config.skip_connections)
    try:
        return struct.pack(
            ARCH_FORMAT,
            NETWORK_KINDS.index(config.kind), config.num_layers, config.width, mask,
            config.pe_num_frequencies, config.pe_include_input, config.pe_base_frequency,
            config.fourier_num_features, config.fourier_sigma, config.fourier_seed,
            config.siren_first_omega_0, config.siren_hidden_omega_0, config.coord_scale,
            config.hash_num_levels, config.hash_features_per_level, config.hash_log2_table_size,
            config.hash_base_resolution, config.hash_max_resolution,
        )
    except struct.error as exc:
        raise InputError(f"the architecture does not fit the file format ({exc})") from None


def unpack_architecture(block: bytes) -> ImageFieldConfig:
    """The :class:`ImageFieldConfig` an :data:`ARCH_FORMAT` block describes (fitting options at their defaults)."""
    (kind, layers, width, mask, pe_l, pe_in, pe_base, ff_m, ff_sigma, ff_seed, omega_first, omega_hidden, scale,
     hash_levels, hash_features, hash_log2, hash_base, hash_max) = struct.unpack(ARCH_FORMAT, block)
    if kind >= len(NETWORK_KINDS):
        raise InputError(f"unknown network kind {kind} in the file")
    return ImageFieldConfig(
        kind=NETWORK_KINDS[kind], num_layers=layers, width=width,
        skip_connections=tuple(i for i in range(16) if mask >> i & 1),
        pe_num_frequencies=pe_l, pe_include_input=pe_in, pe_base_frequency=pe_base,
        fourier_num_features=ff_m, fourier_sigma=ff_sigma, fourier_seed=ff_seed,
        siren_first_omega_0=omega_first, siren_hidden_omega_0=omega_hidden, coord_scale=scale,
        hash_num_levels=hash_levels, hash_features_per_level=hash_features, hash_log2_table_size=hash_log2,
        hash_base_resolution=hash_base, hash_max_resolution=hash_max,
    )


def storable_config(config: ImageFieldConfig) -> ImageFieldConfig:
    """``config`` with its architecture as the file stores it (floats rounded to float32), so the
    network the encoder fine-tunes is the one the decoder rebuilds."""
    stored = unpack_architecture(pack_architecture(config))
    shaped = {f.name: getattr(stored, f.name) for f in dataclasses.fields(stored) if f.name not in ("lr", "lr_final", "steps", "batch_pixels", "seed", "standardize")}
    return dataclasses.replace(config, **shaped)


def network_parameters(model: ImageField) -> List[Tuple[str, Tensor]]:
    """The tensors the file stores, in order: ``model.network``'s parameters."""
    return list(model.network.named_parameters())


# --------------------------------------------------------------------------
# Entropy coding of the integer symbols
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------


@dataclass
class EncodedImage:
    """What :func:`encode_field` wrote and what :func:`decode_field` read back."""

    data: bytes
    """the whole file."""
    height: int
    width: int
    channels: int
    bits: int
    """bits of the weight tensors (and hash tables)."""
    bias_bits: int
    """bits of the bias vectors."""
    coder: str
    config: ImageFieldConfig
    """the architecture (fitting options at their defaults when decoded)."""
    steps: List[float]
    """the quantisation step of each stored tensor."""
    symbols: List[np.ndarray]
    """the integer symbols of each stored tensor, in their shapes."""
    header_bytes: int = 0
    """bytes before the payload (everything but the coded weights)."""
    tensor_bits: List[int] = dataclasses.field(default_factory=list)
    """the bits of each stored tensor."""

    @property
    def bpp(self) -> float:
        """Bits per pixel of the whole file, header included."""
        return 8.0 * len(self.data) / (self.height * self.width)


def tensor_bits(names: List[str], bits: int, bias_bits: int, first_layer_bits: Optional[int] = None) -> List[int]:
    """The bits of each stored tensor: ``bias_bits`` for a bias vector (a name ending in ``bias``),
    ``first_layer_bits`` (when given) for the first weight matrix of the MLP (``mlp.`` in its name),
    ``bits`` otherwise."""
    per_tensor = [bias_bits if name.endswith("bias") else bits for name in names]
    if first_layer_bits is not None:
        first = next((i for i, name in enumerate(names) if "mlp." in name and name.endswith("weight")), None)
        if first is not None:
            per_tensor[first] = first_layer_bits
    return per_tensor


def model_tensor_bits(model: ImageField, bits: int, bias_bits: Optional[int] = None, first_layer_bits: Optional[int] = None) -> List[int]:
    """:func:`tensor_bits` of ``model``'s :func:`network_parameters`: ``bias_bits`` defaults to
    ``bits``, and ``first_layer_bits`` applies to a SIREN only (only a sine layer multiplies its input
    weights by omega_0; other kinds keep ``bits`` there). Every bit count is checked (2..16)."""
    bias_bits = bits if bias_bits is None else bias_bits
    first_layer_bits = first_layer_bits if model.config.kind == "siren" else None
    for k in (bits, bias_bits) + (() if first_layer_bits is None else (first_layer_bits,)):
        max_symbol(k)
    return tensor_bits([name for name, _ in network_parameters(model)], bits, bias_bits, first_layer_bits)


def encode_field(model: ImageField, height: int, width: int, bits: int, coder: str = "ans", bias_bits: Optional[int] = None,
                 first_layer_bits: Optional[int] = None) -> EncodedImage:
    """Quantise every parameter tensor of ``model`` to ``bits`` bits, its bias vectors to ``bias_bits``
    (default: ``bits``) and a SIREN's first weight matrix to ``first_layer_bits`` (default: ``bits``),
    each tensor with its own step, and write the file.

    The architecture must be :func:`storable_config` already (the encoder checks that the decoder
    would rebuild the same network shapes).
    """
    if coder not in CODERS:
        raise InputError(f"unknown coder {coder!r}; choose one of {', '.join(CODERS)}")
    if not (1 <= height < 2**16 and 1 <= width < 2**16):
        raise InputError(f"image size {width}x{height} does not fit the file format (1..65535)")
    bias_bits = bits if bias_bits is None else bias_bits
    config = model.config
    arch = pack_architecture(config)
    tensors = network_parameters(model)
    per_tensor = model_tensor_bits(model, bits, bias_bits, first_layer_bits)
    steps = [quantization_step(p, k) for (_, p), k in zip(tensors, per_tensor)]
    symbols = [quantize(p, s, k).cpu().numpy() for (_, p), s, k in zip(tensors, steps, per_tensor)]
    payload, models = encode_symbols([q.reshape(-1) for q in symbols], per_tensor, coder)
    standardized = not (torch.all(model.mean == 0) and torch.all(model.std == 1))
    header = struct.pack(_PREFIX_FORMAT, MAGIC, FORMAT_VERSION, CODERS.index(coder), height, width, model.channels, bits, bias_bits) + arch
    header += struct.pack("<B", int(standardized))
    if standardized:
        header += struct.pack(f"<{2 * model.channels}f", *model.mean.tolist(), *model.std.tolist())
    for k, step, (family, scale) in zip(per_tensor, steps, models):
        header += struct.pack(_TENSOR_FORMAT, k, family, step, scale)
    header += struct.pack("<I", len(payload))
    checksum = zlib.crc32(payload, zlib.crc32(header))
    header += struct.pack("<I", checksum)
    return EncodedImage(header + payload, height, width, model.channels, bits, bias_bits, coder, config, steps, symbols, len(header), per_tensor)


class _Reader:
    """Reads the file front to back; running off its end is a "truncated" :class:`InputError`."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise InputError("truncated file (the header ends early)")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values


def decode_field(data: bytes) -> Tuple[ImageField, EncodedImage]:
    """Rebuild the field a ``.vnpi`` file holds: ``(model in eval mode on the CPU, what was read)``.

    Raises :class:`InputError` (one line) for a foreign, truncated, corrupt or newer file.
    """
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise InputError("not a vnp-image compressed file (wrong magic bytes)")
    reader = _Reader(data)
    _, version, coder_id, height, width, channels, bits, bias_bits = reader.take(_PREFIX_FORMAT)
    if version not in READABLE_VERSIONS:
        raise InputError(f"file format version {version}; this vnp-image reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    if coder_id >= len(CODERS) or channels not in (1, 3) or not (2 <= bits <= 16 and 2 <= bias_bits <= 16) or height < 1 or width < 1:
        raise InputError("corrupt header (coder, size, channels or bits out of range)")
    config = unpack_architecture(bytes(reader.take(f"<{struct.calcsize(ARCH_FORMAT)}s")[0]))
    (flags,) = reader.take("<B")
    mean_std = reader.take(f"<{2 * channels}f") if flags & 1 else None
    try:
        config.check()
        with torch.random.fork_rng(devices=[]):
            model = ImageField(config, channels)
    except (InputError, ValueError, RuntimeError) as exc:
        raise InputError(f"corrupt header (the architecture does not build: {str(exc).splitlines()[0]})") from None
    tensors = network_parameters(model)
    names = [name for name, _ in tensors]
    if version == 1:
        entries = [(k,) + reader.take(_TENSOR_FORMAT_V1) for k in tensor_bits(names, bits, bias_bits)]
    else:
        entries = [reader.take(_TENSOR_FORMAT) for _ in tensors]
        if not all(2 <= k <= 16 for k, _, _, _ in entries):
            raise InputError("corrupt header (a tensor's bits out of range)")
    (payload_length,) = reader.take("<I")
    header_end = reader.pos
    (checksum,) = reader.take("<I")
    payload = data[reader.pos :]
    if len(payload) < payload_length:
        raise InputError(f"truncated file ({len(payload)} of {payload_length} payload bytes)")
    if len(payload) > payload_length:
        raise InputError(f"corrupt file ({len(payload) - payload_length} bytes after the payload)")
    if zlib.crc32(payload, zlib.crc32(data[:header_end])) != checksum:
        raise InputError("corrupt file (checksum mismatch)")
    coder = CODERS[coder_id]
    counts = [p.numel() for _, p in tensors]
    per_tensor = [k for k, _, _, _ in entries]
    symbols = decode_symbols(payload, counts, [(f, s) for _, f, _, s in entries], per_tensor, coder)
    steps = [float(step) for _, _, step, _ in entries]
    with torch.no_grad():
        for (_, param), q, step in zip(tensors, symbols, steps):
            param.copy_(dequantize(torch.from_numpy(q).reshape(param.shape), step))
        if mean_std is not None:
            model.mean.copy_(torch.tensor(mean_std[:channels]))
            model.std.copy_(torch.tensor(mean_std[channels:]))
    model.eval()
    shaped = [q.reshape(p.shape) for q, (_, p) in zip(symbols, tensors)]
    return model, EncodedImage(data, height, width, channels, bits, bias_bits, coder, config, steps, shaped, header_end + 4, per_tensor)


def decode_image(data: bytes) -> np.ndarray:
    """The decoded image of a ``.vnpi`` file: ``[H, W, C]`` uint8, rendered on the CPU."""
    model, encoded = decode_field(data)
    return to_uint8(render(model, encoded.height, encoded.width))


def read_file(path: Path) -> bytes:
    """The bytes of ``path``; a missing or unreadable file is an :class:`InputError` naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------
# Compression: architecture for the rate, fit, quantisation-aware fine-tuning
# --------------------------------------------------------------------------


@dataclass
class CompressConfig:
    """How ``vnp-image compress`` turns an image into a ``.vnpi`` file."""

    bpp: float = 0.3
    """target bits per pixel of the whole file; sizes the network (see :func:`architecture_for_rate`)."""
    bits: int = 8
    """k: bits per quantised weight (2..16)."""
    bias_bits: int = 12
    """bits per quantised bias (2..16): a SIREN's bias errors are multiplied by omega_0 (see README)."""
    first_layer_bits: int = 12
    """bits of a SIREN's first weight matrix (2..16): omega_0 times its weights are the network's
    frequencies, and an 8-bit step there costs more than all the other weights together (README)."""
    coder: str = "best"
    """entropy coder of the symbols: ans, lzma, raw, or best (the smallest of the three)."""
    kind: str = "siren"
    """network kind (COIN: siren)."""
    siren_first_omega_0: float = 15.0
    """a SIREN's omega_0 of the first layer (its initial frequency range; Sitzmann et al. and COIN:
    30). On the shipped 256x256 crops 15 fits 0.4 to 0.9 dB better than 30 (README)."""
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
    0 by default: with the first layer at --first-layer-bits it did not pay (README)."""
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
        if self.kind not in NETWORK_KINDS:
            raise InputError(f"--kind {self.kind!r}: choose one of {', '.join(NETWORK_KINDS)}")
        if self.steps < 0 or self.qat_steps < 0:
            raise InputError("--steps and --qat-steps must be >= 0")
        if not self.expected_bits_per_weight > 0:
            raise InputError("--expected-bits-per-weight must be > 0")


def siren_parameter_count(num_layers: int, width: int, channels: int, in_dim: int = 2) -> int:
    """Parameters of ``Siren(in_dim, num_layers, width, channels)``: the first layer, the hidden
    layers and the output layer, weights and biases."""
    return (in_dim + 1) * width + (num_layers - 1) * (width + 1) * width + (width + 1) * channels


def header_bytes(num_tensors: int, channels: int = 3, standardized: bool = False) -> int:
    """Bytes of a version-2 header (everything before the payload) for a network of
    ``num_tensors`` parameter tensors."""
    return (struct.calcsize(_PREFIX_FORMAT) + struct.calcsize(ARCH_FORMAT) + 1 + (8 * channels if standardized else 0)
            + num_tensors * struct.calcsize(_TENSOR_FORMAT) + struct.calcsize(_TAIL_FORMAT))


def architecture_for_rate(height: int, width: int, channels: int, bpp: float, expected_bits_per_weight: float) -> Tuple[int, int]:
    """``(num_layers, width)`` of a SIREN whose file is about ``bpp`` bits per pixel.

    The weight budget is ``(bpp H W - header bits) / expected_bits_per_weight``. Its shape follows
    COIN's architectures (Dupont et al. 2021, appendix A: 5x20 to 13x49, width about three times the
    depth): depth ``round((budget / 9)^(1/3))`` in 2..16, then the widest width within the budget
    left by that depth's header (:func:`header_bytes`, 2 (depth + 1) tensors).
    """
    total_bits = bpp * height * width
    rough = (total_bits - 8 * header_bytes(22, channels)) / expected_bits_per_weight  # the header of a 10-layer network
    depth = int(min(16, max(2, round((max(rough, 1.0) / 9.0) ** (1.0 / 3.0)))))
    budget = (total_bits - 8 * header_bytes(2 * (depth + 1), channels)) / expected_bits_per_weight
    best = 1
    for w in range(1, 1024):
        if siren_parameter_count(depth, w, channels) > budget:
            break
        best = w
    return depth, best


def quantization_aware_finetune(model: ImageField, image: Tensor, bits: int, steps: int, lr: float, chunk: int = 65536,
                                bias_bits: Optional[int] = None, first_layer_bits: Optional[int] = None) -> None:
    """Fine-tune ``model`` in place so that its ``bits``-bit quantised weights (``bias_bits`` for the
    biases, default ``bits``; ``first_layer_bits`` for a SIREN's first layer) fit ``image``.

    Full-image Adam steps on the MSE of the network run with :func:`fake_quantize`d parameters (the
    straight-through estimator: the gradient reaches the float weights as if quantisation were the
    identity; Strümpler et al. 2022, sec. 3.2).
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
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        quantised = {name: fake_quantize(p, k) for name, p, k in zip(names, params, per_tensor)}
        for i in range(0, coords.shape[0], chunk):
            pred = torch.func.functional_call(model, quantised, (coords[i : i + chunk],))
            loss = ((pred - target[i : i + chunk]) ** 2).sum() / target.numel()
            loss.backward(retain_graph=i + chunk < coords.shape[0])
        optimizer.step()
    model.eval()


@dataclass
class CompressResult:
    encoded: EncodedImage
    coder_bytes: Dict[str, int]
    """the file's size with each coder (the file keeps the chosen one)."""
    psnr: float
    """PSNR of the decoded file against the image (8-bit decoded image)."""
    psnr_float: float
    """PSNR of the float network before quantisation."""
    encode_seconds: float
    decode_seconds: float


def compress_image(image: Tensor, config: CompressConfig, device: str = "cpu") -> CompressResult:
    """Fit, fine-tune for quantisation, and encode ``image [H, W, C]``; the PSNR is the decoded file's."""
    from vanilla_nerf_pe.core.metrics import psnr

    config.check()
    H, W, C = image.shape
    start = time.perf_counter()
    depth, width = architecture_for_rate(H, W, C, config.bpp, config.expected_bits_per_weight)
    field_config = storable_config(
        ImageFieldConfig(
            kind=config.kind,
            siren_first_omega_0=config.siren_first_omega_0,
            num_layers=config.num_layers or depth,
            width=config.width or width,
            lr=config.lr,
            lr_final=config.lr_final,
            steps=config.steps,
            seed=config.seed,
        )
    )
    result = fit(image, field_config, eval_every=max(config.steps, 1), device=device)
    psnr_float = result.final_psnr
    quantization_aware_finetune(result.model, image, config.bits, config.qat_steps, config.qat_lr, bias_bits=config.bias_bits,
                                first_layer_bits=config.first_layer_bits)
    model = result.model.cpu()
    coders = CODERS if config.coder == "best" else (config.coder,)
    encodings = {coder: encode_field(model, H, W, config.bits, coder, bias_bits=config.bias_bits, first_layer_bits=config.first_layer_bits)
                 for coder in coders}
    encoded = min(encodings.values(), key=lambda e: len(e.data))
    encode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decode_image(encoded.data)
    decode_seconds = time.perf_counter() - start
    score = float(psnr(torch.from_numpy(decoded).double() / 255.0, (torch.from_numpy(to_uint8(image)).double() / 255.0)))
    return CompressResult(encoded, {c: len(e.data) for c, e in encodings.items()}, score, psnr_float, encode_seconds, decode_seconds)


#: What the rate search assumes before it has two points of its own: dB gained per doubling of
#: the rate (SIREN files of the shipped photographs at 0.15 and 0.3 bpp: about 2.3).
DB_PER_RATE_DOUBLING = 2.5


@dataclass
class PsnrSearch:
    best: CompressResult
    """the smallest file that reached the target, else the one of the highest PSNR."""
    tries: List[Tuple[float, float]]
    """(bpp of the file, decoded PSNR) of every fit, in order."""
    reached: bool


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


def compress_to_psnr(image: Tensor, config: CompressConfig, target: float, device: str = "cpu", compress=None) -> PsnrSearch:
    """The smallest file whose decoded PSNR reaches ``target`` dB that a search of at most
    ``config.psnr_tries`` fits finds: the first at ``config.bpp``, then :func:`next_rate`, moved on
    by 5 % steps where it would size a network already tried (:func:`architecture_for_rate` has a
    granularity of one unit of width). The search stops once a file reaches the target within
    0.25 dB, or when the next network is one already tried. ``compress(image, config)`` defaults to
    :func:`compress_image` on ``device``."""
    if config.num_layers is not None or config.width is not None:
        raise InputError("--psnr searches the network's size: leave --num-layers and --width unset")
    compress = compress or (lambda img, cfg: compress_image(img, cfg, device=device))
    H, W, C = image.shape

    def shape(rate: float) -> Tuple[int, int]:
        return architecture_for_rate(H, W, C, rate, config.expected_bits_per_weight)

    results: List[CompressResult] = []
    shapes: List[Tuple[int, int]] = []
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
        if shape(wanted) in shapes:
            break
        rate = wanted
    reached = [r for r in results if r.psnr >= target]
    best = min(reached, key=lambda r: len(r.encoded.data)) if reached else max(results, key=lambda r: r.psnr)
    return PsnrSearch(best, [(r.encoded.bpp, r.psnr) for r in results], bool(reached))


__all__ = [
    "ARCH_FORMAT",
    "CODERS",
    "CompressConfig",
    "CompressResult",
    "EncodedImage",
    "FORMAT_VERSION",
    "MAGIC",
    "architecture_for_rate",
    "header_bytes",
    "compress_image",
    "compress_to_psnr",
    "next_rate",
    "decode_field",
    "decode_image",
    "dequantize",
    "encode_field",
    "fake_quantize",
    "quantization_aware_finetune",
    "quantization_step",
    "quantize",
    "siren_parameter_count",
    "storable_config",
]
