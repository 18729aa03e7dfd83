"""Tancik et al.'s generalisation protocol: the pixel split and the bandwidth chosen for its training grid."""

from __future__ import annotations

import math

import pytest
import torch

from vanilla_nerf_pe.image.field import ImageFieldConfig, even_pixel_mask, pixel_grid
from vanilla_nerf_pe.image.fit import fit
from vanilla_nerf_pe.image.protocol import (
    SIGMA_SWEEP_FRACTIONS,
    choose_holdout_bandwidth,
    pe_octaves_below,
    training_grid_nyquist,
    validation_split,
)


pytestmark = pytest.mark.usefixtures("single_thread")


def band_limited_image(size: int, max_cycles: float, seed: int = 0) -> torch.Tensor:
    """``[size, size, 1]``: a sum of 12 cosines in random directions with frequencies up to
    ``max_cycles`` cycles per unit of the [-1, 1] coordinates, scaled into [0.1, 0.9]."""
    generator = torch.Generator().manual_seed(seed)
    xy = pixel_grid(size, size)
    angles = torch.rand(12, generator=generator) * math.pi
    freqs = torch.linspace(max_cycles / 2, max_cycles, 12)
    phases = torch.rand(12, generator=generator) * 2 * math.pi
    directions = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1) * freqs[:, None]
    signal = torch.cos(2 * math.pi * xy @ directions.T + phases).sum(-1)
    signal = (signal - signal.min()) / (signal.max() - signal.min())
    return (0.1 + 0.8 * signal)[..., None]


