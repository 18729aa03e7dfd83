"""The three samplers of the model: where along each ray the field is evaluated.

The math lives in :mod:`vanilla_nerf_pe.stepfun` (stratified bins, inverse-CDF resampling),
:mod:`vanilla_nerf_pe.render` (weights) and :mod:`vanilla_nerf_pe.occupancy` (grid, marching);
these modules hold the state (networks, grid) and the train/eval behaviour (jitter in training,
deterministic in evaluation). Dense samplers return bin endpoints ``t`` ``[num_rays, n + 1]``; the
occupancy sampler returns packed bins.

- :class:`StratifiedSampler` + :class:`PDFSampler`: NeRF's hierarchical sampling (coarse, fine).
- :class:`ProposalSampler`: mip-NeRF 360's proposal networks (Barron et al. 2022).
- :class:`OccupancySampler`: Instant-NGP's occupancy grid (Müller et al. 2022), pure PyTorch.
"""

from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

import torch
from nerfstudio.cameras.rays import RayBundle
from torch import Tensor, nn

from vanilla_nerf_pe import stepfun
from vanilla_nerf_pe.occupancy import OccupancyGrid, march
from vanilla_nerf_pe.render import compute_weights, compute_weights_packed

DensityFn = Callable[[Tensor], Tensor]


def near_far(ray_bundle: RayBundle) -> Tuple[Tensor, Tensor]:
    """The bundle's nears and fars [num_rays, 1], set by the model's collider."""
    if ray_bundle.nears is None or ray_bundle.fars is None:
        raise ValueError("the samplers need nears and fars on the ray bundle (enable the collider)")
    return ray_bundle.nears, ray_bundle.fars


def bin_positions(ray_bundle: RayBundle, t: Tensor) -> Tensor:
    """World positions [num_rays, n, 3] of the midpoints of bins t [num_rays, n + 1]."""
    t_mid = 0.5 * (t[..., 1:] + t[..., :-1])
    return ray_bundle.origins[..., None, :] + ray_bundle.directions[..., None, :] * t_mid[..., None]


class StratifiedSampler(nn.Module):
    """Stratified sampling between each ray's near and far (NeRF's coarse pass)."""

    def __init__(self, num_samples: int) -> None:
        super().__init__()
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = num_samples

    def forward(self, ray_bundle: RayBundle) -> Tensor:
        """Bin endpoints t [num_rays, num_samples + 1]."""
        near, far = near_far(ray_bundle)
        return stepfun.stratified_t(near, far, self.num_samples, jitter=self.training)


class PDFSampler(nn.Module):
    """Hierarchical resampling (NeRF section 5.2): draw ``num_samples`` distances from the PDF of the
    coarse weights and merge them with the coarse endpoints, giving ``n + num_samples`` bins."""

    def __init__(self, num_samples: int, padding: float = 1e-5) -> None:
        super().__init__()
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = num_samples
        self.padding = padding

    def forward(self, t: Tensor, w: Tensor) -> Tensor:
        """Fine endpoints [num_rays, n + num_samples + 1] from coarse t [num_rays, n + 1] and w [num_rays, n]."""
        s = stepfun.sample_pdf(t, w, self.num_samples, jitter=self.training, padding=self.padding)
        return stepfun.merge_t(t.detach(), s)


