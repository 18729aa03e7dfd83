"""The coordinate MLP shared by the NeRF fields and the 2D image fields.

``MLP`` is the trunk of NeRF (Mildenhall et al. 2020, fig. 7): ``num_layers`` fully connected
layers of ``width`` units with ReLU, the network input concatenated again to the activations that
enter the layers listed in ``skip_connections`` (NeRF: the fifth layer, index 4). Shapes: input
``[..., in_dim]``, output ``[..., out_dim]``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """ReLU MLP with NeRF-style input skip connections.

    Args:
        in_dim: input features.
        num_layers: number of hidden layers (each Linear followed by the activation).
        width: units of every hidden layer.
        out_dim: if given, a final Linear to ``out_dim`` with no activation; otherwise the output is
            the last hidden layer's activations (``[..., width]``).
        skip_connections: indices of hidden layers whose input is ``cat(h, x)``.
        activation: applied after every hidden layer.
    """

    def __init__(
        self,
        in_dim: int,
        num_layers: int,
        width: int,
        out_dim: Optional[int] = None,
        skip_connections: Sequence[int] = (),
        activation: Optional[nn.Module] = None,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"MLP needs at least one hidden layer, got num_layers={num_layers}")
        bad = [i for i in skip_connections if not 0 < i < num_layers]
        if bad:
            raise ValueError(f"skip connections {bad} are not inner layers of a {num_layers}-layer MLP")
        self.in_dim = in_dim
        self.skip_connections = tuple(sorted(set(skip_connections)))
        self.activation = activation if activation is not None else nn.ReLU()
        layers = []
        for i in range(num_layers):
            fan_in = in_dim if i == 0 else width + (in_dim if i in self.skip_connections else 0)
            layers.append(nn.Linear(fan_in, width))
        self.layers = nn.ModuleList(layers)
        self.out = nn.Linear(width, out_dim) if out_dim is not None else None
        self.out_dim = out_dim if out_dim is not None else width

    def get_out_dim(self) -> int:
        return self.out_dim

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for i, layer in enumerate(self.layers):
            if i in self.skip_connections:
                h = torch.cat([h, x], dim=-1)
            h = self.activation(layer(h))
        return self.out(h) if self.out is not None else h
