"""The three samplers behind one interface: where along each ray the field is evaluated.

A sampler is called as ``sampler(rays, field, background)`` with the scene's rays
(:class:`~vanilla_nerf_pe.nerf.spaces.SceneRays`: bounded, NDC or contracted, see
:mod:`vanilla_nerf_pe.nerf.spaces`) and returns :class:`Samples`: the final
bins that the model renders with its field (dense ``[R, n]`` or packed ``[N]``, see
:mod:`vanilla_nerf_pe.core.render`), plus what its losses and metrics need:

- ``levels``: the ``(t, w)`` of each proposal level, trained by the interlevel loss;
- ``passes``: earlier renderings trained against the pixel colour (NeRF's coarse pass);
- ``stats``: per-ray counts for the metrics (``num_samples``, ``evaluations_per_ray``, ...).

Dense samplers place their bins in the rays' normalised s in [0, 1] (mip-NeRF 360's s-space)
and map them to distances with the scene's spacing; the occupancy sampler marches in t (bounded,
forward-facing) or s (unbounded). The model holds no sampler-kind branches; each sampler's options live in its own config group
(``--pipeline.model.hierarchical.*``, ``.proposal.*``, ``.occupancy.*``).

- :class:`HierarchicalSampler`: NeRF's coarse + fine sampling (Mildenhall et al. 2020, sec. 5.2).
- :class:`ProposalSampler`: mip-NeRF 360's proposal networks (Barron et al. 2022, sec. 3).
- :class:`OccupancySampler`: Instant-NGP's occupancy grid (Müller et al. 2022; nerfacc), pure PyTorch.

The math lives in :mod:`vanilla_nerf_pe.core.stepfun`, :mod:`vanilla_nerf_pe.core.render` and
:mod:`vanilla_nerf_pe.core.occupancy`; this module holds the state (networks, grid) and the
train/eval behaviour (jitter in training, deterministic in evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Literal, Optional, Tuple, Union

import torch
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackLocation
from torch import Tensor, nn

from vanilla_nerf_pe.core import stepfun
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.occupancy import OccupancyGrid, march
from vanilla_nerf_pe.core.render import composite, per_sample, render_weights
from vanilla_nerf_pe.nerf.field import NeRFField
from vanilla_nerf_pe.nerf.losses import interlevel_loss
from vanilla_nerf_pe.nerf.spaces import SceneRays, SceneSpace

Background = Union[Tensor, Literal["last_sample"], None]
"""[R, 3] colours (or a [3] colour), "last_sample" (each ray's last bin), or None (composite on nothing)."""
FieldFactory = Callable[[Optional[int], Optional[int], bool], NeRFField]
"""(num_layers or None for the field's, width or None for the field's, with colour) -> a new field."""


@dataclass
class Samples:
    """A sampler's result for R rays (see the module docstring)."""

    t_starts: Tensor
    """[R, n] (dense) or [N] (packed) bin starts."""
    t_ends: Tensor
    """bin ends, shaped like t_starts."""
    near: Tensor
    """[R, 1] the rays' near bounds."""
    far: Tensor
    """[R, 1] the rays' far bounds."""
    ray_indices: Optional[Tensor] = None
    """[N] ray of each packed bin (sorted); None for dense bins."""
    s: Optional[Tensor] = None
    """[R, n + 1] dense bins' endpoints in the rays' normalised s (for the interlevel and distortion
    losses, which compare bins in s); None for packed bins."""
    levels: List[Tuple[Tensor, Tensor]] = field(default_factory=list)
    """(s [R, n_k + 1], w [R, n_k]) of each proposal level, for the interlevel loss."""
    passes: Dict[str, Dict[str, Tensor]] = field(default_factory=dict)
    """earlier renderings ({"rgb", "depth", "accumulation"}) by name, each trained on the pixel colour."""
    stats: Dict[str, Tensor] = field(default_factory=dict)
    """per-ray statistics [R, 1]: "num_samples" (bins rendered) and "evaluations_per_ray" always."""
    density_and_feature: Optional[Tuple[Tensor, Tensor]] = None
    """sigma [..., 1] and feature [..., W] of the final field at the bins, where the sampler has
    evaluated them already (the occupancy sampler's early termination), so that they are not
    evaluated twice; None: the model evaluates the field."""


def last_sample_colour(rgb: Tensor, ray_indices: Optional[Tensor], num_rays: int) -> Tensor:
    """[R, 3] the colour of each ray's last bin (rgb [R, n, 3] dense or [N, 3] packed); black for a
    packed ray without bins."""
    if ray_indices is None:
        return rgb[..., -1, :]
    last = torch.full((num_rays,), -1, dtype=torch.long, device=rgb.device)
    last = last.scatter_reduce(0, ray_indices, torch.arange(len(ray_indices), device=rgb.device), reduce="amax")
    return torch.where((last >= 0)[:, None], rgb[last.clamp_min(0)], torch.zeros(num_rays, 3, device=rgb.device, dtype=rgb.dtype))


def render_bins(
    field: NeRFField,
    rays: SceneRays,
    t_starts: Tensor,
    t_ends: Tensor,
    far: Tensor,
    background: Background,
    ray_indices: Optional[Tensor] = None,
    density_and_feature: Optional[Tuple[Tensor, Tensor]] = None,
) -> Dict[str, Tensor]:
    """Evaluate ``field`` on the bins (or take its ``density_and_feature`` there, already evaluated)
    and composite: {"rgb", "depth", "accumulation", "weights"}."""
    num_rays = far.shape[0]
    if density_and_feature is None:
        density_and_feature = field.density_and_feature(rays.positions(t_starts, t_ends, ray_indices))
    sigma, feature = density_and_feature
    sample_shape = feature.shape[:-1]
    directions = per_sample(rays.viewdirs, sample_shape, ray_indices)
    if rays.appearance is None:
        rgb = field.color(feature, directions)
    else:  # each sample gets its ray's appearance code (vanilla_nerf_pe.nerf.appearance)
        rgb = field.color(feature, directions, per_sample(rays.appearance, sample_shape, ray_indices))
    w, _ = render_weights(sigma[..., 0], t_starts, t_ends, ray_indices, num_rays)
    bg = last_sample_colour(rgb, ray_indices, num_rays) if isinstance(background, str) else background
    return {**composite(w, rgb, t_starts, t_ends, far, bg, ray_indices, num_rays), "weights": w}


def _per_ray(value: float, like: Tensor) -> Tensor:
    return torch.full_like(like, float(value))


class Sampler(nn.Module):
    """The interface of :class:`HierarchicalSampler`, :class:`ProposalSampler` and :class:`OccupancySampler`."""

    def forward(self, rays: SceneRays, field: NeRFField, background: Background) -> Samples:
        raise NotImplementedError

    def losses(self, samples: Samples, s: Tensor, w: Tensor) -> Dict[str, Tensor]:
        """The sampler's own losses, given the final bins s [R, n + 1] and weights w [R, n] (none by default)."""
        return {}

    def training_callbacks(self, field: NeRFField, space: SceneSpace) -> List[TrainingCallback]:
        """Callbacks that keep the sampler's state up to date during training (none by default)."""
        return []


# --------------------------------------------------------------------------------------------------
# Hierarchical sampling (NeRF)
# --------------------------------------------------------------------------------------------------


@dataclass
class HierarchicalSamplerConfig:
    """NeRF's hierarchical sampling: a coarse field on stratified bins, the fine field on coarse +
    importance bins drawn from the coarse weights."""

    num_coarse_samples: int = 64
    """stratified bins per ray for the coarse field."""
    num_importance_samples: int = 128
    """bins per ray drawn from the coarse weights; the fine field sees coarse + these."""
    coarse_num_layers: Optional[int] = None
    """trunk depth of the coarse field; None: the fine field's (the paper)."""
    coarse_width: Optional[int] = None
    """trunk width of the coarse field; None: the fine field's (the paper)."""

    def setup(self, make_field: FieldFactory) -> "HierarchicalSampler":
        if min(self.num_coarse_samples, self.num_importance_samples) < 1:
            raise InputError("--pipeline.model.hierarchical.num-coarse-samples and num-importance-samples must be >= 1")
        return HierarchicalSampler(self, make_field(self.coarse_num_layers, self.coarse_width, True))


class HierarchicalSampler(Sampler):
    """See :class:`HierarchicalSamplerConfig`; the coarse pass is rendered here and returned as
    ``passes["coarse"]`` (trained against the pixel colour like the fine pass)."""

    def __init__(self, config: HierarchicalSamplerConfig, coarse_field: NeRFField, padding: float = 1e-5) -> None:
        super().__init__()
        self.config = config
        self.coarse_field = coarse_field
        self.padding = padding

    def forward(self, rays: SceneRays, field: NeRFField, background: Background) -> Samples:
        near, far = rays.near, rays.far
        s = stepfun.stratified_t(torch.zeros_like(near), torch.ones_like(far), self.config.num_coarse_samples, jitter=self.training)
        t = rays.s_to_t(s)
        coarse = render_bins(self.coarse_field, rays, t[..., :-1], t[..., 1:], far, background)
        s_new = stepfun.sample_pdf(s, coarse["weights"], self.config.num_importance_samples, jitter=self.training, padding=self.padding)
        s_fine = stepfun.merge_t(s.detach(), s_new)
        t_fine = rays.s_to_t(s_fine)
        # the fine pass renders the coarse bins and the importance bins; the coarse field was evaluated too
        rendered = self.config.num_coarse_samples + self.config.num_importance_samples
        return Samples(
            t_fine[..., :-1], t_fine[..., 1:], near, far, s=s_fine,
            passes={"coarse": {k: coarse[k] for k in ("rgb", "depth", "accumulation")}},
            stats={
                "num_samples": _per_ray(rendered, near),
                "evaluations_per_ray": _per_ray(rendered + self.config.num_coarse_samples, near),
            },
        )


# --------------------------------------------------------------------------------------------------
# Proposal sampling (mip-NeRF 360)
# --------------------------------------------------------------------------------------------------


@dataclass
class ProposalSamplerConfig:
    """mip-NeRF 360's proposal networks: small density-only fields that choose the NeRF's bins."""

    num_proposal_samples_per_ray: Tuple[int, ...] = (64,)
    """bins per ray of each proposal network (one network per entry)."""
    num_nerf_samples_per_ray: int = 32
    """bins per ray of the NeRF field."""
    num_layers: int = 2
    """trunk depth of each proposal network."""
    width: int = 64
    """trunk width of each proposal network."""
    interlevel_loss_mult: float = 1.0
    """weight of the interlevel loss that trains the proposal networks."""

    def setup(self, make_field: FieldFactory) -> "ProposalSampler":
        counts = list(self.num_proposal_samples_per_ray) + [self.num_nerf_samples_per_ray]
        if not self.num_proposal_samples_per_ray or min(counts) < 1:
            raise InputError(
                "--pipeline.model.proposal.num-proposal-samples-per-ray needs at least one entry, and every sample count "
                f"must be >= 1 (got {list(self.num_proposal_samples_per_ray)} and {self.num_nerf_samples_per_ray})"
            )
        networks = [make_field(self.num_layers, self.width, False) for _ in self.num_proposal_samples_per_ray]
        return ProposalSampler(self, networks)


class ProposalSampler(Sampler):
    """mip-NeRF 360's online distillation (Barron et al. 2022, sec. 3).

    ``num_samples[0]`` stratified bins between near and far go through the first proposal network;
    the PDF of its weights gives the bins of the next level, and the last proposal's weights give
    the NeRF's bins. Unlike NeRF's hierarchy the bins are *resampled*, not merged, and every
    proposal is trained only by the interlevel loss against the NeRF's weights (``levels``).
    """

    def __init__(self, config: ProposalSamplerConfig, networks: List[NeRFField]) -> None:
        super().__init__()
        self.config = config
        self.networks = nn.ModuleList(networks)

    def forward(self, rays: SceneRays, field: NeRFField, background: Background) -> Samples:
        near, far = rays.near, rays.far
        counts = self.config.num_proposal_samples_per_ray
        s = stepfun.stratified_t(torch.zeros_like(near), torch.ones_like(far), counts[0], jitter=self.training)
        levels = []
        for network, n_next in zip(self.networks, list(counts[1:]) + [self.config.num_nerf_samples_per_ray]):
            t = rays.s_to_t(s)
            sigma = network.density(rays.positions(t[..., :-1], t[..., 1:]))[..., 0]
            w, _ = render_weights(sigma, t[..., :-1], t[..., 1:])
            levels.append((s, w))
            # n_next + 1 endpoints make n_next bins; sample_pdf detaches s and w (no gradient
            # through the resampling, as in the paper). The interlevel loss compares the levels in s.
            s = stepfun.sample_pdf(s, w, n_next + 1, jitter=self.training)
        t = rays.s_to_t(s)
        n = _per_ray(self.config.num_nerf_samples_per_ray, near)
        return Samples(
            t[..., :-1], t[..., 1:], near, far, s=s, levels=levels,
            stats={"num_samples": n, "evaluations_per_ray": n + sum(counts)},
        )

    def losses(self, samples: Samples, s: Tensor, w: Tensor) -> Dict[str, Tensor]:
        if self.config.interlevel_loss_mult <= 0:
            return {}
        return {"interlevel_loss": self.config.interlevel_loss_mult * interlevel_loss(s, w, samples.levels)}


# --------------------------------------------------------------------------------------------------
# Occupancy-grid sampling (Instant-NGP, nerfacc)
# --------------------------------------------------------------------------------------------------


@dataclass
class OccupancySamplerConfig:
    """Marching through an occupancy grid over the scene box, packed bins, early ray termination."""

    grid_resolution: int = 64
    """cells per side of the grid over the scene's unit box (the scene box, NDC or contracted space)."""
    render_step_size: Optional[float] = None
    """marching step: in world units for bounded scenes, in NDC depth (0 to 1) for forward-facing
    ones, in s (0 to 1) for unbounded ones. None: that range (bounded: the box's diagonal) in
    ``num_marching_steps`` steps."""
    num_marching_steps: int = 512
    """steps across the range when render_step_size is None (512: 0.0101 for Blender's box)."""
    grid_update_every: int = 16
    """training steps between grid updates."""
    grid_warmup_steps: int = 256
    """steps during which every cell is re-evaluated at each update."""
    grid_occupancy_threshold: float = 0.01
    """a cell is empty below this opacity (sigma * render_step_size)."""
    early_stop_eps: float = 1e-4
    """transmittance below which a ray stops (0: no early termination)."""
    alpha_threshold: float = 0.0
    """samples with a smaller opacity are skipped (0: none)."""

    def setup(self, make_field: FieldFactory) -> "OccupancySampler":
        if (
            (self.render_step_size is not None and self.render_step_size <= 0)
            or min(self.grid_resolution, self.grid_update_every, self.num_marching_steps) < 1
        ):
            raise InputError(
                "--pipeline.model.occupancy.render-step-size must be > 0, grid-resolution, grid-update-every and "
                "num-marching-steps >= 1"
            )
        return OccupancySampler(self)


class OccupancySampler(Sampler):
    """Bins of ``render_step_size`` in the occupied cells of an :class:`~vanilla_nerf_pe.core.occupancy.OccupancyGrid`,
    packed; the field's density on them drops the bins behind the point where the transmittance
    falls below ``early_stop_eps`` (and those with opacity below ``alpha_threshold``), and the kept
    bins' density and feature go on to the rendering (``Samples.density_and_feature``)."""

    def __init__(self, config: OccupancySamplerConfig) -> None:
        super().__init__()
        self.config = config
        self.grid = OccupancyGrid(config.grid_resolution)

    def step_size(self, space: SceneSpace) -> float:
        """The marching step in the space's marching coordinate (see ``render_step_size``)."""
        if self.config.render_step_size is not None:
            return self.config.render_step_size
        return space.marching_extent() / self.config.num_marching_steps

    @property
    def early_pass(self) -> bool:
        return self.config.early_stop_eps > 0 or self.config.alpha_threshold > 0

    def forward(self, rays: SceneRays, field: NeRFField, background: Background) -> Samples:
        cfg = self.config
        near, far = rays.near, rays.far
        num_rays = near.shape[0]
        space = rays.space
        # the marching coordinate m is the space's (t where unit coordinates are affine in t, else s)
        m_min, m_max = space.march_range(rays)
        ray_indices, m_starts, m_ends = march(
            m_min, m_max, self.step_size(space), self.training, self.grid.occupied, space.marching_positions(rays)
        )
        t_starts = space.marching_to_t(m_starts, near[ray_indices, 0], far[ray_indices, 0])
        t_ends = space.marching_to_t(m_ends, near[ray_indices, 0], far[ray_indices, 0])
        marched = torch.zeros_like(near).index_add_(0, ray_indices, torch.ones_like(t_starts)[:, None])
        evaluated = None
        if self.early_pass and ray_indices.numel() > 0:
            # One evaluation of every marched bin serves both the early termination and the
            # rendering: the kept bins' density and feature (with their gradient in training) go
            # to the model, instead of a no-gradient pass here and a second pass on the kept bins.
            sigma, feature = field.density_and_feature(rays.positions(t_starts, t_ends, ray_indices))
            with torch.no_grad():
                _, trans = render_weights(sigma[..., 0], t_starts, t_ends, ray_indices, num_rays)
                alpha = 1.0 - torch.exp(-sigma[..., 0] * (t_ends - t_starts))
                keep = (trans > cfg.early_stop_eps) & (alpha >= cfg.alpha_threshold)
            ray_indices, t_starts, t_ends = ray_indices[keep], t_starts[keep], t_ends[keep]
            evaluated = (sigma[keep], feature[keep])
        samples = torch.zeros_like(near).index_add_(0, ray_indices, torch.ones_like(t_starts)[:, None])
        stats = {
            "num_samples": samples,
            "evaluations_per_ray": marched,
            "marched_per_ray": marched,
        }
        if self.training:  # a reduction over the whole grid: for the training metrics only, not per eval chunk
            stats["occupied_fraction"] = _per_ray(self.grid.occupied_fraction(), near)
        return Samples(t_starts, t_ends, near, far, ray_indices=ray_indices, stats=stats, density_and_feature=evaluated)

    def update_grid(self, field: NeRFField, space: SceneSpace, step: int) -> None:
        cfg = self.config
        step_size = self.step_size(space)
        with torch.no_grad():
            self.grid.update(
                lambda unit: field.density(unit)[..., 0] * space.step_length(unit, step_size),
                all_cells=step < cfg.grid_warmup_steps,
                threshold=cfg.grid_occupancy_threshold,
            )

    def training_callbacks(self, field: NeRFField, space: SceneSpace) -> List[TrainingCallback]:
        return [
            TrainingCallback(
                where_to_run=[TrainingCallbackLocation.BEFORE_TRAIN_ITERATION],
                update_every_num_iters=self.config.grid_update_every,
                func=lambda step: self.update_grid(field, space, step),
            )
        ]


SamplerConfig = Union[HierarchicalSamplerConfig, ProposalSamplerConfig, OccupancySamplerConfig]
