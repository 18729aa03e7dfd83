"""Image metrics: PSNR, SSIM, and LPIPS only where its weights are already on this machine.

Images are ``[H, W, 3]`` (or ``[N, 3]`` for PSNR) in [0, 1]. LPIPS (Zhang et al. 2018) needs
torchvision's AlexNet weights; torchmetrics downloads them when the metric is constructed, which
fails offline. :func:`lpips_metric` therefore builds it only if the file is in torch's hub cache,
and otherwise warns once and returns None, so training and ``ns-eval`` run with no network.
The metric object is never a submodule of a model: checkpoints do not depend on its presence.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Callable, Optional, cast

import torch
from torch import Tensor


def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB for data range 1: ``-10 log10(mean((pred - target)^2))``."""
    mse = torch.mean((pred - target) ** 2)
    return -10.0 * torch.log10(mse.clamp_min(1e-10))


def ssim(pred: Tensor, target: Tensor) -> Tensor:
    """SSIM (Wang et al. 2004, 11x11 Gaussian window) of two [H, W, 3] images, data range 1."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    value = structural_similarity_index_measure(
        pred.permute(2, 0, 1)[None], target.permute(2, 0, 1)[None], data_range=1.0
    )
    return cast(Tensor, value)  # a tensor for one pair of images (a tuple only with return_full_image)


def alexnet_weights_path() -> Path:
    """Where torchvision keeps (and torchmetrics' LPIPS looks for) the AlexNet weights."""
    from torchvision.models import AlexNet_Weights

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(AlexNet_Weights.DEFAULT.url)


@functools.lru_cache(maxsize=None)
def _lpips_module(device: str) -> Optional[torch.nn.Module]:
    path = alexnet_weights_path()
    if not path.is_file():
        warnings.warn(
            f"LPIPS skipped: its AlexNet weights are not at {path} and this project makes no network calls; "
            "put the file there to get LPIPS in ns-eval.",
            stacklevel=3,
        )
        return None
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    return LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True).to(device).eval()


def lpips_metric(device: torch.device | str = "cpu") -> Optional[Callable[[Tensor, Tensor], Tensor]]:
    """LPIPS (AlexNet) of two [H, W, 3] images in [0, 1], or None (with one warning) when unavailable."""
    module = _lpips_module(str(device))
    if module is None:
        return None

    def metric(pred: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            return module(pred.permute(2, 0, 1)[None].clamp(0, 1), target.permute(2, 0, 1)[None].clamp(0, 1))

    return metric


import numpy as np  # noqa: E402  (appended with psnr_uint8: the rest of the module is torch only)


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`psnr` of two uint8 arrays of one shape (e.g. ``[H, W, C]``), computed in float64 on
    values ``/ 255`` (100 dB for identical arrays)."""
    return float(psnr(torch.from_numpy(a).double() / 255.0, torch.from_numpy(b).double() / 255.0))
