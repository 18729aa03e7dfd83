"""The generalisation protocol of Tancik et al. 2020 ("Fourier Features Let Networks Learn High
Frequency Functions in Low Dimensional Domains", sec. 6 and Table 1), and the encoding bandwidth
that fits it.

The protocol trains on the pixels with even row and column (``y[::2, ::2]``, a quarter of the
image: :func:`~vanilla_nerf_pe.image.field.even_pixel_mask`) and scores the others. The training
grid then samples the [-1, 1] square every ``4 / W`` units, so it carries no frequency above its
Nyquist rate ``W / 8`` cycles per unit (:func:`training_grid_nyquist`); an encoding with much more
bandwidth interpolates between the training pixels with noise. :func:`choose_holdout_bandwidth`
sets the bandwidth for the grid: positional-encoding octaves below the Nyquist rate (closed form),
the Fourier features' sigma by a sweep on a validation subset of the training pixels (as Tancik et
al. chose sigma), the hash grid's finest resolution at the training grid's.

Tancik et al.'s Table 1 itself, on these pixels, is :mod:`~vanilla_nerf_pe.image.table1`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.image.field import ImageFieldConfig, even_pixel_mask
from vanilla_nerf_pe.image.fit import fit

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


__all__ = [
    "SIGMA_SWEEP_FRACTIONS",
    "choose_holdout_bandwidth",
    "hash_levels_for_grid",
    "pe_octaves_below",
    "sweep_fourier_sigma",
    "training_grid_nyquist",
    "validation_split",
]
