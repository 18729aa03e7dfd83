"""The generalisation protocol of Tancik et al. 2020 ("Fourier Features Let Networks Learn High
Frequency Functions in Low Dimensional Domains", sec. 6 and Table 1), and the encoding bandwidth
that fits it.

The protocol trains on the pixels with even row and column (``y[::2, ::2]``, a quarter of the
image: :func:`~vanilla_nerf_pe.lab.field.even_pixel_mask`) and scores the others. The training
grid then samples the [-1, 1] square every ``4 / W`` units, so it carries no frequency above its
Nyquist rate ``W / 8`` cycles per unit (:func:`training_grid_nyquist`); an encoding with much more
bandwidth interpolates between the training pixels with noise. :func:`choose_holdout_bandwidth`
sets the bandwidth for the grid: positional-encoding octaves below the Nyquist rate (closed form),
the Fourier features' sigma by a sweep on a validation subset of the training pixels (as Tancik et
al. chose sigma), the hash grid's finest resolution at the training grid's.

:func:`run_table1` reproduces the protocol of their Table 1 (the authors' notebook
``Experiments/2d_image_regression.ipynb`` of github.com/tancik/fourier-feature-networks): 512x512
images, trained on ``y[::2, ::2]``, "4 layers" of 256 (their ``make_network(4, 256)``: three ReLU
layers of 256 and the output layer, here ``num_layers=3``), 2000 full-batch Adam steps, learning
rate 1e-3 (1e-2 for no mapping and the basic mapping), 256 frequencies, positional encoding
``b = 2^linspace(0, 6, 128) - 1`` per axis and Gaussian ``B ~ N(0, 10^2)`` on coordinates in [0, 1).
Two differences, both of the house conventions: coordinates are the pixel centres in [-1, 1], so
the matrices are halved (``2 pi b x01 = 2 pi (b / 2) x + pi b``: the same frequencies, each (sin,
cos) pair turned by a fixed phase that the first layer absorbs); and the network ends in a linear
layer, where theirs ends in a sigmoid.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.metrics import psnr
from vanilla_nerf_pe.lab.field import ImageField, ImageFieldConfig, even_pixel_mask
from vanilla_nerf_pe.lab.fit import fit, render

#: The Fourier sigmas the sweep tries, as fractions of the training grid's Nyquist rate.
SIGMA_SWEEP_FRACTIONS: Tuple[float, ...] = (1 / 16, 1 / 8, 1 / 4, 1 / 2)


def training_grid_nyquist(height: int, width: int) -> float:
    """Nyquist rate of the even-pixel training grid, in cycles per unit of the [-1, 1] coordinates.

    Pixels are ``2 / W`` apart, the training grid's every other one ``4 / W``; the Nyquist rate is
    half the sampling rate, ``W / 8`` (the smaller of the two axes').
    """
    if height < 2 or width < 2:
        raise InputError(f"the holdout protocol needs an image of at least 2x2 pixels, got {width}x{height}")
    return min(height, width) / 8.0


def pe_octaves_below(nyquist: float, base_frequency: float = math.pi) -> int:
    """The most octaves L whose highest frequency ``base 2^(L-1)`` (angular, i.e. ``base 2^(L-1) /
    (2 pi)`` cycles per unit) stays strictly below ``nyquist`` cycles per unit; at least 1."""
    octaves = 0
    while base_frequency * 2.0**octaves / (2.0 * math.pi) < nyquist:
        octaves += 1
    return max(octaves, 1)


def validation_split(train_mask: Tensor, fraction: float = 0.125, seed: int = 0) -> Tuple[Tensor, Tensor]:
    """Split the ``[H, W]`` training mask into (fit, validation) masks: ``fraction`` of the training
    pixels, drawn at random with ``seed``, are held out for validation (random pixels, not a
    sub-grid, so the fit part keeps the training grid's Nyquist rate)."""
    flat = train_mask.reshape(-1).nonzero().squeeze(-1)
    order = torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(round(fraction * flat.numel())))
    validation = torch.zeros(train_mask.numel(), dtype=torch.bool)
    validation[flat[order[:n_val]]] = True
    validation = validation.reshape(train_mask.shape)
    return train_mask & ~validation, validation


def sweep_fourier_sigma(
    image: Tensor, config: ImageFieldConfig, train_mask: Tensor, sigmas: Sequence[float], steps: int
) -> List[Tuple[float, float]]:
    """``(sigma, validation PSNR)`` for each candidate: a fit of ``steps`` steps on the training
    pixels but a validation eighth (:func:`validation_split`), scored on that eighth."""
    fit_mask, validation = validation_split(train_mask, seed=config.seed)
    scores = []
    for sigma in sigmas:
        trial = dataclasses.replace(config, kind="fourier", fourier_sigma=float(sigma), steps=steps)
        result = fit(image, trial, eval_every=max(steps, 1), train_mask=fit_mask, eval_mask=validation)
        scores.append((float(sigma), result.final_psnr))
    return scores


def hash_levels_for_grid(config: ImageFieldConfig, height: int, width: int) -> ImageFieldConfig:
    """``config`` with the hash grid's finest level at one cell per training pixel (``min(H, W) / 2``
    across: no level resolves more than the training grid) and its coarsest no finer than that."""
    finest = max(1, min(height, width) // 2)
    return dataclasses.replace(config, hash_max_resolution=finest, hash_base_resolution=min(config.hash_base_resolution, finest))


def choose_holdout_bandwidth(image: Tensor, config: ImageFieldConfig, sweep_steps: int) -> Tuple[ImageFieldConfig, str]:
    """``config`` with its bandwidth set for the even-pixel training grid of ``image``, and a line
    that says what was chosen and why.

    pe: :func:`pe_octaves_below` the grid's Nyquist rate; fourier: the best of
    :data:`SIGMA_SWEEP_FRACTIONS` times the Nyquist rate by :func:`sweep_fourier_sigma`
    (``sweep_steps`` steps each); hash: the finest level at the training grid's resolution; none and
    siren keep their options (no bandwidth option, or SIREN's omega_0, which the protocol leaves alone).
    """
    H, W, _ = image.shape
    nyquist = training_grid_nyquist(H, W)
    grid = f"training grid {W // 2}x{H // 2}, Nyquist {nyquist:g} cycles per unit"
    if config.kind == "pe":
        octaves = pe_octaves_below(nyquist, config.pe_base_frequency)
        top = config.pe_base_frequency * 2.0 ** (octaves - 1) / (2.0 * math.pi)
        return dataclasses.replace(config, pe_num_frequencies=octaves), (
            f"pe: L = {octaves} octaves (highest {top:g} cycles per unit, below the {grid})"
        )
    if config.kind == "fourier":
        sigmas = [nyquist * f for f in SIGMA_SWEEP_FRACTIONS]
        scores = sweep_fourier_sigma(image, config, even_pixel_mask(H, W), sigmas, sweep_steps)
        best = max(scores, key=lambda s: s[1])[0]
        table = ", ".join(f"{s:g}: {p:.2f} dB" for s, p in scores)
        return dataclasses.replace(config, fourier_sigma=best), (
            f"fourier: sigma = {best:g} (validation PSNR on 1/8 of the training pixels, {sweep_steps} steps each: {table}; {grid})"
        )
    if config.kind == "hash":
        chosen = hash_levels_for_grid(config, H, W)
        return chosen, f"hash: finest level {chosen.hash_max_resolution} cells across, coarsest {chosen.hash_base_resolution} ({grid})"
    return config, f"{config.kind}: no bandwidth option changed ({grid})"


#: Tancik et al. 2020, Table 1, 2D images (DIV2K): held-out PSNR in dB of each input mapping.
TANCIK_TABLE1_DIV2K: Dict[str, float] = {"none": 19.32, "basic": 21.72, "pe": 24.95, "gaussian": 25.57}
#: The methods of :func:`run_table1`: Tancik et al.'s four mappings, then SIREN and the hash grid beside them.
TABLE1_METHODS: Tuple[str, ...] = ("none", "basic", "pe", "gaussian", "siren", "hash")


def tancik_mapping_matrix(method: str, num_frequencies: int = 256, posenc_scale: float = 6.0, sigma: float = 10.0, seed: int = 0) -> Tensor:
    """The frequency matrix ``[m, 2]`` (cycles per unit of [0, 1) coordinates) of Tancik et al.'s
    mapping ``gamma(v) = [sin(2 pi B v), cos(2 pi B v)]``:

    * basic: the identity, ``[sin 2 pi v, cos 2 pi v]`` per axis;
    * pe: ``b = 2^linspace(0, posenc_scale, m / 2) - 1`` along x, the same along y (m rows in all);
    * gaussian: ``B ~ N(0, sigma^2)``, m rows, drawn from ``seed``.
    """
    if method == "basic":
        return torch.eye(2)
    if method == "pe":
        b = 2.0 ** torch.linspace(0.0, posenc_scale, num_frequencies // 2, dtype=torch.float64) - 1.0
        along_x = torch.stack([b, torch.zeros_like(b)], dim=-1)
        return torch.cat([along_x, along_x.roll(1, dims=-1)], dim=0).float()
    if method == "gaussian":
        return torch.randn(num_frequencies, 2, generator=torch.Generator().manual_seed(seed)) * sigma
    raise InputError(f"no mapping matrix for method {method!r}")


@dataclass
class Table1Config:
    """The protocol of Tancik et al.'s Table 1 (defaults: theirs) and its two extra methods."""

    size: int = 512
    """images are resized to size x size (theirs: 512)."""
    steps: int = 2000
    """full-batch Adam steps (theirs: 2000)."""
    num_layers: int = 3
    """hidden ReLU layers (their "4 layers": three of 256 and the output layer)."""
    width: int = 256
    """units per layer."""
    lr: float = 1e-3
    """Adam learning rate of pe and gaussian (theirs: 1e-3)."""
    lr_simple: float = 1e-2
    """Adam learning rate of no mapping and the basic mapping (theirs: 1e-2)."""
    num_frequencies: int = 256
    """frequencies of pe and gaussian (theirs: 256)."""
    posenc_scale: float = 6.0
    """pe: the highest frequency is 2^posenc_scale - 1 cycles per image (theirs: 6)."""
    gaussian_sigma: float = 10.0
    """gaussian: sigma on [0, 1) coordinates (theirs: 10)."""
    siren_lr: float = 1e-4
    """SIREN's learning rate (Sitzmann et al.'s image fits: 1e-4)."""
    hash_lr: float = 1e-2
    """the hash grid's learning rate (Müller et al. 2022: 1e-2)."""
    seed: int = 0
    """seed of the initialisations and of the Gaussian matrix."""

    def check(self) -> None:
        if self.size < 4 or self.steps < 1 or self.num_layers < 1 or self.width < 1 or self.num_frequencies < 2:
            raise InputError("table1: --size must be >= 4, --steps, --num-layers, --width >= 1 and --num-frequencies >= 2")


def table1_field(method: str, config: Table1Config, channels: int, height: int, width: int) -> ImageField:
    """The field of one method of :func:`run_table1`, with its learning rate in ``.config.lr``.

    Tancik et al.'s mappings are the ``fourier`` kind with the matrix B of
    :func:`tancik_mapping_matrix`, halved for the [-1, 1] coordinates; no mapping is ``none``;
    SIREN is ``siren`` (omega_0 30); the hash grid is ``hash`` with its finest level at the training
    grid (:func:`hash_levels_for_grid`).
    """
    common = dict(num_layers=config.num_layers, width=config.width, steps=config.steps, seed=config.seed)
    if method == "none":
        field_config = ImageFieldConfig(kind="none", lr=config.lr_simple, **common)
    elif method in ("basic", "pe", "gaussian"):
        matrix = tancik_mapping_matrix(method, config.num_frequencies, config.posenc_scale, config.gaussian_sigma, config.seed) / 2.0
        lr = config.lr_simple if method == "basic" else config.lr
        field_config = ImageFieldConfig(kind="fourier", fourier_num_features=matrix.shape[0], fourier_sigma=1.0, lr=lr, **common)
    elif method == "siren":
        field_config = ImageFieldConfig(kind="siren", lr=config.siren_lr, **common)
    elif method == "hash":
        field_config = hash_levels_for_grid(ImageFieldConfig(kind="hash", lr=config.hash_lr, **common), height, width)
    else:
        raise InputError(f"table1: unknown method {method!r}; choose from {', '.join(TABLE1_METHODS)}")
    model = ImageField(field_config, channels)
    if method in ("basic", "pe", "gaussian"):
        model.network.encoding.B.copy_(matrix)
    return model


def run_table1(images: Dict[str, Tensor], config: Table1Config, methods: Sequence[str] = TABLE1_METHODS,
               device: str = "cpu", progress: Optional[Callable[[dict], None]] = None) -> List[dict]:
    """Fit every method on every image with the protocol; one dict per fit: method, image, held-out
    PSNR (the offset pixels), full-image PSNR (the authors' notebook scores all pixels), seconds,
    parameters."""
    config.check()
    rows = []
    for name, image in images.items():
        H, W, C = image.shape
        mask = even_pixel_mask(H, W)
        for method in methods:
            model = table1_field(method, config, C, H, W)
            result = fit(image, model.config, eval_every=config.steps, train_mask=mask, device=device, initial_model=model)
            full = float(psnr(render(result.model, H, W).clamp(0.0, 1.0), image))
            row = {"method": method, "image": name, "psnr_held_out": result.final_psnr, "psnr_full_image": full,
                   "seconds": result.seconds, "num_parameters": result.num_parameters}
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows


__all__ = [
    "SIGMA_SWEEP_FRACTIONS",
    "TABLE1_METHODS",
    "TANCIK_TABLE1_DIV2K",
    "Table1Config",
    "run_table1",
    "table1_field",
    "tancik_mapping_matrix",
    "choose_holdout_bandwidth",
    "hash_levels_for_grid",
    "pe_octaves_below",
    "sweep_fourier_sigma",
    "training_grid_nyquist",
    "validation_split",
]
