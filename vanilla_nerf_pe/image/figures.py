"""The figures of ``vnp-image compare`` (matplotlib, written as PNG files, no display needed).

* :func:`save_comparison`: the original and every reconstruction side by side;
* :func:`save_psnr_curves`: PSNR against step, one line per kind;
* :func:`save_speed_and_size`: PSNR against seconds of fitting and against the stored size (bits
  per pixel: a field's float16 weights, a codec's file): the quality per second and the cost as a
  compressed image;
* :func:`save_siren_derivatives`: SIREN's figure 1 (Sitzmann et al. 2020): the gradient norm and
  Laplacian of a fitted field (autograd) next to the ground truth's (finite differences).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from vanilla_nerf_pe.image.analysis import finite_difference_derivatives, gradient_and_laplacian  # noqa: E402

SIREN_DERIVATIVE_FILES = ("siren_gradient.png", "siren_laplacian.png", "siren_derivatives.png")


def save_figure(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_comparison(path: Path, panels: Sequence[Tuple[str, Tensor]]) -> None:
    """One row of images, each ``(title, [H, W, 1|3] image)`` clamped to [0, 1]; C = 1 in gray."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.3), squeeze=False)
    for ax, (title, image) in zip(axes[0], panels):
        shown = image.detach().cpu().clamp(0, 1).numpy()
        if shown.shape[-1] == 1:
            ax.imshow(shown[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.imshow(shown, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    save_figure(fig, path)


def save_psnr_curves(path: Path, histories: Dict[str, Sequence[Sequence[float]]], ylabel: str = "PSNR (dB)") -> None:
    """PSNR against step: ``histories[label]`` is a sequence of ``(step, PSNR)``, one line each."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, history in histories.items():
        ax.plot([s for s, _ in history], [p for _, p in history], marker=".", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def save_speed_and_size(path: Path, results: Dict[str, dict], sizes: Dict[str, float]) -> None:
    """Two panels from ``compare``'s metrics (``results[kind]`` with ``psnr_history``, ``seconds``,
    ``psnr`` and ``num_parameters``): PSNR against wall-clock seconds (each evaluation placed at
    ``step x seconds / steps``, the fit's mean pace, evaluations included), and the final PSNR
    against ``sizes[kind]``, the kind's stored size in bits per pixel (log scale: a field's float16
    weights, a codec's file)."""
    fig, (ax_time, ax_size) = plt.subplots(1, 2, figsize=(10, 3.8))
    for kind, metrics in results.items():
        history = metrics["psnr_history"]
        last_step = max(history[-1][0], 1)
        pace = metrics["seconds"] / last_step
        ax_time.plot([s * pace for s, _ in history], [p for _, p in history], marker=".", label=kind)
        ax_size.scatter([sizes[kind]], [metrics["psnr"]], label=kind, s=40)
        ax_size.annotate(f"{kind} ({metrics['num_parameters']:,})", (sizes[kind], metrics["psnr"]), fontsize=8)
    ax_time.set_xlabel("seconds of fitting")
    ax_time.set_ylabel("PSNR (dB)")
    ax_size.set_xscale("log")
    ax_size.set_xlabel("stored size, bits per pixel (parameters in brackets)")
    ax_size.set_ylabel("final PSNR (dB)")
    for ax in (ax_time, ax_size):
        ax.grid(alpha=0.3)
    ax_time.legend(fontsize=8)
    save_figure(fig, path)


def _derivative_panel(fig, ax, values, kind: str, title: str) -> None:
    """One colour-mapped ``[H, W]`` map with a colourbar and no axes; the Laplacian uses a symmetric
    diverging scale clipped at the 99th percentile of |value| (a few pixels dominate otherwise)."""
    values = np.asarray(values, dtype=np.float64)
    if kind == "gradient":
        vmax = float(np.percentile(values, 99)) or 1.0
        im = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=vmax, interpolation="nearest")
    else:
        vmax = float(np.percentile(np.abs(values), 99)) or 1.0
        im = ax.imshow(values, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title, fontsize=10)
    ax.axis("off")


def save_siren_derivatives(model: nn.Module, image: Tensor, out_dir: Path) -> Tuple[str, ...]:
    """SIREN fig. 1 (Sitzmann et al. 2020): gradient norm and Laplacian of the fitted field ``model``
    (autograd) next to those of ``image [H, W, C]`` (finite differences), grayscale value, [-1, 1]
    coordinate units. Writes :data:`SIREN_DERIVATIVE_FILES` into ``out_dir`` and returns their names."""
    H, W, _ = image.shape
    grad, lap = (t.numpy() for t in gradient_and_laplacian(model, H, W))
    gt_grad, gt_lap = finite_difference_derivatives(image)
    gradient_file, laplacian_file, both_file = SIREN_DERIVATIVE_FILES
    for name, values, kind, title in (
        (gradient_file, grad, "gradient", "SIREN |grad f|"),
        (laplacian_file, lap, "laplacian", "SIREN Laplacian of f"),
    ):
        fig, ax = plt.subplots(figsize=(4, 3.5))
        _derivative_panel(fig, ax, values, kind, title)
        save_figure(fig, out_dir / name)
    fig, axes = plt.subplots(2, 2, figsize=(7.5, 6.5))
    _derivative_panel(fig, axes[0, 0], gt_grad, "gradient", "ground truth |grad f| (finite diff.)")
    _derivative_panel(fig, axes[0, 1], gt_lap, "laplacian", "ground truth Laplacian (finite diff.)")
    _derivative_panel(fig, axes[1, 0], grad, "gradient", "SIREN |grad f| (autograd)")
    _derivative_panel(fig, axes[1, 1], lap, "laplacian", "SIREN Laplacian (autograd)")
    save_figure(fig, out_dir / both_file)
    return SIREN_DERIVATIVE_FILES


__all__ = ["SIREN_DERIVATIVE_FILES", "save_figure", "save_speed_and_size", "save_comparison", "save_psnr_curves", "save_siren_derivatives"]
