"""The NeRF field: a coordinate network, a density head and a view-dependent colour branch.

Architecture of Mildenhall et al. 2020 (fig. 7): the coordinate network
(:class:`~vanilla_nerf_pe.core.network.CoordinateNetwork`: ``pe``, ``fourier``, ``siren``,
``hash`` or ``none``, see there) maps a position in unit coordinates (the scene box, NDC or contracted space
scaled to [-1, 1]^3, :mod:`vanilla_nerf_pe.nerf.spaces`) to a ``width``-wide trunk
output; a linear head gives the density sigma and a linear layer a ``width``-wide feature; the
feature, concatenated with the encoded view direction, goes through one ReLU layer of
``color_width`` units and a sigmoid to RGB. Without ``color_width`` the field is density-only:
mip-NeRF 360's proposal networks.

Space outside the unit box has no density: the positional encoding is periodic (period 2 in unit
coordinates), so a sample outside [-1, 1] would otherwise get the features of a point inside (and
the hash grid clamps it onto the box's faces).

Precision (:mod:`vanilla_nerf_pe.core.precision`): the MLPs may run under bfloat16 autocast, while
the encodings, the density activation and the colour sigmoid stay float32; density and colour
are float32, and so are the weights. The feature between the trunk and the colour branch stays in
the MLPs' dtype (casting it to float32 and back would copy it twice each way).

The field is a plain ``nn.Module``: our samplers call :meth:`NeRFField.density_and_feature`,
:meth:`NeRFField.density` and :meth:`NeRFField.color` directly, so nerfstudio's ``Field``
interface (``get_density`` / ``get_outputs`` on its ``RaySamples``) would have no caller.
"""

from __future__ import annotations

from typing import Callable, Literal, Optional, Tuple, TypeVar

import torch
from torch import Tensor, nn

from vanilla_nerf_pe.core.encodings import PositionalEncoding
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.mlp import MLP
from vanilla_nerf_pe.core.network import CoordinateNetwork, CoordinateNetworkConfig
from vanilla_nerf_pe.core.precision import Precision, call_in_row_buckets, check_precision, mlp_autocast, resolve_precision

DensityActivation = Literal["relu", "softplus"]
T = TypeVar("T")


