"""The NeRF field: encoding + MLP trunk, a density head and a view-dependent colour branch.

Architecture of Mildenhall et al. 2020 (fig. 7): gamma(x) goes through ``num_layers`` ReLU layers
of ``width`` units (gamma(x) concatenated again at layer ``skip_connections``); a linear head gives
the density sigma and a ``width``-wide feature; the feature, concatenated with gamma(d), goes through
one ReLU layer of ``color_width`` units and a sigmoid to RGB.

Three kinds of field (:func:`make_nerf_field`), differing in how a position reaches the trunk:

- ``pe``: NeRF's positional encoding + ReLU MLP (Mildenhall et al. 2020);
- ``fourier``: Gaussian random Fourier features + ReLU MLP (Tancik et al. 2020);
- ``siren``: raw coordinates into sine layers (Sitzmann et al. 2020), linear density and feature heads.

The colour branch is NeRF's in all three. A field built with ``color_width=None`` has no colour
branch: the density-only proposal networks of mip-NeRF 360.

``precision="bfloat16"`` runs the trunk, heads and colour layer under bfloat16 autocast (mixed
precision: float32 weights, bfloat16 matrix products and activations) while the encodings, the
density activation and the colour sigmoid stay float32, and every output is float32. On a CPU with
native bfloat16 (AVX512-BF16 or AMX) the matrix products run at about twice the float32 rate; see
:func:`resolve_precision` for "auto".

The field is a nerfstudio :class:`~nerfstudio.fields.base_field.Field`, so nerfstudio's
``density_fn`` and viewer hooks work; the encodings and MLPs are this package's own modules, shared
with the 2D image pipeline.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, ContextManager, Dict, Literal, Optional, Sequence, Tuple, Union

import torch
from nerfstudio.cameras.rays import RaySamples
from nerfstudio.field_components.field_heads import FieldHeadNames
from nerfstudio.fields.base_field import Field
from torch import Tensor, nn

from vanilla_nerf_pe.encodings import GaussianFourierFeatures, PositionalEncoding
from vanilla_nerf_pe.mlp import MLP, Siren

DensityActivation = Literal["relu", "softplus"]
FieldKind = Literal["pe", "fourier", "siren"]
FIELD_KINDS: Tuple[str, ...] = ("pe", "fourier", "siren")
Precision = Literal["float32", "bfloat16", "auto"]
PRECISIONS: Tuple[str, ...] = ("float32", "bfloat16", "auto")
ROW_BUCKET = 1024
"""bfloat16 on a CPU: rows per bucket (see :meth:`NeRFField._in_row_buckets`)."""


@functools.lru_cache(maxsize=None)
def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (x86 AVX512-BF16 or AMX).

    Without it oneDNN emulates bfloat16 products with float32 instructions, which is slower than
    float32 itself. Asked of torch's own CPU feature detection (what oneDNN will use).
    """
    if not torch.backends.mkldnn.is_available():
        return False
    cpu = torch.cpu
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)


