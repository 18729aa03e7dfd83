"""Closed-form tests of the pure math: encodings, MLP, stratified and PDF sampling (volume
rendering: test_render.py)."""

from __future__ import annotations

import math

import pytest
import torch

from vanilla_nerf_pe.core import stepfun
from vanilla_nerf_pe.core.encodings import PositionalEncoding, positional_encoding
from vanilla_nerf_pe.core.mlp import MLP


# encodings ---------------------------------------------------------------------------------------
def test_positional_encoding_closed_form():
    x = torch.tensor([[0.3, -0.7, 0.11]])
    L = 4
    out = positional_encoding(x, L)
    assert out.shape == (1, 3 * (2 * L + 1))
    torch.testing.assert_close(out[:, :3], x)
    for k in range(L):
        for d in range(3):
            arg = (2.0**k) * math.pi * x[0, d].item()
            assert out[0, 3 + k * 3 + d].item() == pytest.approx(math.sin(arg), abs=1e-5)
            assert out[0, 3 + 3 * L + k * 3 + d].item() == pytest.approx(math.cos(arg), abs=1e-5)


@pytest.mark.parametrize("L,include,dim", [(10, True, 63), (4, True, 27), (0, True, 3), (6, False, 36)])
def test_positional_encoding_out_dim(L, include, dim):
    enc = PositionalEncoding(3, L, include_input=include)
    assert enc.get_out_dim() == dim
    assert enc(torch.rand(5, 7, 3)).shape == (5, 7, dim)


def test_positional_encoding_rejects_empty():
    with pytest.raises(ValueError):
        PositionalEncoding(3, 0, include_input=False)


def test_mlp_skip_connection_shapes():
    mlp = MLP(in_dim=63, num_layers=8, width=32, out_dim=4, skip_connections=(4,))
    assert mlp.layers[4].in_features == 32 + 63
    assert mlp(torch.rand(10, 63)).shape == (10, 4)
    with pytest.raises(ValueError):
        MLP(in_dim=3, num_layers=2, width=8, skip_connections=(4,))


# sampling ----------------------------------------------------------------------------------------
def test_stratified_t_sorted_bounded_and_deterministic():
    near, far = torch.full((100, 1), 2.0), torch.full((100, 1), 6.0)
    t = stepfun.stratified_t(near, far, 64, jitter=True)
    assert t.shape == (100, 65)
    assert torch.all(t[:, 1:] >= t[:, :-1]) and torch.all(t >= 2.0) and torch.all(t <= 6.0)
    a = stepfun.stratified_t(near, far, 64, jitter=False)
    # Jitter moves each inner endpoint within the half-bins around its grid position, differently per ray.
    offset = (t - a)[:, 1:-1]
    assert offset.abs().max() <= 0.5 * 4.0 / 64 + 1e-6 and offset.abs().mean() > 0.01
    assert not torch.equal(t, stepfun.stratified_t(near, far, 64, jitter=True)) and not torch.equal(t[0], t[1])
    torch.testing.assert_close(a, stepfun.stratified_t(near, far, 64, jitter=False))
    torch.testing.assert_close(a[0], torch.linspace(2.0, 6.0, 65))


@pytest.mark.parametrize("jitter", [True, False])
def test_sample_pdf_follows_weights(jitter):
    # Four bins over [2, 6]; the third holds 90% of the weight.
    t = torch.tensor([[2.0, 3.0, 4.0, 5.0, 6.0]]).expand(500, 5)
    w = torch.tensor([[0.02, 0.03, 0.9, 0.05]]).expand(500, 4)
    s = stepfun.sample_pdf(t, w, 128, jitter=jitter)
    assert s.shape == (500, 128)
    assert torch.all(s[:, 1:] >= s[:, :-1])
    assert torch.all(s >= 2.0) and torch.all(s <= 6.0)
    frac = ((s >= 4.0) & (s < 5.0)).float().mean().item()
    assert frac == pytest.approx(0.9, abs=0.02)
    hist = torch.histc(s, bins=4, min=2.0, max=6.0) / s.numel()
    torch.testing.assert_close(hist, w[0] / w[0].sum(), atol=0.02, rtol=0)


def test_sample_pdf_deterministic_without_jitter_and_uniform_for_zero_weights():
    t = torch.linspace(2.0, 6.0, 9)[None].expand(3, 9)
    w = torch.rand(3, 8)
    torch.testing.assert_close(stepfun.sample_pdf(t, w, 16, jitter=False), stepfun.sample_pdf(t, w, 16, jitter=False))
    s = stepfun.sample_pdf(t, torch.zeros(3, 8), 16, jitter=False)
    # All-zero weights: the padding makes the PDF uniform, and centred u give evenly spaced samples.
    torch.testing.assert_close(s[0], 2.0 + 4.0 * (torch.arange(16) + 0.5) / 16, atol=1e-5, rtol=0)


def test_merge_t_sorted_and_contains_both():
    t = torch.linspace(2.0, 6.0, 5)[None]
    s = torch.tensor([[2.5, 3.3, 5.9]])
    m = stepfun.merge_t(t, s)
    assert m.shape == (1, 8)
    assert torch.all(m[:, 1:] >= m[:, :-1])
    assert set(m[0].tolist()) == set(t[0].tolist()) | set(s[0].tolist())
