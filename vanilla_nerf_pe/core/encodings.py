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

import torch
from torch import Tensor, nn


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
        raise ValueError("positional_encoding with num_frequencies=0 and include_input=False is empty")
    return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]


class PositionalEncoding(nn.Module):
    """Module form of :func:`positional_encoding`; ``num_frequencies=0`` is "no encoding"."""

    def __init__(self, in_dim: int, num_frequencies: int, include_input: bool = True, base_frequency: float = math.pi) -> None:
        super().__init__()
        if num_frequencies < 0:
            raise ValueError(f"num_frequencies must be >= 0, got {num_frequencies}")
        if num_frequencies == 0 and not include_input:
            raise ValueError("PositionalEncoding needs num_frequencies > 0 or include_input=True")
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
        raise ValueError(f"fourier_features: x has {x.shape[-1]} coordinates but B expects {B.shape[-1]}")
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
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
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
