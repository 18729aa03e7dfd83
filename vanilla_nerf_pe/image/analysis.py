"""What a fitted image field looks like beyond its colours: derivatives and structural similarity.

:func:`gradient_and_laplacian` differentiates the field itself (autograd, the quantities of SIREN's
figure 1, Sitzmann et al. 2020); :func:`finite_difference_derivatives` is the ground-truth
counterpart from the image's pixels; :func:`image_ssim` scores a reconstruction. Images and
coordinates follow :mod:`vanilla_nerf_pe.image.field`'s conventions.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
import torch
from torch import Tensor, nn

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.metrics import ssim
from vanilla_nerf_pe.image.field import pixel_grid
from vanilla_nerf_pe.image.fit import _model_device


def gradient_and_laplacian(model: nn.Module, H: int, W: int, chunk: int = 16384) -> Tuple[Tensor, Tensor]:
    """Gradient norm and Laplacian of a fitted field on the ``H x W`` pixel grid, by autograd.

    The quantities of SIREN's figure 1 (Sitzmann et al. 2020, "Implicit Neural Representations
    with Periodic Activation Functions"): for the grayscale value ``g(x, y) = mean_c f_c(x, y)``
    of the field ``f = model``,

    * ``grad_norm[i, j] = |grad_xy g| = sqrt(g_x^2 + g_y^2)``,
    * ``laplacian[i, j] = g_xx + g_yy``,

    at the pixel centres ``pixel_grid(H, W)[i, j] = (x_j, y_i)``. Derivatives are taken with
    respect to the [-1, 1] coordinates of :func:`~vanilla_nerf_pe.image.field.pixel_grid` (so one
    pixel is ``2 / W`` wide). Works for any module mapping ``coords [..., 2] -> [..., C]``: for the
    ReLU networks (``none``, ``pe``, ``fourier``) the second derivatives of the piecewise-linear
    part vanish almost everywhere, so ``none`` has a Laplacian of (numerically) zero.

    Args:
        model: an :class:`~vanilla_nerf_pe.image.field.ImageField` or any module with the same call signature.
        H, W: grid size.
        chunk: the most pixels differentiated at once (bounds memory; the result does not depend on it).

    Returns:
        ``(grad_norm [H, W], laplacian [H, W])``, float32, detached, on the CPU; the model's
        parameter gradients (``.grad``) are left untouched.
    """
    if chunk < 1:
        raise InputError(f"chunk must be >= 1, got {chunk}")
    device = _model_device(model)
    coords = pixel_grid(H, W).reshape(-1, 2)
    norms, laps = [], []
    with torch.enable_grad():
        for i in range(0, coords.shape[0], chunk):
            c = coords[i : i + chunk].to(device).requires_grad_(True)
            g = model(c).mean(dim=-1)  # [n] grayscale value
            (grad,) = torch.autograd.grad(g.sum(), c, create_graph=True)  # [n, 2]
            lap = torch.zeros(c.shape[0], device=device)
            if grad.requires_grad:  # False when the field is (piecewise) linear in the coordinates
                for d in range(2):
                    (second,) = torch.autograd.grad(grad[:, d].sum(), c, retain_graph=d == 0, allow_unused=True)
                    if second is not None:
                        lap = lap + second[:, d].detach()
            norms.append(grad.detach().norm(dim=-1).cpu())
            laps.append(lap.cpu())
    return torch.cat(norms).reshape(H, W).float(), torch.cat(laps).reshape(H, W).float()


def finite_difference_derivatives(image: Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """Ground-truth counterpart of :func:`gradient_and_laplacian` by finite differences.

    For ``image [H, W, C]`` (grayscale value = mean over channels) on the pixel grid of spacing
    ``hx = 2 / W``, ``hy = 2 / H`` (the [-1, 1] units of :func:`~vanilla_nerf_pe.image.field.pixel_grid`):

    * gradient norm from ``np.gradient`` (central differences inside, one-sided at the border);
    * the 5-point discrete Laplacian ``(g[i, j-1] - 2 g + g[i, j+1]) / hx^2 + (g[i-1, j] - 2 g + g[i+1, j]) / hy^2``
      with edge-replicated borders.

    Returns ``(grad_norm [H, W], laplacian [H, W])`` as float64 arrays.
    """
    if image.ndim != 3:
        raise InputError(f"image must be [H, W, C], got shape {tuple(image.shape)}")
    g = image.detach().double().mean(dim=-1).cpu().numpy()
    H, W = g.shape
    hx, hy = 2.0 / W, 2.0 / H
    gy = np.gradient(g, hy, axis=0) if H > 1 else np.zeros_like(g)
    gx = np.gradient(g, hx, axis=1) if W > 1 else np.zeros_like(g)
    p = np.pad(g, 1, mode="edge")
    lap = (p[1:-1, :-2] - 2 * g + p[1:-1, 2:]) / hx**2 + (p[:-2, 1:-1] - 2 * g + p[2:, 1:-1]) / hy**2
    return np.hypot(gx, gy), lap


def image_ssim(pred: Tensor, target: Tensor) -> float:
    """:func:`vanilla_nerf_pe.core.metrics.ssim` of ``pred`` (clamped to [0, 1]) and ``target``,
    both ``[H, W, 1|3]``; a grayscale pair is repeated to three channels."""
    if pred.shape[-1] == 1:
        pred, target = pred.repeat(1, 1, 3), target.repeat(1, 1, 3)
    return float(ssim(pred.clamp(0.0, 1.0), target))


__all__ = ["finite_difference_derivatives", "gradient_and_laplacian", "image_ssim"]
