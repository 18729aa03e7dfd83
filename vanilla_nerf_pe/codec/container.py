"""An image stored as a quantised, entropy-coded coordinate network: the ``.vnpi`` file format.

COIN (Dupont et al. 2021, "COIN: COmpression with Implicit Neural representations") keeps an
image as the float16 weights of a small SIREN. Strümpler et al. 2022 ("Implicit Neural
Representations for Image Compression") add what turns that into a codec: weights quantised per
layer to k bits, quantisation-aware fine-tuning, and entropy coding of the integer symbols. This
package does those three steps for any :class:`~vanilla_nerf_pe.image.field.ImageField`; this
module defines the file they are written to.

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

Version 3 (:mod:`~vanilla_nerf_pe.codec.latent_file`, written by ``--kind latent``) holds a
latent-grid image instead of a network of the lab: :func:`decode_image` reads all three versions,
:func:`decode_field` versions 1 and 2 (a version-3 file has no :class:`ImageField`).

Buffers are not stored: the Fourier matrix B is drawn again from ``fourier_seed``. Decoding
(:func:`decode_field`) rebuilds the network on the CPU in float32 from the integers and steps, so
the weights are bit-exact and, the render being on the CPU whatever GPU the machine has, so is the
decoded PNG. A file that is not one, is of another version, is truncated or fails its checksum is an
:class:`~vanilla_nerf_pe.core.errors.InputError` with a one-line message.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from vanilla_nerf_pe.codec.entropy import CODERS, decode_symbols, encode_symbols
from vanilla_nerf_pe.codec.latent_file import LATENT_VERSIONS, decode_latent_image
from vanilla_nerf_pe.codec.quantize import dequantize, max_symbol, quantization_step, quantize
from vanilla_nerf_pe.codec.file_reader import FileReader
from vanilla_nerf_pe.core.errors import InputError, VanillaNeRFError
from vanilla_nerf_pe.core.image_io import to_uint8
from vanilla_nerf_pe.core.network import NETWORK_KINDS
from vanilla_nerf_pe.image.field import ImageField, ImageFieldConfig
from vanilla_nerf_pe.image.fit import render

MAGIC = b"VNPI"
FORMAT_VERSION = 2
#: The versions :func:`decode_field` reads (:func:`decode_image` reads version 3 too).
READABLE_VERSIONS: Tuple[int, ...] = (1, 2)
#: The versions :func:`decode_image` reads.
IMAGE_VERSIONS: Tuple[int, ...] = READABLE_VERSIONS + LATENT_VERSIONS
#: The architecture block: kind, num_layers, width, skip-connection bit mask, pe_num_frequencies,
#: pe_include_input, pe_base_frequency, fourier_num_features, fourier_sigma, fourier_seed,
#: siren_first_omega_0, siren_hidden_omega_0, coord_scale, hash_num_levels, hash_features_per_level,
#: hash_log2_table_size, hash_base_resolution, hash_max_resolution.
ARCH_FORMAT = "<BBHHB?fHfIfffBBBHH"
_PREFIX_FORMAT = "<4sBBHHBBB"
_TENSOR_FORMAT = "<BBee"
_TENSOR_FORMAT_V1 = "<Bee"
_TAIL_FORMAT = "<II"


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


def decode_field(data: bytes) -> Tuple[ImageField, EncodedImage]:
    """Rebuild the field a ``.vnpi`` file holds: ``(model in eval mode on the CPU, what was read)``.

    Raises :class:`InputError` (one line) for a foreign, truncated, corrupt or newer file.
    """
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise InputError("not a vnp-image compressed file (wrong magic bytes)")
    reader = FileReader(data)
    _, version, coder_id, height, width, channels, bits, bias_bits = reader.take(_PREFIX_FORMAT)
    if version in LATENT_VERSIONS:
        raise InputError(f"file format version {version} holds a latent-grid image, not a network of the lab (decode it with decode_image)")
    if version not in READABLE_VERSIONS:
        raise InputError(f"file format version {version}; this vnp-image reads versions {', '.join(map(str, IMAGE_VERSIONS))}")
    if coder_id >= len(CODERS) or channels not in (1, 3) or not (2 <= bits <= 16 and 2 <= bias_bits <= 16) or height < 1 or width < 1:
        raise InputError("corrupt header (coder, size, channels or bits out of range)")
    config = unpack_architecture(bytes(reader.take(f"<{struct.calcsize(ARCH_FORMAT)}s")[0]))
    (flags,) = reader.take("<B")
    mean_std = reader.take(f"<{2 * channels}f") if flags & 1 else None
    try:
        config.check()
        with torch.random.fork_rng(devices=[]):
            model = ImageField(config, channels)
    except (VanillaNeRFError, RuntimeError) as exc:  # RuntimeError: torch's initialisers refuse some corrupt values (omega_0 < 0)
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
    """The decoded image of a ``.vnpi`` file of any version: ``[H, W, C]`` uint8, rendered on the CPU."""
    if data[: len(MAGIC)] == MAGIC and len(data) > len(MAGIC) and data[len(MAGIC)] in LATENT_VERSIONS:
        return decode_latent_image(data)
    model, encoded = decode_field(data)
    return to_uint8(render(model, encoded.height, encoded.width))


def read_file(path: Path) -> bytes:
    """The bytes of ``path``; a missing or unreadable file is an :class:`InputError` naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def header_bytes(num_tensors: int, channels: int = 3, standardized: bool = False) -> int:
    """Bytes of a version-2 header (everything before the payload) for a network of
    ``num_tensors`` parameter tensors."""
    return (struct.calcsize(_PREFIX_FORMAT) + struct.calcsize(ARCH_FORMAT) + 1 + (8 * channels if standardized else 0)
            + num_tensors * struct.calcsize(_TENSOR_FORMAT) + struct.calcsize(_TAIL_FORMAT))


__all__ = [
    "ARCH_FORMAT",
    "EncodedImage",
    "FORMAT_VERSION",
    "IMAGE_VERSIONS",
    "MAGIC",
    "READABLE_VERSIONS",
    "decode_field",
    "decode_image",
    "encode_field",
    "header_bytes",
    "model_tensor_bits",
    "network_parameters",
    "pack_architecture",
    "read_file",
    "storable_config",
    "tensor_bits",
    "unpack_architecture",
]