class ProposalSampler(nn.Module):
    """mip-NeRF 360's online distillation (Barron et al. 2022, sec. 3).

    ``num_samples[0]`` stratified bins between near and far go through the first proposal network;
    the PDF of its weights gives ``num_samples[1]`` bins for the second (if any), and so on; the last
    proposal's weights give the ``num_nerf_samples`` bins of the NeRF. Unlike NeRF's hierarchy the bins
    are *resampled*, not merged, and every proposal is a small density-only network trained only by
    :func:`~vanilla_nerf_pe.stepfun.interlevel_loss` against the NeRF's weights.

    Args:
        proposal_networks: one density-only field per level (a module with ``density``: positions
            [..., 3] -> sigma [..., 1], e.g. a :class:`~vanilla_nerf_pe.fields.NeRFField` without colour).
        num_samples: bins per ray for each proposal level.
        num_nerf_samples: bins per ray for the NeRF.
    """

    def __init__(self, proposal_networks: Sequence[nn.Module], num_samples: Sequence[int], num_nerf_samples: int) -> None:
        super().__init__()
        if len(proposal_networks) != len(num_samples) or not num_samples:
            raise ValueError(
                f"the proposal sampler needs one sample count per proposal network, got {len(num_samples)} counts "
                f"for {len(proposal_networks)} networks"
            )
        if min(list(num_samples) + [num_nerf_samples]) < 1:
            raise ValueError(f"sample counts must be >= 1, got {list(num_samples)} and {num_nerf_samples}")
        self.networks = nn.ModuleList(proposal_networks)
        self.num_samples = tuple(num_samples)
        self.num_nerf_samples = num_nerf_samples

    def forward(self, ray_bundle: RayBundle) -> Tuple[Tensor, List[Tuple[Tensor, Tensor]]]:
        """The NeRF's bin endpoints [num_rays, num_nerf_samples + 1] and each proposal's (t, w)."""
        near, far = near_far(ray_bundle)
        t = stepfun.stratified_t(near, far, self.num_samples[0], jitter=self.training)
        levels = []
        next_counts = list(self.num_samples[1:]) + [self.num_nerf_samples]
        for network, n_next in zip(self.networks, next_counts):
            sigma = network.density(bin_positions(ray_bundle, t))[..., 0]
            w, _ = compute_weights(sigma, t)
            levels.append((t, w))
            # n_next + 1 endpoints make n_next bins; sample_pdf detaches t and w (no gradient
            # through the resampling, as in the paper).
            t = stepfun.sample_pdf(t, w, n_next + 1, jitter=self.training)
        return t, levels


class OccupancySampler(nn.Module):
    """Marching through an :class:`~vanilla_nerf_pe.occupancy.OccupancyGrid` with early termination.

    Args:
        aabb: [2, 3] the scene box the grid covers.
        resolution: grid cells per side.
        step_size: marching step (world units).
        early_stop_eps: samples behind the point where the transmittance falls below this are
            dropped (a no-gradient density pass decides); 0 keeps every occupied sample.
        alpha_threshold: samples whose opacity is below this are dropped too (0: none).
    """

    def __init__(self, aabb: Tensor, resolution: int, step_size: float, early_stop_eps: float = 1e-4, alpha_threshold: float = 0.0) -> None:
        super().__init__()
        if step_size <= 0:
            raise ValueError(f"render_step_size must be > 0, got {step_size}")
        self.grid = OccupancyGrid(aabb, resolution)
        self.step_size = step_size
        self.early_stop_eps = early_stop_eps
        self.alpha_threshold = alpha_threshold

    def forward(self, ray_bundle: RayBundle, density_fn: DensityFn) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Packed bins to render: ray_indices, t_starts, t_ends [N]; and the count of marched
        (occupied) bins per ray [num_rays, 1], each of which cost one density evaluation."""
        near, far = near_far(ray_bundle)
        origins, directions = ray_bundle.origins, ray_bundle.directions
        ray_indices, t_starts, t_ends = march(
            origins, directions, near, far, self.grid.aabb, self.grid.occupied, self.step_size, jitter=self.training
        )
        marched = torch.zeros(origins.shape[0], 1, device=origins.device).index_add_(
            0, ray_indices, torch.ones_like(t_starts)[:, None]
        )
        if (self.early_stop_eps > 0 or self.alpha_threshold > 0) and ray_indices.numel() > 0:
            with torch.no_grad():
                positions = origins[ray_indices] + directions[ray_indices] * (0.5 * (t_starts + t_ends))[:, None]
                sigma = density_fn(positions)[..., 0]
                w, trans = compute_weights_packed(sigma, t_starts, t_ends, ray_indices)
                alpha = 1.0 - torch.exp(-sigma * (t_ends - t_starts))
                keep = (trans > self.early_stop_eps) & (alpha >= self.alpha_threshold)
            ray_indices, t_starts, t_ends = ray_indices[keep], t_starts[keep], t_ends[keep]
        return ray_indices, t_starts, t_ends, marched

    def update_grid(self, density_fn: DensityFn, all_cells: bool, threshold: float = 0.01, decay: float = 0.95) -> None:
        self.grid.update(density_fn, self.step_size, all_cells=all_cells, threshold=threshold, decay=decay)
