"""Coordinate encodings shared by the 3D NeRF fields and the 2D image fields.

Convention for the whole module: ``x`` is a batch of coordinates of shape ``[..., d]``, already
scaled by the caller to the range the encoding expects (``[-1, 1]`` for positional encoding);
every encoding maps it to ``[..., out_dim]`` where ``out_dim = encoding.get_out_dim()`` is known
before the first call, so MLPs can be sized at construction.

Encodings are plain ``torch.nn.Module`` objects with no nerfstudio dependency, so the image
pipeline and the NeRF fields use the very same classes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def positional_encoding(x: Tensor, num_frequencies: int, include_input: bool = True) -> Tensor:
    """NeRF's frequency encoding (Mildenhall et al. 2020, eq. 4).

    gamma(x) = (x, sin(2^0 pi x), cos(2^0 pi x), ..., sin(2^(L-1) pi x), cos(2^(L-1) pi x)),
    applied to each coordinate separately.

    Args:
        x: [..., d] coordinates, expected in [-1, 1].
        num_frequencies: L, the number of octaves; 0 gives the identity (with include_input).
        include_input: whether x itself is part of the output.

    Returns:
        [..., d * (2 L + include_input)]; the layout is [x, sin(all freqs, all dims), cos(...)].
    """
    parts = [x] if include_input else []
    if num_frequencies > 0:
        freqs = (2.0 ** torch.arange(num_frequencies, dtype=x.dtype, device=x.device)) * math.pi
        scaled = (x[..., None, :] * freqs[:, None]).flatten(-2)  # [..., L * d]
        # One sin over [scaled, scaled + pi/2] instead of a sin and a cos: one kernel, one buffer.
        both = torch.sin(torch.cat([scaled, scaled + 0.5 * math.pi], dim=-1))
        parts.append(both)
    if not parts:
        raise ValueError("positional_encoding with num_frequencies=0 and include_input=False is empty")
    return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]


class PositionalEncoding(nn.Module):
    """Module form of :func:`positional_encoding`; ``num_frequencies=0`` is "no encoding"."""

    def __init__(self, in_dim: int, num_frequencies: int, include_input: bool = True) -> None:
        super().__init__()
        if num_frequencies < 0:
            raise ValueError(f"num_frequencies must be >= 0, got {num_frequencies}")
        if num_frequencies == 0 and not include_input:
            raise ValueError("PositionalEncoding needs num_frequencies > 0 or include_input=True")
        self.in_dim = in_dim
        self.num_frequencies = num_frequencies
        self.include_input = include_input

    def get_out_dim(self) -> int:
        return self.in_dim * (2 * self.num_frequencies + int(self.include_input))

    def forward(self, x: Tensor) -> Tensor:
        return positional_encoding(x, self.num_frequencies, self.include_input)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, num_frequencies={self.num_frequencies}, include_input={self.include_input}"
