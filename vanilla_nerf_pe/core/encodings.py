"""Coordinate encodings shared by the 3D NeRF fields and the 2D image fields.

Convention for the whole module: ``x`` is a batch of coordinates of shape ``[..., d]``, already
scaled by the caller to the range the encoding expects (``[-1, 1]`` for positional encoding);
every encoding maps it to ``[..., out_dim]`` where ``out_dim = encoding.get_out_dim()`` is known
before the first call, so MLPs can be sized at construction.

Encodings are plain ``torch.nn.Module`` objects with no nerfstudio dependency, so the image
pipeline and the NeRF fields use the very same classes; their options and defaults live in
:class:`~vanilla_nerf_pe.core.network.CoordinateNetworkConfig`.
"""

from __future__ import annotations

import math
from typing import List, Tuple

import torch
from torch import Tensor, nn

from vanilla_nerf_pe.core.errors import InputError


def positional_encoding(
    x: Tensor, num_frequencies: int, include_input: bool = True, base_frequency: float = math.pi
) -> Tensor:
    """NeRF's frequency encoding (Mildenhall et al. 2020, eq. 4).

    gamma(x) = (x, sin(2^0 pi x), cos(2^0 pi x), ..., sin(2^(L-1) pi x), cos(2^(L-1) pi x)),
    applied to each coordinate separately.

    Args:
        x: [..., d] coordinates, expected in [-1, 1].
        num_frequencies: L, the number of octaves; 0 gives the identity (with include_input).
        include_input: whether x itself is part of the output.
        base_frequency: the lowest angular frequency, pi in the paper; the octaves are
            ``base_frequency * 2^k``. 1 gives the "sin(x), sin(2x), ..., sin(2^(L-1) x)" form used
            with inputs scaled to [-pi/2, pi/2] or [-pi, pi].

    Returns:
        [..., d * (2 L + include_input)]; the layout is [x, sin(all freqs, all dims), cos(...)].
    """
    parts = [x] if include_input else []
    if num_frequencies > 0:
        freqs = (2.0 ** torch.arange(num_frequencies, dtype=x.dtype, device=x.device)) * base_frequency
        scaled = (x[..., None, :] * freqs[:, None]).flatten(-2)  # [..., L * d]
        # One sin over [scaled, scaled + pi/2] instead of a sin and a cos: one kernel, one buffer.
        both = torch.sin(torch.cat([scaled, scaled + 0.5 * math.pi], dim=-1))
        parts.append(both)
    if not parts:
        raise InputError("positional_encoding with num_frequencies=0 and include_input=False is empty")
    return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]


class PositionalEncoding(nn.Module):
    """Module form of :func:`positional_encoding`; ``num_frequencies=0`` is "no encoding"."""

    def __init__(self, in_dim: int, num_frequencies: int, include_input: bool = True, base_frequency: float = math.pi) -> None:
        super().__init__()
        if num_frequencies < 0:
            raise InputError(f"num_frequencies must be >= 0, got {num_frequencies}")
        if num_frequencies == 0 and not include_input:
            raise InputError("PositionalEncoding needs num_frequencies > 0 or include_input=True")
        self.in_dim = in_dim
        self.num_frequencies = num_frequencies
        self.include_input = include_input
        self.base_frequency = float(base_frequency)

    def get_out_dim(self) -> int:
        return self.in_dim * (2 * self.num_frequencies + int(self.include_input))

    def forward(self, x: Tensor) -> Tensor:
        return positional_encoding(x, self.num_frequencies, self.include_input, self.base_frequency)

    def extra_repr(self) -> str:
        return (
            f"in_dim={self.in_dim}, num_frequencies={self.num_frequencies}, include_input={self.include_input}, "
            f"base_frequency={self.base_frequency:.6g}"
        )


