"""One coordinate network for the 3D NeRF fields and the 2D image lab: an encoding of the
coordinates followed by an MLP.

Kinds (``CoordinateNetworkConfig.kind``):

- ``none``: raw coordinates into a ReLU :class:`~vanilla_nerf_pe.core.mlp.MLP` (the spectral-bias
  baseline, Rahaman et al. 2019);
- ``pe``: NeRF's positional encoding (Mildenhall et al. 2020, eq. 4) + ReLU MLP;
- ``fourier``: Gaussian random Fourier features (Tancik et al. 2020) + ReLU MLP;
- ``siren``: raw coordinates into sine layers (Sitzmann et al. 2020); no skip connections;
- ``hash``: Instant-NGP's multiresolution hash encoding (Müller et al. 2022) + ReLU MLP, in the 2D
  lab and as a NeRF field (``--pipeline.model.network.kind hash``; no preset uses it by default).

Naming (kept by the configs of both sides): ``num_layers`` and ``width`` of the trunk,
``skip_connections``, and per-kind options prefixed with their kind (``pe_*``, ``fourier_*``,
``siren_*``). The defaults here serve both sides; a preset that overrides one says why where it
does (:mod:`vanilla_nerf_pe.nerf.method_configs`).

Shapes: coordinates ``[..., in_dim]`` (already scaled to ``[-1, 1]`` by the caller), output
``[..., out_dim]``, or ``[..., width]`` without ``out_dim`` (a trunk whose heads the caller adds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional, Tuple

from torch import Tensor, nn

from vanilla_nerf_pe.core.encodings import GaussianFourierFeatures, HashEncoding, PositionalEncoding
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.mlp import MLP, Siren

NetworkKind = Literal["none", "pe", "fourier", "siren", "hash"]
NETWORK_KINDS: Tuple[str, ...] = ("none", "pe", "fourier", "siren", "hash")


@dataclass
class CoordinateNetworkConfig:
    """An encoding of the coordinates and the MLP trunk that reads it."""

    kind: NetworkKind = "pe"
    """"none" (raw coordinates, ReLU MLP), "pe" (positional encoding), "fourier" (Gaussian Fourier
    features), "siren" (sine layers on raw coordinates) or "hash" (multiresolution hash grid)."""
    num_layers: int = 4
    """hidden layers of the trunk (sine layers for siren)."""
    width: int = 256
    """units per hidden layer."""
    skip_connections: Tuple[int, ...] = ()
    """hidden layers that see the encoded input again (NeRF: layer 4); ignored by siren."""
    pe_num_frequencies: int = 10
    """pe: octaves L, angular frequencies pe_base_frequency * 2^0 .. 2^(L-1)."""
    pe_include_input: bool = False
    """pe: also feed the raw coordinates next to the sinusoids."""
    pe_base_frequency: float = math.pi
    """pe: lowest angular frequency (pi: NeRF's sin(2^k pi x))."""
    fourier_num_features: int = 256
    """fourier: number m of random frequencies (the encoding has 2 m features)."""
    fourier_sigma: float = 10.0
    """fourier: standard deviation of the frequencies, in cycles per unit of the [-1, 1] coordinates
    (Tancik et al.'s 2D experiments use 10)."""
    fourier_seed: int = 0
    """fourier: seed of the draw of the frequency matrix B (a buffer: saved with the weights)."""
    siren_first_omega_0: float = 30.0
    """siren: frequency factor of the first sine layer (the paper's 30)."""
    siren_hidden_omega_0: float = 30.0
    """siren: frequency factor of the other sine layers."""
    hash_num_levels: int = 16
    """hash: number L of grid levels (Instant-NGP: 16)."""
    hash_features_per_level: int = 2
    """hash: feature numbers F per table row (Instant-NGP: 2)."""
    hash_log2_table_size: int = 15
    """hash: log2 of the most rows T per level (Instant-NGP: 14 to 24; finer levels hash into T rows)."""
    hash_base_resolution: int = 16
    """hash: cells per axis of the coarsest level (Instant-NGP: 16)."""
    hash_max_resolution: int = 256
    """hash: cells per axis of the finest level (for an image: about its size in pixels)."""

    def check(self, option_prefix: str = "--") -> None:
        """Raise :class:`InputError` naming the option (``option_prefix`` + its flag) that is out of range."""

        def flag(name: str) -> str:
            return option_prefix + name.replace("_", "-")

        if self.kind not in NETWORK_KINDS:
            raise InputError(f"{flag('kind')} {self.kind!r}: choose one of {', '.join(NETWORK_KINDS)}")
        if self.num_layers < 1 or self.width < 1:
            raise InputError(f"{flag('num_layers')} and {flag('width')} must be >= 1, got {self.num_layers} and {self.width}")
        if self.kind == "pe" and self.pe_num_frequencies < 0:
            raise InputError(f"{flag('pe_num_frequencies')} must be >= 0, got {self.pe_num_frequencies}")
        if self.kind == "pe" and self.pe_num_frequencies == 0 and not self.pe_include_input:
            raise InputError(f"{flag('pe_num_frequencies')} 0 without {flag('pe_include_input')} leaves no input")
        if self.kind == "fourier" and (self.fourier_num_features < 1 or self.fourier_sigma <= 0):
            raise InputError(f"{flag('fourier_num_features')} must be >= 1 and {flag('fourier_sigma')} > 0")
        if self.kind == "hash" and not (
            self.hash_num_levels >= 1 and self.hash_features_per_level >= 1 and 1 <= self.hash_log2_table_size <= 30
            and 1 <= self.hash_base_resolution <= self.hash_max_resolution
        ):
            raise InputError(
                f"{flag('hash_num_levels')} and {flag('hash_features_per_level')} must be >= 1, {flag('hash_log2_table_size')} "
                f"in 1..30, and 1 <= {flag('hash_base_resolution')} <= {flag('hash_max_resolution')}"
            )


def build_encoding(config: CoordinateNetworkConfig, in_dim: int) -> nn.Module:
    """The encoding module of ``config.kind`` for ``in_dim`` coordinates (``get_out_dim`` known)."""
    if config.kind in ("none", "siren"):
        return PositionalEncoding(in_dim, 0, include_input=True)  # the identity
    if config.kind == "pe":
        return PositionalEncoding(in_dim, config.pe_num_frequencies, config.pe_include_input, config.pe_base_frequency)
    if config.kind == "fourier":
        return GaussianFourierFeatures(in_dim, config.fourier_num_features, config.fourier_sigma, seed=config.fourier_seed)
    if config.kind == "hash":
        return HashEncoding(
            in_dim, config.hash_num_levels, config.hash_features_per_level, config.hash_log2_table_size,
            config.hash_base_resolution, config.hash_max_resolution,
        )
    raise InputError(f"unknown network kind {config.kind!r}: choose one of {', '.join(NETWORK_KINDS)}")


class CoordinateNetwork(nn.Module):
    """``mlp(encoding(x))``: the network ``config`` describes.

    Args:
        config: kind, trunk and encoding options.
        in_dim: coordinates per point (2 for images, 3 for positions).
        out_dim: a final linear layer to ``out_dim`` (SIREN's initialisation for siren); None: the
            output is the last hidden layer, ``[..., width]``.
    """

    def __init__(self, config: CoordinateNetworkConfig, in_dim: int, out_dim: Optional[int] = None) -> None:
        super().__init__()
        config.check()
        self.config = config
        self.encoding = build_encoding(config, in_dim)
        if config.kind == "siren":
            self.mlp: nn.Module = Siren(
                in_dim, config.num_layers, config.width, out_dim,
                first_omega_0=config.siren_first_omega_0, hidden_omega_0=config.siren_hidden_omega_0,
            )
        else:
            skips = tuple(i for i in config.skip_connections if i < config.num_layers)
            self.mlp = MLP(self.encoding.get_out_dim(), config.num_layers, config.width, out_dim, skip_connections=skips)

    @property
    def sine_activations(self) -> bool:
        return self.config.kind == "siren"

    def get_out_dim(self) -> int:
        return self.mlp.get_out_dim()

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(self.encoding(x))