def test_protocol_pixel_split_is_every_other_pixel():
    H, W = 6, 8
    mask = even_pixel_mask(H, W)
    values = torch.arange(H * W).reshape(H, W)
    assert torch.equal(values[mask].reshape(H // 2, W // 2), values[::2, ::2])  # train: y[::2, ::2]
    assert int((~mask).sum()) == H * W * 3 // 4  # test: the offset pixels
    assert not mask[1::2].any() and not mask[:, 1::2].any()


def test_nyquist_and_pe_octaves_closed_form():
    assert training_grid_nyquist(128, 128) == 16.0 and training_grid_nyquist(512, 256) == 32.0
    # pi 2^(L-1) / (2 pi) = 2^(L-2) cycles per unit must stay below 16: 2^3 = 8 (L = 5), not 16 (L = 6).
    assert pe_octaves_below(16.0) == 5
    for nyquist in (1.5, 3.0, 8.0, 40.0, 64.0):
        for base in (math.pi, 1.0, 0.5 * math.pi):
            L = pe_octaves_below(nyquist, base)
            highest = lambda octaves: base * 2.0 ** (octaves - 1) / (2 * math.pi)  # noqa: E731
            assert highest(L) < nyquist <= highest(L + 1) or L == 1


def test_validation_split_partitions_the_training_pixels():
    mask = even_pixel_mask(32, 32)
    fit_mask, validation = validation_split(mask, fraction=0.125, seed=3)
    assert not (fit_mask & validation).any() and torch.equal(fit_mask | validation, mask)
    assert int(validation.sum()) == 32
    assert torch.equal(validation_split(mask, seed=3)[1], validation)


def test_pe_choice_fits_the_grid_and_generalises_better_than_nerf_octaves():
    image = band_limited_image(64, max_cycles=3.0)
    config = ImageFieldConfig(kind="pe", num_layers=2, width=64, steps=300, lr=3e-3, pe_num_frequencies=10)
    chosen, line = choose_holdout_bandwidth(image, config, sweep_steps=1)
    assert chosen.pe_num_frequencies == 4 and "L = 4" in line  # 64x64: grid 32x32, Nyquist 8; octaves 0.5 .. 4
    mask = even_pixel_mask(64, 64)
    held_out = {L: fit(image, ImageFieldConfig(**{**config.__dict__, "pe_num_frequencies": L}), eval_every=300, train_mask=mask).final_psnr for L in (4, 10)}
    assert held_out[4] > held_out[10] + 3.0, held_out


def test_fourier_sigma_sweep_follows_the_band_limit():
    config = ImageFieldConfig(kind="fourier", num_layers=2, width=64, fourier_num_features=64, lr=3e-3)
    chosen = {}
    for max_cycles in (1.0, 6.0):
        image = band_limited_image(64, max_cycles=max_cycles, seed=1)
        result, line = choose_holdout_bandwidth(image, config, sweep_steps=150)
        assert line.startswith("fourier: sigma = ") and "validation PSNR" in line
        assert result.fourier_sigma in [8.0 * f for f in SIGMA_SWEEP_FRACTIONS]
        chosen[max_cycles] = result.fourier_sigma
    assert chosen[1.0] < chosen[6.0], chosen


def test_tancik_matrices_closed_form():
    from vanilla_nerf_pe.image.table1 import tancik_mapping_matrix

    pe = tancik_mapping_matrix("pe", 256, 6.0)
    assert pe.shape == (256, 2)
    assert torch.equal(pe[:128, 1], torch.zeros(128)) and torch.equal(pe[128:, 0], torch.zeros(128))
    torch.testing.assert_close(pe[:128, 0], pe[128:, 1])
    assert float(pe[0, 0]) == 0.0 and abs(float(pe[127, 0]) - 63.0) < 1e-4  # 2^0 - 1 .. 2^6 - 1
    ratios = (pe[1:128, 0] + 1) / (pe[:127, 0] + 1)
    torch.testing.assert_close(ratios, torch.full((127,), 2 ** (6 / 127)))  # log-linear spacing
    assert torch.equal(tancik_mapping_matrix("basic"), torch.eye(2))
    gaussian = tancik_mapping_matrix("gaussian", 4096, sigma=10.0, seed=1)
    assert abs(float(gaussian.std()) - 10.0) < 0.3 and torch.equal(gaussian, tancik_mapping_matrix("gaussian", 4096, sigma=10.0, seed=1))


def test_table1_fields_are_the_papers_mappings_on_our_coordinates():
    from vanilla_nerf_pe.image.table1 import Table1Config, table1_field, tancik_mapping_matrix

    config = Table1Config(size=16, steps=1, width=8)
    x = torch.rand(50, 2) * 2 - 1
    x01 = (x + 1) / 2
    for method in ("basic", "pe", "gaussian"):
        model = table1_field(method, config, 3, 16, 16)
        B = tancik_mapping_matrix(method)
        ours = model.network.encoding(x)  # [cos(all m), sin(all m)]
        m = B.shape[0]
        theirs = 2 * math.pi * x01 @ B.T
        phase = math.pi * B.sum(-1)  # 2 pi b x01 = 2 pi (b / 2) x + pi b . (1, 1)
        torch.testing.assert_close(ours[:, :m], torch.cos(theirs - phase), atol=2e-4, rtol=0)
        torch.testing.assert_close(ours[:, m:], torch.sin(theirs - phase), atol=2e-4, rtol=0)
        assert model.config.lr == (1e-2 if method == "basic" else 1e-3)
    assert table1_field("none", config, 3, 16, 16).config.lr == 1e-2
    hashed = table1_field("hash", config, 3, 16, 16).config
    assert hashed.hash_max_resolution == 8 and hashed.hash_base_resolution == 8
    assert table1_field("siren", config, 3, 16, 16).config.num_layers == 3


def test_run_table1_scores_the_offset_pixels():
    from vanilla_nerf_pe.image.table1 import TABLE1_METHODS, Table1Config, run_table1

    image = band_limited_image(8, 1.0).repeat(1, 1, 3)
    rows = run_table1({"synthetic": image}, Table1Config(size=8, steps=2, width=8))
    assert [r["method"] for r in rows] == list(TABLE1_METHODS)
    for row in rows:
        assert math.isfinite(row["psnr_held_out"]) and row["psnr_held_out"] != row["psnr_full_image"]