def resolve_precision(precision: Precision, sine_activations: bool, device: torch.device) -> torch.dtype:
    """The dtype of a field's matrix products: float32 or bfloat16.

    "auto" is bfloat16 where it was measured to win (benchmarks/wall_clock.py, README): a ReLU
    field ("pe", "fourier") on a CPU with native bfloat16. A field with sine activations (SIREN)
    stays float32 everywhere: its sine arguments omega_0 (W x + b) are of order 30, where
    bfloat16's 8-bit mantissa leaves steps of 0.125 rad. On a GPU "auto" is float32 (TF32 through
    torch.set_float32_matmul_precision) until a benchmark shows otherwise.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        native = device.type == "cpu" and cpu_has_native_bfloat16()
        return torch.bfloat16 if native and not sine_activations else torch.float32
    return torch.bfloat16 if precision == "bfloat16" else torch.float32


def pad_rows(x: Tensor, multiple: int) -> Tensor:
    """x [N, C] with zero rows appended: [ceil(N / multiple) * multiple, C] (x itself if no row is missing)."""
    missing = -x.shape[0] % multiple
    return nn.functional.pad(x, (0, 0, 0, missing)) if missing else x


def normalize_to_aabb(positions: Tensor, aabb: Tensor) -> Tensor:
    """Map positions inside an axis-aligned box to [-1, 1].

    Args:
        positions: [..., 3] world positions.
        aabb: [2, 3] box corners (min, max).

    Returns:
        [..., 3]; positions outside the box map outside [-1, 1] (the encoding is periodic, so no
        clamping: the renderer's near/far bounds keep samples near the box).
    """
    return 2.0 * (positions - aabb[0]) / (aabb[1] - aabb[0]) - 1.0


class NeRFField(Field):
    """A radiance field: position encoding, trunk, density head and NeRF's view-dependent colour branch.

    Args:
        aabb: [2, 3] scene box; positions are normalised to [-1, 1] in it before encoding, and the
            box is a buffer, so it travels with the checkpoint.
        position_encoding: module [..., 3] -> [..., trunk input] with ``get_out_dim``.
        trunk: module [..., position_encoding.get_out_dim()] -> [..., width].
        width: output width of the trunk.
        direction_frequencies: L for view directions (NeRF: 4).
        color_width: width of the view-dependent layer (NeRF: 128); None: a density-only field.
        density_activation: "relu" as in the paper, or "softplus", which keeps a gradient for
            empty space and so cannot lock a unit into "dead" during the first iterations.
        density_bias: added to the raw density before the activation. mip-NeRF (Barron et al. 2021)
            uses -1 with softplus: the initial volume is a thin fog (sigma ~ 0.3) instead of an
            opaque one (~0.7 over 4 units of ray), so empty space needs less clearing.
        rgb_padding: colour = sigmoid(x) (1 + 2 p) - p, mip-NeRF's padding (Barron et al. 2021):
            black and white are reached at finite logits, so a dark or white pixel does not drive
            the logit (and with it the sigmoid's gradient) towards zero for ever.
        precision: "float32", "bfloat16" (autocast around the MLPs) or "auto" (see
            :func:`resolve_precision`); a :class:`~vanilla_nerf_pe.mlp.Siren` trunk refuses "bfloat16".
    """

    def __init__(
        self,
        aabb: Tensor,
        position_encoding: nn.Module,
        trunk: nn.Module,
        width: int,
        direction_frequencies: int = 4,
        color_width: Optional[int] = 128,
        density_activation: DensityActivation = "softplus",
        density_bias: float = 0.0,
        rgb_padding: float = 0.001,
        precision: Precision = "float32",
    ) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.sine_activations = isinstance(trunk, Siren)
        if self.sine_activations and precision == "bfloat16":
            raise ValueError("a SIREN trunk in bfloat16 keeps only 0.125 rad steps of its ~30 rad sine arguments: use float32 or auto")
        self.precision = precision
        self.register_buffer("aabb", aabb.detach().clone().float())
        self.density_bias = density_bias
        self.rgb_padding = rgb_padding
        self.position_encoding = position_encoding
        self.trunk = trunk
        self.density_head = nn.Linear(width, 1)
        self.has_color = color_width is not None
        if color_width is not None:
            self.direction_encoding = PositionalEncoding(3, direction_frequencies)
            self.feature_head = nn.Linear(width, width)
            self.color_mlp = MLP(width + self.direction_encoding.get_out_dim(), 1, color_width, out_dim=3)
        if density_activation == "relu":
            self.density_activation: nn.Module = nn.ReLU()
        elif density_activation == "softplus":
            self.density_activation = nn.Softplus()
        else:
            raise ValueError(f"density_activation must be 'relu' or 'softplus', got {density_activation!r}")

    def compute_dtype(self, device: torch.device) -> torch.dtype:
        """The dtype of this field's matrix products on ``device`` (``precision`` resolved)."""
        return resolve_precision(self.precision, self.sine_activations, device)  # type: ignore[arg-type]

    def _mlp_precision(self, device: torch.device) -> ContextManager:
        """bfloat16 autocast around the MLPs, or no context at all for float32, so that an outer
        autocast (nerfstudio's ``--mixed-precision`` on a GPU) still applies."""
        dtype = self.compute_dtype(device)
        return torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()

    def _in_row_buckets(self, fn: Callable[..., Union[Tensor, Tuple[Tensor, ...]]], *inputs: Tensor) -> Union[Tensor, Tuple[Tensor, ...]]:
        """``fn(*inputs)`` for inputs ``[..., C_i]`` of one leading shape, with the rows padded to a
        multiple of ``ROW_BUCKET`` (:func:`pad_rows`) when the MLPs run in bfloat16 on a CPU.

        oneDNN, which runs bfloat16 products on a CPU, builds and caches a kernel per matrix shape,
        and packed sampling gives a new row count at every step: without buckets 300 steps of
        vanilla-nerf-pe-fast took 33 s and peak memory grew to 2.5 GB, with them 26 s and 1.25 GB.
        The padded rows are zeros whose outputs are dropped, so they add no gradient.
        """
        device = inputs[0].device
        if device.type != "cpu" or self.compute_dtype(device) == torch.float32:
            return fn(*inputs)
        lead = inputs[0].shape[:-1]
        n = lead.numel()
        outputs = fn(*[pad_rows(x.reshape(n, x.shape[-1]), ROW_BUCKET) for x in inputs])
        if isinstance(outputs, tuple):
            return tuple(y[:n].reshape(lead + y.shape[-1:]) for y in outputs)
        return outputs[:n].reshape(lead + outputs.shape[-1:])

    def _trunk(self, positions: Tensor) -> Tensor:
        # The encoding stays float32: its top octave sin(2^(L-1) pi x) (L = 10: 2^9) needs x to more
        # than bfloat16's 3 significant digits.
        x = self.position_encoding(normalize_to_aabb(positions, self.aabb))
        with self._mlp_precision(positions.device):
            return self.trunk(x)

    def _sigma(self, h: Tensor) -> Tensor:
        with self._mlp_precision(h.device):
            raw = self.density_head(h)
        return self.density_activation(raw.float() + self.density_bias)

    def _density_and_feature(self, positions: Tensor) -> Tuple[Tensor, Tensor]:
        h = self._trunk(positions)
        if not self.has_color:
            return self._sigma(h), h.float()
        with self._mlp_precision(h.device):
            feature = self.feature_head(h)
        return self._sigma(h), feature.float()

    def _color(self, feature: Tensor, directions: Tensor) -> Tensor:
        d = self.direction_encoding(directions)
        with self._mlp_precision(feature.device):
            logits = self.color_mlp(torch.cat([feature, d], dim=-1))
        return torch.sigmoid(logits.float()) * (1.0 + 2.0 * self.rgb_padding) - self.rgb_padding

    def density_and_feature(self, positions: Tensor) -> Tuple[Tensor, Tensor]:
        """sigma [..., 1] and feature [..., width] at world positions [..., 3] (float32)."""
        return self._in_row_buckets(self._density_and_feature, positions)

    def density(self, positions: Tensor) -> Tensor:
        """sigma [..., 1] at world positions [..., 3] (no colour branch)."""
        return self._in_row_buckets(lambda p: self._sigma(self._trunk(p)), positions)

    def color(self, feature: Tensor, directions: Tensor) -> Tensor:
        """RGB in [-p, 1 + p], [..., 3], from the trunk feature [..., width] and unit directions [..., 3]."""
        if not self.has_color:
            raise RuntimeError("this field was built without a colour branch (color_width=None)")
        return self._in_row_buckets(self._color, feature, directions)

    # nerfstudio's Field interface -------------------------------------------------------------
    def get_density(self, ray_samples: RaySamples) -> Tuple[Tensor, Tensor]:
        return self.density_and_feature(ray_samples.frustums.get_positions())

    def get_outputs(self, ray_samples: RaySamples, density_embedding: Optional[Tensor] = None) -> Dict[FieldHeadNames, Tensor]:
        assert density_embedding is not None, "NeRFField.get_outputs needs the trunk feature from get_density"
        if not self.has_color:
            return {}
        directions = ray_samples.frustums.directions.expand(density_embedding.shape[:-1] + (3,))
        return {FieldHeadNames.RGB: self.color(density_embedding, directions)}


def make_nerf_field(
    kind: FieldKind,
    aabb: Tensor,
    num_layers: int,
    width: int,
    skip_connections: Sequence[int] = (4,),
    color_width: Optional[int] = 128,
    position_frequencies: int = 10,
    direction_frequencies: int = 4,
    fourier_features: int = 256,
    fourier_sigma: float = 8.0,
    fourier_seed: int = 0,
    siren_first_omega_0: float = 30.0,
    siren_hidden_omega_0: float = 30.0,
    density_activation: DensityActivation = "softplus",
    density_bias: float = 0.0,
    precision: Precision = "float32",
) -> NeRFField:
    """A :class:`NeRFField` of the given kind.

    Args:
        kind: "pe" (``position_frequencies`` L; 0 is raw xyz), "fourier" (``fourier_features`` m
            frequencies B ~ N(0, ``fourier_sigma``^2) per unit of the [-1, 1] box, drawn with
            ``fourier_seed``), or "siren" (sine layers with the given omega_0; no skips).
        num_layers, width, skip_connections: the trunk.
        The rest: see :class:`NeRFField`.
    """
    if kind == "siren":
        encoding: nn.Module = PositionalEncoding(3, 0)  # raw coordinates in [-1, 1]
        trunk: nn.Module = Siren(3, num_layers, width, first_omega_0=siren_first_omega_0, hidden_omega_0=siren_hidden_omega_0)
    else:
        if kind == "pe":
            encoding = PositionalEncoding(3, position_frequencies)
        elif kind == "fourier":
            encoding = GaussianFourierFeatures(3, fourier_features, fourier_sigma, seed=fourier_seed)
        else:
            raise ValueError(f"unknown field {kind!r}: choose one of {', '.join(FIELD_KINDS)}")
        skips = tuple(i for i in skip_connections if i < num_layers)
        trunk = MLP(encoding.get_out_dim(), num_layers, width, skip_connections=skips)
    return NeRFField(
        aabb,
        encoding,
        trunk,
        width,
        direction_frequencies=direction_frequencies,
        color_width=color_width,
        density_activation=density_activation,
        density_bias=density_bias,
        precision=precision,
    )
