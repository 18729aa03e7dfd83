"""A latent-grid image: hierarchical latent grids, a per-pixel synthesis MLP and an auto-regressive
context model that gives each integer latent its probability (the model of Cool-chic).

Cool-chic (Ladune et al. 2023, "COOL-CHIC: Coordinate-based Low Complexity Hierarchical Image
Codec") stores an image as K latent grids of sizes ``H / 2^k x W / 2^k`` (k = 0..K-1, one feature
each), upsampled bilinearly to the image's size and decoded per pixel by a small MLP (the
*synthesis*). The latents are integers, entropy-coded with a discretised Laplace whose mean and
scale a small MLP (the *auto-regressive model*, ARM) predicts from already decoded neighbours in the
same grid. The encoder is the fit itself: latents and both networks are trained for
``distortion + lambda rate``, the rate being the latents' ``-log2 p``, with quantisation simulated by
C3's soft rounding with Kumaraswamy noise (:func:`quantize_latents`; or Cool-chic v1's uniform
noise) first and by rounding with a straight-through gradient at the end (Cool-chic; C3, Kim et al.
2024, "C3: High-performance and low-complexity neural compression from a single image or video",
sec. 3). The synthesis and the context model run as column matrix products (:func:`mlp_columns`),
the layout that is fastest on a CPU for such narrow layers. This module is the representation and its pure tensor functions; the fit is in
:mod:`~vanilla_nerf_pe.codec.latent_fit`, the file in :mod:`~vanilla_nerf_pe.codec.latent_file`.

Shapes: the image ``[H, W, C]``; latent grid k ``[h_k, w_k]`` with ``h_k = ceil(H / 2^k)``;
contexts ``[N, T]`` (T: the :class:`CausalContext`'s size); per-latent ``mu``, ``log_scale``,
``bits`` ``[N]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Literal, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vanilla_nerf_pe.codec.fixed_point import LATENT_LIMIT, TABLE_PRECISION, log_scale_bounds
from vanilla_nerf_pe.core.errors import InputError

@dataclass(frozen=True)
class CausalContext:
    """The causal neighbourhood the context model reads, as offsets ``(di, dj)`` from the latent
    ``(i, j)`` in its own grid: each is above the latent (``di < 0``) or to its left in its row.

    Its :attr:`slope` makes the decoder's wavefronts: every neighbour of ``(i, j)`` has a smaller
    ``j + slope i``, so a whole wavefront ``j + slope i = t`` decodes at once.

    >>> CausalContext.square(2).offsets[:5], CausalContext.square(2).slope
    (((-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2)), 3)
    """

    offsets: Tuple[Tuple[int, int], ...]

    @staticmethod
    def square(rows: int) -> "CausalContext":
        """C3's context (Kim et al. 2024; ``context_num_rows_cols = (rows, rows)``): ``rows`` rows
        above, each ``2 rows + 1`` wide and centred, then ``rows`` to the left: 12 neighbours for 2,
        24 for 3 (Cool-chic's 24 as well)."""
        above = [(di, dj) for di in range(-rows, 0) for dj in range(-rows, rows + 1)]
        return CausalContext(tuple(above + [(0, dj) for dj in range(-rows, 0)]))

    @property
    def size(self) -> int:
        """T, the context model's inputs."""
        return len(self.offsets)

    @property
    def slope(self) -> int:
        """The least integer ``s`` with ``dj + s di < 0`` for every offset above the latent."""
        return max([1] + [dj // -di + 1 for di, dj in self.offsets if di < 0])

    @property
    def padding(self) -> Tuple[int, int, int]:
        """(rows above, columns left, columns right) a grid is padded with so every neighbour exists."""
        return (max(-di for di, _ in self.offsets), max([0] + [-dj for _, dj in self.offsets]),
                max([0] + [dj for _, dj in self.offsets]))


#: The 10-neighbour context of version-3 files: three to the left in the latent's row, four in the
#: row above, three two rows above (slope 2).
VERSION3_CONTEXT = CausalContext((
    (0, -3), (0, -2), (0, -1),
    (-1, -2), (-1, -1), (-1, 0), (-1, 1),
    (-2, -1), (-2, 0), (-2, 1),
))
#: The neighbourhoods ``--latent.context`` names, in the order a version-4 file numbers them.
CONTEXTS: Dict[str, CausalContext] = {"ten": VERSION3_CONTEXT, "c3-12": CausalContext.square(2), "c3-24": CausalContext.square(3)}
ContextName = Literal["ten", "c3-12", "c3-24"]


@dataclass
class LatentConfig:
    """The latent-grid representation and its fit (``vnp-image compress --kind latent``)."""

    levels: int = 7
    """K: latent grids at H/2^k x W/2^k for k = 0..K-1, one feature each."""
    synthesis_widths: Tuple[int, ...] = (32,)
    """hidden layers of the per-pixel synthesis MLP (ReLU); its input is the K upsampled latents."""
    refine_blocks: int = 1
    """residual blocks of two 3x3 convolutions (C -> C, ReLU between, replicate padding) after the
    synthesis MLP (Cool-chic v2's convolutional synthesis, Leguay et al. 2023)."""
    arm_widths: Tuple[int, ...] = (16,)
    """hidden layers of the auto-regressive context model (ReLU) over the causal neighbours."""
    context: ContextName = "ten"
    """the neighbours the context model reads (:data:`CONTEXTS`): "ten" (three to the left, four in the
    row above, three two rows above; version 3's), "c3-12" or "c3-24" (C3's ``context_num_rows_cols``
    (2, 2) and (3, 3): 2 or 3 rows above, 5 or 7 wide, and 2 or 3 to the left)."""
    steps: int = 2400
    """full-image Adam steps with a proxy of the rounding (the bulk of the fit); with the
    straight-through steps, what a 512x512 image affords in the 10 minutes of the CPU's budget
    (docs/codec.md)."""
    quantizer: Literal["softround", "noise"] = "softround"
    """the noise stage's proxy of rounding: ``softround`` (C3, Kim et al. 2024, sec. 3.3: soft
    rounding, Kumaraswamy noise, soft rounding's conditional mean; :func:`quantize_latents`) or
    ``noise`` (uniform noise, Cool-chic v1)."""
    softround_temperature: Tuple[float, float] = (0.3, 0.1)
    """the soft rounding's temperature at the first and the last noise step, linear between
    (C3's ``soft_round_temp_start`` / ``_end``)."""
    kumaraswamy: Tuple[float, float] = (2.0, 1.0)
    """the Kumaraswamy noise's parameter a at the first and the last noise step, linear between
    (C3's ``kumaraswamy_init_value`` / ``_end_value``; 1 is uniform noise)."""
    latent_gain: float = 2.0
    """grid k's latents learn at ``latent_lr * latent_gain^k``: the gains ``2^k`` of Cool-chic and C3
    (latents multiplied by a fixed gain before quantisation) are, for Adam, this factor on the
    learning rate; 1: one rate for every grid."""
    grad_clip: float = 0.0
    """clip the gradient's global norm to this (C3: 0.1); 0: no clipping."""
    rate_search_tries: int = 0
    """with ``--bpp`` (no ``--lambda``): short fits that search lambda before the fit
    (``latent_fit.search_lambda``); 0: start from a fixed guess and rely on the in-fit controller
    (which lands as close and ends at a better image: the short fits misjudge the full fit's rate)."""
    rate_search_steps: int = 150
    """noise steps of each of those short fits."""
    mixed_quantization: bool = False
    """in the noise stage, the distortion of the rounded latents (straight-through) and only the rate
    of the noisy ones (the "mixed" quantisation of Minnen and Singh 2020); default: noise in both
    (Cool-chic v1), which fitted the shipped crops better (docs/codec.md)."""
    ste_steps: int = 300
    """then steps with rounded latents and a straight-through gradient (Cool-chic's, C3's last stage)."""
    lr: float = 1e-2
    """Adam learning rate of the networks in the noise stage (cosine decay to lr / 100)."""
    latent_lr: float = 1e-2
    """Adam learning rate of the finest grid's latents in the noise stage (cosine decay to latent_lr /
    100), grid k's ``latent_lr * latent_gain^k``: Adam's steps do not depend on a parameter's scale,
    so this sets how fast the latents can grow (C3's 1e-2 with its gains 2^k)."""
    ste_lr: float = 1e-4
    """Adam learning rate of the straight-through stage, latents and networks (cosine decay to ste_lr /
    100; C3's ``ste_init_lr``: 1e-3 undid what the noise stage had reached)."""
    weight_bits: int = 12
    """the largest integer of a quantised network weight is 2^(weight_bits-1) - 1; the step is the
    power of two of least rate + lambda distortion (:mod:`~vanilla_nerf_pe.codec.latent_fit`)."""
    seed: int = 0
    """seed of the networks' initialisation."""

    def check(self) -> None:
        if self.context not in CONTEXTS:
            raise InputError(f"--latent.context must be one of {', '.join(CONTEXTS)}, got {self.context!r}")
        if not 1 <= self.levels <= 12:
            raise InputError(f"--latent.levels must be in 1..12, got {self.levels}")
        for name, widths in (("synthesis-widths", self.synthesis_widths), ("arm-widths", self.arm_widths)):
            if any(not 1 <= w <= 255 for w in widths) or len(widths) > 8:
                raise InputError(f"--latent.{name}: at most 8 layers of 1..255 units, got {tuple(widths)}")
        if not 0 <= self.refine_blocks <= 8:
            raise InputError(f"--latent.refine-blocks must be in 0..8, got {self.refine_blocks}")
        if self.rate_search_tries < 0 or self.rate_search_steps < 1:
            raise InputError("--latent.rate-search-tries must be >= 0 and --latent.rate-search-steps >= 1")
        if self.steps < 0 or self.ste_steps < 0:
            raise InputError("--latent.steps and --latent.ste-steps must be >= 0")
        if not (self.lr > 0 and self.latent_lr > 0 and self.ste_lr > 0):
            raise InputError("--latent.lr, --latent.latent-lr and --latent.ste-lr must be > 0")
        if self.quantizer not in ("softround", "noise"):
            raise InputError(f"--latent.quantizer must be softround or noise, got {self.quantizer!r}")
        if min(self.softround_temperature) <= 0 or min(self.kumaraswamy) < 1 or self.latent_gain <= 0 or self.grad_clip < 0:
            raise InputError("--latent.softround-temperature and --latent.latent-gain must be > 0, --latent.kumaraswamy >= 1, "
                             "--latent.grad-clip >= 0")
        if not 4 <= self.weight_bits <= 16:
            raise InputError(f"--latent.weight-bits must be in 4..16, got {self.weight_bits}")


def grid_shapes(height: int, width: int, levels: int) -> List[Tuple[int, int]]:
    """``[(h_k, w_k)]``: ``ceil(H / 2^k) x ceil(W / 2^k)`` for k = 0..levels-1."""
    return [(-(-height // 2**k), -(-width // 2**k)) for k in range(levels)]


def mlp(in_dim: int, widths: Sequence[int], out_dim: int) -> nn.Sequential:
    """Linear layers ``in_dim -> widths... -> out_dim`` with ReLU between them."""
    layers: List[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(in_dim, w), nn.ReLU()]
        in_dim = w
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def linear_layers(network: nn.Sequential) -> List[nn.Linear]:
    return [m for m in network if isinstance(m, nn.Linear)]


class LatentImage(nn.Module):
    """The latent grids (``latents[k]`` ``[h_k, w_k]``), the synthesis MLP (K -> C) and the
    context model (T neighbours -> mean and log-scale), as in Cool-chic."""

    def __init__(self, config: LatentConfig, height: int, width: int, channels: int) -> None:
        super().__init__()
        self.config, self.height, self.width, self.channels = config, height, width, channels
        self.context = CONTEXTS[config.context]
        self.latents = nn.ParameterList([nn.Parameter(torch.zeros(h, w)) for h, w in grid_shapes(height, width, config.levels)])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.synthesis = mlp(config.levels, config.synthesis_widths, channels)
            self.refine = nn.ModuleList([nn.Conv2d(channels, channels, 3) for _ in range(2 * config.refine_blocks)])
            self.arm = mlp(self.context.size, config.arm_widths, 2)
        with torch.no_grad():  # start at mid-grey, with a broad latent distribution
            linear_layers(self.synthesis)[-1].bias.fill_(0.5)
            for conv in self.refine[1::2]:  # each block starts as the identity
                conv.weight.zero_()
                conv.bias.zero_()
            linear_layers(self.arm)[-1].bias.copy_(torch.tensor([0.0, 1.0]))

    def decode(self, latents: Sequence[Tensor]) -> Tensor:
        """The image ``[H, W, C]`` (not clamped) of the grids ``latents``: :meth:`decode_planes`, permuted."""
        return self.decode_planes(latents)[0].permute(1, 2, 0)

    def decode_planes(self, latents: Sequence[Tensor]) -> Tensor:
        """The image as planes ``[1, C, H, W]`` (channels-last in memory; not clamped):
        :func:`synthesize` then :func:`refine`."""
        return refine(synthesize(latents, self.synthesis, self.height, self.width), self.refine)

    def num_latents(self) -> int:
        return sum(p.numel() for p in self.latents)


def network_tensors(model: LatentImage) -> Dict[str, Tensor]:
    """The stored network tensors in file order: the synthesis MLP's, the refinement convolutions',
    then the context model's, each layer's weight then bias (``synthesis.0.weight``,
    ``synthesis.0.bias``, ..., ``refine.0.weight``, ..., ``arm.0.weight``, ...)."""
    out = {}
    for prefix, layers in (("synthesis", linear_layers(model.synthesis)), ("refine", list(model.refine)), ("arm", linear_layers(model.arm))):
        for i, layer in enumerate(layers):
            out[f"{prefix}.{i}.weight"], out[f"{prefix}.{i}.bias"] = layer.weight, layer.bias
    return out


def upsample(latents: Sequence[Tensor], height: int, width: int) -> Tensor:
    """Every grid bilinearly upsampled to ``height x width`` (``align_corners=False``), one row per
    grid: ``[K, H W]`` (contiguous, so that the synthesis is a matrix product with H W columns)."""
    planes = [g[None, None] if g.shape == (height, width) else
              F.interpolate(g[None, None], size=(height, width), mode="bilinear", align_corners=False) for g in latents]
    return torch.cat(planes, dim=1).reshape(len(latents), height * width)


def mlp_columns(network: nn.Sequential, x: Tensor) -> Tensor:
    """:func:`mlp`'s network on column vectors: ``x [in, N] -> [out, N]`` (``W x + b`` per layer,
    ReLU between), the same function as ``network(x.T).T``; one ``addmm`` per layer whose long
    dimension is N, several times faster on a CPU than the row layout's for narrow layers."""
    layers = linear_layers(network)
    for i, layer in enumerate(layers):
        x = torch.addmm(layer.bias[:, None], layer.weight, x)
        if i < len(layers) - 1:
            x = torch.relu(x)
    return x


def synthesize(latents: Sequence[Tensor], synthesis: nn.Sequential, height: int, width: int) -> Tensor:
    """The synthesis MLP on the upsampled latents of every pixel: planes ``[1, C, H, W]``
    (channels-last in memory, which the refinement convolutions run fastest on)."""
    out = mlp_columns(synthesis, upsample(latents, height, width))
    return out.reshape(1, -1, height, width).contiguous(memory_format=torch.channels_last)


def refine(planes: Tensor, convolutions: Sequence[nn.Module]) -> Tensor:
    """``planes [1, C, H, W]`` through residual blocks of two 3x3 convolutions
    (``x + conv(relu(conv(x)))``, replicate padding); the identity without convolutions."""
    x = planes
    for first, second in zip(convolutions[::2], convolutions[1::2]):
        inner = torch.relu(first(F.pad(x, (1, 1, 1, 1), mode="replicate")))
        x = x + second(F.pad(inner, (1, 1, 1, 1), mode="replicate"))
    return x


def context_columns(grid: Tensor, context: CausalContext) -> Tensor:
    """Each latent's ``context`` neighbours (0 outside the grid), one row per offset: ``[h, w] -> [T, h w]``."""
    h, w = grid.shape
    top, left, right = context.padding
    padded = F.pad(grid[None, None], (left, right, top, 0))[0, 0]
    views = [padded[top + di : top + di + h, left + dj : left + dj + w] for di, dj in context.offsets]
    return torch.stack(views, dim=0).reshape(context.size, h * w)


def laplace_bits(y: Tensor, mu: Tensor, log_scale: Tensor) -> Tensor:
    """``-log2 P(y)`` of integer-valued (or noisy) ``y`` under a Laplace of mean ``mu`` and scale
    ``exp(log_scale)`` discretised to unit bins ``[y - 1/2, y + 1/2]``; ``P`` at least
    ``2^-TABLE_PRECISION`` (what the coder's tables give the least likely symbol)."""
    low, high = log_scale_bounds()
    b = torch.exp(log_scale.clamp(low, high))
    t = y - mu
    # P = F(t + 1/2) - F(t - 1/2) written with the tail away from the mean, which stays accurate:
    # (each branch on clamped arguments, so the branch torch.where drops has finite gradients):
    near = torch.abs(t)
    inside = 1.0 - torch.exp(-0.5 / b) * torch.cosh(t.clamp(-0.5, 0.5) / b)  # |t| <= 1/2: the bin holds the mean
    outside = torch.exp(-(near.clamp_min(0.5) - 0.5) / b) * (1.0 - torch.exp(-1.0 / b)) / 2.0
    p = torch.where(near <= 0.5, inside, outside)
    return -torch.log2(p.clamp_min(2.0**-TABLE_PRECISION))


def latent_bits(latents: Sequence[Tensor], arm: nn.Sequential, context: CausalContext) -> Tensor:
    """The bits of every latent under the context model, summed: a scalar (differentiable)."""
    return latent_bits_each(latents, arm, context).sum()


def latent_bits_each(latents: Sequence[Tensor], arm: nn.Sequential, context: CausalContext) -> Tensor:
    """The bits of every latent under the context model reading ``context``, the grids' latents
    concatenated in order (each row-major): ``[N]``. One pass of the model over all grids'
    :func:`context_columns`."""
    contexts = torch.cat([context_columns(grid, context) for grid in latents], dim=1)
    out = mlp_columns(arm, contexts)
    return laplace_bits(torch.cat([grid.reshape(-1) for grid in latents]), out[0], out[1])


def soft_round(x: Tensor, temperature: float) -> Tensor:
    """The soft rounding of Agustsson and Theis 2020 (sec. 4.1; C3's ``soft_round``, Cool-chic's
    ``softround``): ``m + tanh((x - m) / t) / (2 tanh(1 / (2 t)))`` with ``m = floor(x) + 1/2``;
    elementwise, any shape. It tends to ``round`` as t -> 0 and to the identity as t -> inf, and
    agrees with both at the integers and half-integers."""
    m = torch.floor(x) + 0.5
    return m + torch.tanh((x - m) / temperature) / (2.0 * math.tanh(0.5 / temperature))


def soft_round_inverse(y: Tensor, temperature: float) -> Tensor:
    """The inverse of :func:`soft_round` (``soft_round(soft_round_inverse(y, t), t) == y``); any shape."""
    m = torch.floor(y) + 0.5
    return m + temperature * torch.atanh(((y - m) * 2.0 * math.tanh(0.5 / temperature)).clamp(-1 + 1e-6, 1 - 1e-6))


def kumaraswamy_noise(u: Tensor, a: float) -> Tensor:
    """``u ~ U(0, 1)`` (any shape) mapped through the inverse CDF of a Kumaraswamy(a, b) with
    ``b = (2^a (a - 1) + 1) / a`` (its mode at 1/2), minus 1/2: noise in ``(-1/2, 1/2)``, uniform at
    a = 1 and more peaked at 0 as a grows (C3, Kim et al. 2024, sec. 3.3; ``kumaraswamy_inv_cdf``)."""
    b = (2.0**a * (a - 1.0) + 1.0) / a
    return (1.0 - (1.0 - u) ** (1.0 / b)) ** (1.0 / a) - 0.5


def quantize_latents(latents: Sequence[Tensor], stage: str, generator: torch.Generator = None, temperature: float = 0.3,
                     noise_a: float = 1.0) -> List[Tensor]:
    """The latents as the fit sees them: ``noise`` adds ``U(-1/2, 1/2)`` (a differentiable proxy of
    rounding), ``softround`` is C3's ``r(s(x) + u)``: :func:`soft_round` at ``temperature``, plus
    :func:`kumaraswamy_noise` of parameter ``noise_a``, then the conditional mean
    ``soft_round_inverse(z - 1/2) + 1/2`` (Agustsson and Theis 2020; C3's ``quantize``), ``ste``
    rounds with the identity gradient (straight-through), ``hard`` rounds (what the file stores).
    Every stage clamps to +-LATENT_LIMIT."""
    out = []
    for grid in latents:
        grid = grid.clamp(-LATENT_LIMIT, LATENT_LIMIT)
        if stage == "noise":
            out.append(grid + torch.rand(grid.shape, generator=generator) - 0.5)
        elif stage == "softround":
            noisy = soft_round(grid, temperature) + kumaraswamy_noise(torch.rand(grid.shape, generator=generator), noise_a)
            out.append(soft_round_inverse(noisy - 0.5, temperature) + 0.5)
        elif stage == "ste":
            out.append(grid + (torch.round(grid) - grid).detach())
        elif stage == "hard":
            out.append(torch.round(grid).detach())
        else:
            raise InputError(f"unknown quantisation stage {stage!r}")
    return out


def macs_per_pixel(config: LatentConfig, height: int, width: int, channels: int) -> float:
    """The decoder's multiply-accumulates per pixel: the synthesis MLP, its refinement convolutions
    (9 C^2 each), the context model on every latent (about 4/3 per pixel) and the bilinear
    upsampling (4 per grid but the full-size one)."""
    def dense(n_in: int, widths: Sequence[int], n_out: int) -> int:
        dims = [n_in, *widths, n_out]
        return sum(a * b for a, b in zip(dims, dims[1:]))

    latents = sum(h * w for h, w in grid_shapes(height, width, config.levels))
    return (dense(config.levels, config.synthesis_widths, channels) + 4 * (config.levels - 1) + 18 * channels**2 * config.refine_blocks
            + dense(CONTEXTS[config.context].size, config.arm_widths, 2) * latents / (height * width))


__all__ = [
    "CONTEXTS",
    "CausalContext",
    "ContextName",
    "LatentConfig",
    "LatentImage",
    "VERSION3_CONTEXT",
    "context_columns",
    "grid_shapes",
    "laplace_bits",
    "latent_bits",
    "latent_bits_each",
    "linear_layers",
    "macs_per_pixel",
    "mlp",
    "mlp_columns",
    "network_tensors",
    "kumaraswamy_noise",
    "quantize_latents",
    "soft_round",
    "soft_round_inverse",
    "refine",
    "synthesize",
    "upsample",
]