def fourier_features(x: Tensor, B: Tensor) -> Tensor:
    """Random Fourier features (Tancik et al. 2020, "Fourier Features Let Networks Learn High
    Frequency Functions in Low Dimensional Domains", sec. 4 / eq. 5 with a_j = 1).

    gamma(x) = [cos(2 pi B x), sin(2 pi B x)].

    Args:
        x: [..., d] coordinates (the paper uses [0, 1]; [-1, 1] only doubles the effective sigma).
        B: [m, d] frequency matrix.

    Returns:
        [..., 2 m]; the layout is [cos(all m), sin(all m)].
    """
    if x.shape[-1] != B.shape[-1]:
        raise InputError(f"fourier_features: x has {x.shape[-1]} coordinates but B expects {B.shape[-1]}")
    proj = 2.0 * math.pi * (x @ B.to(x.dtype).T)  # [..., m]
    return torch.cat([torch.cos(proj), torch.sin(proj)], dim=-1)


class GaussianFourierFeatures(nn.Module):
    """Module form of :func:`fourier_features` with B ~ N(0, sigma^2), shape ``[m, in_dim]``.

    B is drawn once at construction from a ``torch.Generator`` seeded with ``seed`` (so two modules
    built with the same arguments are identical) and registered as a buffer: it is part of
    ``state_dict`` and a saved model reloads with the very same features.

    Args:
        in_dim: d, the number of coordinates.
        num_features: m, the number of random frequencies (output has 2 m features).
        sigma: standard deviation of the frequencies; the paper's key hyperparameter
            (too small: blurry like no encoding; too large: noisy overfitting).
        seed: seed of the draw of B.
    """

    B: Tensor

    def __init__(self, in_dim: int, num_features: int, sigma: float, seed: int = 0) -> None:
        super().__init__()
        if num_features < 1:
            raise InputError(f"num_features must be >= 1, got {num_features}")
        if sigma < 0:
            raise InputError(f"sigma must be >= 0, got {sigma}")
        self.in_dim = in_dim
        self.num_features = num_features
        self.sigma = float(sigma)
        self.seed = seed
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("B", torch.randn(num_features, in_dim, generator=generator) * self.sigma)

    def get_out_dim(self) -> int:
        return 2 * self.num_features

    def forward(self, x: Tensor) -> Tensor:
        return fourier_features(x, self.B)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, num_features={self.num_features}, sigma={self.sigma}, seed={self.seed}"


#: Instant-NGP's spatial-hash primes (Müller et al. 2022, eq. 4; pi_1 = 1 keeps cache coherence along x).
HASH_PRIMES: Tuple[int, ...] = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)


def grid_resolutions(num_levels: int, base_resolution: int, finest_resolution: int) -> List[int]:
    """Instant-NGP's level resolutions (Müller et al. 2022, eqs. 2 and 3):
    ``N_l = floor(N_min b^l)`` with ``b = exp((ln N_max - ln N_min) / (L - 1))``; one level: ``[N_min]``."""
    if num_levels < 1 or base_resolution < 1 or finest_resolution < base_resolution:
        raise InputError(f"need num_levels >= 1 and 1 <= base <= finest resolution, got {num_levels}, {base_resolution}, {finest_resolution}")
    if num_levels == 1:
        return [base_resolution]
    growth = math.exp((math.log(finest_resolution) - math.log(base_resolution)) / (num_levels - 1))
    # The small epsilon keeps floor(N_min b^(L-1)) at N_max where rounding would land just below it.
    return [int(math.floor(base_resolution * growth**level + 1e-6)) for level in range(num_levels)]


def hash_grid_index(vertices: Tensor, resolution: int, table_size: int) -> Tensor:
    """The table row of each integer grid vertex ``[..., d]`` (entries in ``0..resolution``): ``[...]`` int64.

    A level whose ``(resolution + 1)^d`` vertices fit the table is dense, one row per vertex
    (row-major, x fastest); a finer level hashes them, ``(XOR_i v_i pi_i) mod T`` (Müller et al. 2022,
    eq. 4), and distinct vertices can collide. ``table_size`` T must be a power of two for the hash.
    """
    d = vertices.shape[-1]
    vertices = vertices.long()
    if (resolution + 1) ** d <= table_size:
        strides = torch.tensor([(resolution + 1) ** i for i in range(d)], dtype=torch.long, device=vertices.device)
        return (vertices * strides).sum(-1)
    if table_size & (table_size - 1):
        raise InputError(f"a hashed level needs a power-of-two table size, got {table_size}")
    index = torch.zeros(vertices.shape[:-1], dtype=torch.long, device=vertices.device)
    for i in range(d):
        # int64 products of vertex < 2^16 and prime < 2^32 do not overflow, and the low bits that
        # "mod T" keeps are those of the uint32 arithmetic of the paper.
        index = index ^ (vertices[..., i] * HASH_PRIMES[i])
    return index & (table_size - 1)


