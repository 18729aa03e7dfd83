"""The coordinate MLP shared by the NeRF fields and the 2D image fields.

``MLP`` is the trunk of NeRF (Mildenhall et al. 2020, fig. 7): ``num_layers`` fully connected
layers of ``width`` units with ReLU, the network input concatenated again to the activations that
enter the layers listed in ``skip_connections`` (NeRF: the fifth layer, index 4). Shapes: input
``[..., in_dim]``, output ``[..., out_dim]``.

``Siren`` is the sine-activated alternative for the 2D image fields (Sitzmann et al. 2020), with
the same constructor shape (``in_dim, num_layers, width, out_dim``) and the same ``get_out_dim``.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from vanilla_nerf_pe.core.errors import InputError


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
            raise InputError(f"MLP needs at least one hidden layer, got num_layers={num_layers}")
        bad = [i for i in skip_connections if not 0 < i < num_layers]
        if bad:
            raise InputError(f"skip connections {bad} are not inner layers of a {num_layers}-layer MLP")
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


class SineLayer(nn.Module):
    """``sin(omega_0 (W x + b))`` with SIREN's initialisation (Sitzmann et al. 2020, sec. 3.2).

    Weights: ``U(-1/n, 1/n)`` for the first layer (``is_first``), otherwise
    ``U(-sqrt(6/n)/omega_0, sqrt(6/n)/omega_0)``, ``n`` the fan-in. With the latter, an input
    distributed like the arcsine law of a sine's output gives pre-activations ``omega_0 (W x)`` of
    unit variance at every depth (the paper's Theorem 1.8). Biases keep PyTorch's default
    ``U(-1/sqrt(n), 1/sqrt(n))``, as in the authors' reference code. Shapes: ``[..., in_features]``
    to ``[..., out_features]``.
    """

    def __init__(self, in_features: int, out_features: int, omega_0: float = 30.0, is_first: bool = False) -> None:
        super().__init__()
        self.in_features = in_features
        self.omega_0 = float(omega_0)
        self.is_first = is_first
        self.linear = nn.Linear(in_features, out_features)
        bound = 1.0 / in_features if is_first else math.sqrt(6.0 / in_features) / self.omega_0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)

    def preactivation(self, x: Tensor) -> Tensor:
        """``omega_0 (W x + b)``, the argument of the sine: ``[..., out_features]``."""
        return self.omega_0 * self.linear(x)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.preactivation(x))

    def extra_repr(self) -> str:
        return f"omega_0={self.omega_0}, is_first={self.is_first}"


class Siren(nn.Module):
    """Sinusoidal representation network (Sitzmann et al. 2020, "Implicit Neural Representations
    with Periodic Activation Functions").

    Args:
        in_dim: input coordinates (raw, in [-1, 1]: SIREN needs no encoding).
        num_layers: number of sine layers (as ``MLP``'s hidden layers).
        width: units of every sine layer.
        out_dim: if given, a final Linear to ``out_dim`` (no activation) whose weights use the
            hidden-layer init ``U(-sqrt(6/n)/hidden_omega_0, +...)``; otherwise the output is the
            last sine layer (``[..., width]``).
        first_omega_0: frequency factor of the first layer (30 in the paper: spans many periods
            over [-1, 1]).
        hidden_omega_0: frequency factor of the other layers.
    """

    def __init__(
        self,
        in_dim: int,
        num_layers: int,
        width: int,
        out_dim: Optional[int] = None,
        first_omega_0: float = 30.0,
        hidden_omega_0: float = 30.0,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise InputError(f"Siren needs at least one sine layer, got num_layers={num_layers}")
        self.in_dim = in_dim
        layers = [SineLayer(in_dim, width, first_omega_0, is_first=True)]
        layers += [SineLayer(width, width, hidden_omega_0) for _ in range(num_layers - 1)]
        self.layers = nn.ModuleList(layers)
        self.out: Optional[nn.Linear] = None
        if out_dim is not None:
            self.out = nn.Linear(width, out_dim)
            bound = math.sqrt(6.0 / width) / hidden_omega_0
            with torch.no_grad():
                self.out.weight.uniform_(-bound, bound)
        self.out_dim = out_dim if out_dim is not None else width

    def get_out_dim(self) -> int:
        return self.out_dim

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for layer in self.layers:
            h = layer(h)
        return self.out(h) if self.out is not None else h