class NeRFField(nn.Module):
    """A radiance field (see the module docstring).

    Args:
        network: the coordinate network's options.
        direction_frequencies: L of the view direction's positional encoding (NeRF: 4).
        color_width: width of the view-dependent layer (NeRF: 128); None: a density-only field.
        density_activation: "relu" as in the paper, or "softplus", which keeps a gradient for
            empty space and so cannot lock a unit into "dead" during the first iterations.
        density_bias: added to the raw density before the activation (mip-NeRF: -1 with softplus).
        rgb_padding: colour = sigmoid(x) (1 + 2 p) - p, mip-NeRF's padding: black and white are
            reached at finite logits (0: the paper's plain sigmoid).
        precision: "float32", "bfloat16" or "auto" for the MLPs (see
            :func:`~vanilla_nerf_pe.core.precision.resolve_precision`).
        appearance_dim: length of a per-image appearance code that enters the colour branch next
            to the encoded direction (NeRF-W, :mod:`vanilla_nerf_pe.nerf.appearance`); 0: none.
    """

    def __init__(
        self,
        network: CoordinateNetworkConfig,
        direction_frequencies: int = 4,
        color_width: Optional[int] = 128,
        density_activation: DensityActivation = "softplus",
        density_bias: float = 0.0,
        rgb_padding: float = 0.001,
        precision: Precision = "float32",
        appearance_dim: int = 0,
    ) -> None:
        super().__init__()
        check_precision(precision, network.kind == "siren")
        if density_activation not in ("relu", "softplus"):
            raise InputError(f"density activation {density_activation!r}: choose relu or softplus")
        self.precision = precision
        self.density_bias = density_bias
        self.rgb_padding = rgb_padding
        self.network = CoordinateNetwork(network, in_dim=3)
        width = self.network.get_out_dim()
        self.density_head = nn.Linear(width, 1)
        self.density_activation: nn.Module = nn.ReLU() if density_activation == "relu" else nn.Softplus()
        self.has_color = color_width is not None
        self.appearance_dim = appearance_dim if color_width is not None else 0
        if color_width is not None:
            self.direction_encoding = PositionalEncoding(3, direction_frequencies)
            self.feature_head = nn.Linear(width, width)
            self.color_mlp = MLP(width + self.direction_encoding.get_out_dim() + self.appearance_dim, 1, color_width, out_dim=3)

    def compile_networks(self, backend: str = "inductor") -> None:
        """Run the density and feature pass through ``torch.compile`` (dynamic shapes: packed
        sampling changes the sample count at every step). The parameters and the state dict stay
        the field's own; only the function that evaluates them is replaced, for this instance."""
        self._density_and_feature = torch.compile(self._density_and_feature, dynamic=True, backend=backend)  # type: ignore[method-assign]

    def compute_dtype(self, device: torch.device) -> torch.dtype:
        """The dtype of this field's matrix products on ``device`` (``precision`` resolved)."""
        return resolve_precision(self.precision, self.network.sine_activations, device)  # type: ignore[arg-type]

    def _run(self, fn: Callable[..., T], dtype: torch.dtype, *inputs: Tensor) -> T:
        """``fn(*inputs)``, on rows padded to buckets when the MLPs run in bfloat16 on a CPU
        (:func:`~vanilla_nerf_pe.core.precision.call_in_row_buckets`)."""
        if dtype == torch.float32 or inputs[0].device.type != "cpu":
            return fn(*inputs)
        return call_in_row_buckets(fn, *inputs)  # type: ignore[return-value]

    def _density_and_feature(self, x: Tensor, dtype: torch.dtype, feature: bool) -> Tuple[Tensor, Tensor]:
        # The encoding is computed in float32 (see core.precision) and cast once: a float32 input
        # would make the skip connections' concatenations float32 and autocast cast them back.
        encoded = self.network.encoding(x).to(dtype)
        with mlp_autocast(dtype, x.device):
            h = self.network.mlp(encoded)
            raw = self.density_head(h)
            out = self.feature_head(h) if feature and self.has_color else h
        sigma = self.density_activation(raw.float() + self.density_bias)
        inside = (x.abs() <= 1.0).all(dim=-1, keepdim=True)
        return torch.where(inside, sigma, torch.zeros_like(sigma)), out

    def density_and_feature(self, positions: Tensor) -> Tuple[Tensor, Tensor]:
        """sigma [..., 1] (float32) and feature [..., width] (in the MLPs' dtype, :meth:`compute_dtype`:
        it only feeds :meth:`color`) at unit coordinates [..., 3]."""
        dtype = self.compute_dtype(positions.device)
        return self._run(lambda p: self._density_and_feature(p, dtype, feature=True), dtype, positions)

    def density(self, positions: Tensor) -> Tensor:
        """sigma [..., 1] at unit coordinates [..., 3] (no colour branch)."""
        dtype = self.compute_dtype(positions.device)
        return self._run(lambda p: self._density_and_feature(p, dtype, feature=False)[0], dtype, positions)

    def color(self, feature: Tensor, directions: Tensor, appearance: Optional[Tensor] = None) -> Tensor:
        """RGB in [-p, 1 + p], [..., 3], from the feature [..., width], unit directions [..., 3]
        and, in a field with ``appearance_dim``, each sample's appearance code [..., appearance_dim]."""
        if not self.has_color:
            raise InputError("this field was built without a colour branch (color_width=None)")
        if (appearance is None) != (self.appearance_dim == 0):
            raise InputError(f"this field's colour branch takes an appearance code of {self.appearance_dim} dims, got {None if appearance is None else appearance.shape[-1]}")
        dtype = self.compute_dtype(feature.device)

        def logits(f: Tensor, d: Tensor, *code: Tensor) -> Tensor:
            encoded = self.direction_encoding(d).to(dtype)
            with mlp_autocast(dtype, f.device):
                return self.color_mlp(torch.cat([f.to(dtype), encoded, *(c.to(dtype) for c in code)], dim=-1)).float()

        inputs = (feature, directions) if appearance is None else (feature, directions, appearance)
        return torch.sigmoid(self._run(logits, dtype, *inputs)) * (1.0 + 2.0 * self.rgb_padding) - self.rgb_padding