def hash_grid_interpolate(x: Tensor, table: Tensor, resolution: int) -> Tensor:
    """One level of the multiresolution hash encoding: d-linear interpolation of the features of the
    ``2^d`` grid vertices around each point (Müller et al. 2022, sec. 3).

    Args:
        x: ``[..., d]`` points in [0, 1] (clamped), scaled to ``x * resolution`` on the grid.
        table: ``[rows, F]`` feature vectors; ``rows = min(T, (resolution + 1)^d)``.
        resolution: N_l, cells per axis.

    Returns:
        ``[..., F]``: ``sum over corners c of prod_i (frac_i if c_i else 1 - frac_i) * table[index(c)]``.
    """
    d = x.shape[-1]
    position = x.clamp(0.0, 1.0) * resolution
    lower = position.floor().clamp(max=resolution - 1)  # x = 1 interpolates inside the last cell
    frac = position - lower
    lower = lower.long()
    out = torch.zeros(*x.shape[:-1], table.shape[-1], dtype=table.dtype, device=x.device)
    for corner in range(2**d):
        offset = torch.tensor([(corner >> i) & 1 for i in range(d)], device=x.device)
        weight = torch.where(offset.bool(), frac, 1.0 - frac).prod(-1, keepdim=True)
        out = out + weight * table[hash_grid_index(lower + offset, resolution, table.shape[0])]
    return out


class HashEncoding(nn.Module):
    """Multiresolution hash encoding (Müller et al. 2022, "Instant Neural Graphics Primitives with a
    Multiresolution Hash Encoding"), in pure PyTorch.

    ``num_levels`` grids of resolutions :func:`grid_resolutions` over the [-1, 1]^d cube, each with
    a table of at most ``2^log2_table_size`` trainable feature vectors of ``features_per_level``
    numbers (a coarse level with fewer vertices gets one row per vertex); a point's encoding is
    the concatenation of each level's :func:`hash_grid_interpolate`, ``[..., num_levels * F]``.
    Tables start at ``U(-1e-4, 1e-4)`` as in the paper.
    """

    def __init__(self, in_dim: int, num_levels: int = 16, features_per_level: int = 2, log2_table_size: int = 15,
                 base_resolution: int = 16, finest_resolution: int = 256) -> None:
        super().__init__()
        if features_per_level < 1 or not 1 <= log2_table_size <= 30:
            raise InputError(f"need features_per_level >= 1 and log2_table_size in 1..30, got {features_per_level}, {log2_table_size}")
        self.in_dim = in_dim
        self.features_per_level = features_per_level
        self.table_size = 2**log2_table_size
        self.resolutions = grid_resolutions(num_levels, base_resolution, finest_resolution)
        self.tables = nn.ParameterList(
            nn.Parameter(torch.empty(min(self.table_size, (n + 1) ** in_dim), features_per_level).uniform_(-1e-4, 1e-4))
            for n in self.resolutions
        )

    def get_out_dim(self) -> int:
        return len(self.resolutions) * self.features_per_level

    def forward(self, x: Tensor) -> Tensor:
        unit = (x + 1.0) * 0.5  # [-1, 1] -> [0, 1]
        return torch.cat([hash_grid_interpolate(unit, table, n) for table, n in zip(self.tables, self.resolutions)], dim=-1)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, resolutions={self.resolutions}, table_size={self.table_size}, features_per_level={self.features_per_level}"
