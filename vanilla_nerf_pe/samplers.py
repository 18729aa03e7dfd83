"""nerfstudio glue for the samplers of :mod:`vanilla_nerf_pe.stepfun`.

The math (stratified bins, inverse-CDF resampling) lives in ``stepfun``; these classes only turn
bin endpoints ``t`` of shape ``[num_rays, n + 1]`` into nerfstudio ``RaySamples`` (bins
``[num_rays, n, 1]``), so fields and the viewer see the usual data type.
"""

from __future__ import annotations

from nerfstudio.cameras.rays import RayBundle, RaySamples
from torch import Tensor, nn

from vanilla_nerf_pe import stepfun


def ray_samples_from_t(ray_bundle: RayBundle, t: Tensor) -> RaySamples:
    """RaySamples for bins between consecutive endpoints t [num_rays, n + 1]."""
    return ray_bundle.get_ray_samples(bin_starts=t[..., :-1, None], bin_ends=t[..., 1:, None])


class StratifiedSampler(nn.Module):
    """Stratified sampling between each ray's near and far (NeRF's coarse pass).

    Jittered while the module is in training mode, evenly spaced in evaluation.
    """

    def __init__(self, num_samples: int) -> None:
        super().__init__()
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = num_samples

    def forward(self, ray_bundle: RayBundle) -> Tensor:
        """Bin endpoints t [num_rays, num_samples + 1] (the model wraps them as RaySamples)."""
        if ray_bundle.nears is None or ray_bundle.fars is None:
            raise ValueError("StratifiedSampler needs nears and fars on the ray bundle (enable the collider)")
        return stepfun.stratified_t(ray_bundle.nears, ray_bundle.fars, self.num_samples, jitter=self.training)


class PDFSampler(nn.Module):
    """Hierarchical resampling (NeRF section 5.2): draw ``num_samples`` distances from the PDF of the
    coarse weights and merge them with the coarse endpoints, giving ``n + num_samples`` bins.
    Stratified-random u in training, deterministic in evaluation."""

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
