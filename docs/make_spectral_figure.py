"""Spectral bias figure: raw-coordinate ReLU MLP vs positional encoding on one image.

Fits scikit-image's astronaut at 64x64 with ``none`` (raw (x, y)) and ``pe`` (NeRF positional
encoding, L = 10) using the same MLP (3 x 128), optimiser and number of steps (300), the settings
of README.md's "The 2D image field" numbers, then plots

* (a) one horizontal slice of the image (grayscale = mean of RGB): ground truth and both fits;
* (b) the radially averaged power spectrum of the residual (ground truth - fit), log scale.

Writes ``docs/images/spectral_bias.png`` and prints both PSNRs. Usage (from the repository root)::

    python docs/make_spectral_figure.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from vanilla_nerf_pe.image.field import ImageFieldConfig, default_image  # noqa: E402
from vanilla_nerf_pe.image.fit import fit, render  # noqa: E402

SIZE = 64
STEPS = 300
ROW = 24  # the slice (a row through the astronaut's face and helmet)
OUTPUT = Path(__file__).resolve().parent / "images" / "spectral_bias.png"


def radial_power(residual: np.ndarray) -> np.ndarray:
    """Radially averaged power spectrum of a ``[H, W]`` array, one value per integer radius
    (cycles per image) from 0 to ``min(H, W) // 2``."""
    H, W = residual.shape
    power = np.abs(np.fft.fftshift(np.fft.fft2(residual))) ** 2 / (H * W)
    fy, fx = np.meshgrid(np.arange(H) - H // 2, np.arange(W) - W // 2, indexing="ij")
    radius = np.rint(np.hypot(fx, fy)).astype(int)
    n = min(H, W) // 2 + 1
    total = np.bincount(radius.ravel(), weights=power.ravel(), minlength=n)[:n]
    count = np.bincount(radius.ravel(), minlength=n)[:n]
    return total / np.maximum(count, 1)


def main() -> None:
    torch.set_num_threads(1)
    image = default_image("astronaut", SIZE)
    truth = image.mean(dim=-1).numpy()
    fits = {}
    for rep, label in (("none", "raw (x, y) ReLU MLP"), ("pe", "positional encoding, L = 10")):
        config = ImageFieldConfig(kind=rep, num_layers=3, width=128, steps=STEPS, seed=0)
        result = fit(image, config, eval_every=STEPS)
        recon = render(result.model, SIZE, SIZE).clamp(0.0, 1.0).mean(dim=-1).numpy()
        fits[rep] = (label, recon, result.final_psnr)
        print(f"{rep}: PSNR {result.final_psnr:.2f} dB ({result.seconds:.1f} s, {result.num_parameters} parameters)")

    fig, (ax_slice, ax_spec) = plt.subplots(1, 2, figsize=(10, 4.8))
    x = np.arange(SIZE)
    ax_slice.plot(x, truth[ROW], color="k", lw=2, label="ground truth")
    colours = {"none": "tab:red", "pe": "tab:blue"}
    for rep, (label, recon, score) in fits.items():
        ax_slice.plot(x, recon[ROW], color=colours[rep], lw=1.3, label=f"{label} ({score:.1f} dB)")
    ax_slice.set(title=f"(a) row {ROW} of the {SIZE}x{SIZE} astronaut (gray)", xlabel="column", ylabel="intensity")
    ax_slice.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1)

    freqs = np.arange(1, SIZE // 2 + 1)  # radius 0 (the mean) left out
    signal = radial_power(truth)[1:]
    ax_spec.semilogy(freqs, signal, color="k", lw=1, ls="--", label="ground truth (for scale)")
    bands = ((1, 4), (5, 16), (17, SIZE // 2))
    for rep, (label, recon, _) in fits.items():
        spectrum = radial_power(truth - recon)[1:]
        ax_spec.semilogy(freqs, spectrum, color=colours[rep], label=label)
        ratios = ", ".join(
            f"{lo}-{hi}: {spectrum[lo - 1 : hi].sum() / signal[lo - 1 : hi].sum():.2g}" for lo, hi in bands
        )
        print(f"{rep}: residual / ground-truth power, by band (cycles per image) {ratios}")
    ax_spec.set(title="(b) radially averaged power of the residual", xlabel="spatial frequency (cycles per image)", ylabel="power")
    ax_spec.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1)
    fig.suptitle(f"Spectral bias: same 3x128 MLP, {STEPS} full-image Adam steps", fontsize=11)
    fig.tight_layout()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUTPUT, dpi=90)
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
