"""Volume rendering (vanilla_nerf_pe.core.render): closed forms, a brute-force loop reference,
dense and packed layouts agreeing, and sweeps over extreme densities."""

from __future__ import annotations

import math

import pytest
import torch

from vanilla_nerf_pe.core.render import accumulate, background_color, composite, packed_positions, render_weights


def loop_reference(sigma, t_starts, t_ends):
    """w_i = T_i (1 - exp(-sigma_i delta_i)), T_i = prod_{j<i} exp(-sigma_j delta_j), one ray at a time in float64."""
    w = torch.zeros_like(sigma, dtype=torch.float64)
    for r in range(sigma.shape[0]):
        trans = 1.0
        for i in range(sigma.shape[1]):
            d = float(sigma[r, i]) * float(t_ends[r, i] - t_starts[r, i])
            w[r, i] = trans * (1.0 - math.exp(-d))
            trans *= math.exp(-d)
    return w


def pack(x, keep):
    """Dense [R, n] -> packed [N] of the kept entries (row-major), with their ray indices."""
    r, _ = torch.nonzero(keep, as_tuple=True)
    return x[keep], r


def test_weights_match_the_loop_reference():
    g = torch.Generator().manual_seed(0)
    t = torch.sort(torch.rand(16, 13, generator=g) * 4 + 2, dim=-1).values
    sigma = torch.rand(16, 12, generator=g) * 5
    w, trans = render_weights(sigma, t[:, :-1], t[:, 1:])
    torch.testing.assert_close(w.double(), loop_reference(sigma, t[:, :-1], t[:, 1:]), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(trans[:, 0], torch.ones(16))


def test_constant_density_accumulation_closed_form():
    sigma0, t0, t1 = 0.8, 2.0, 4.5
    t = torch.linspace(t0, t1, 65)[None]
    w, trans = render_weights(torch.full((1, 64), sigma0), t[:, :-1], t[:, 1:])
    expected = 1.0 - math.exp(-sigma0 * (t1 - t0))
    assert w.sum().item() == pytest.approx(expected, rel=1e-5)
    # Transmittance inside a homogeneous medium is exp(-sigma (t - t0)) at every bin start.
    torch.testing.assert_close(trans[0], torch.exp(-sigma0 * (t[0, :-1] - t0)))


def test_opaque_slab_depth_colour_and_background():
    t = torch.linspace(2.0, 6.0, 401)[None]
    mid = 0.5 * (t[:, 1:] + t[:, :-1])
    sigma = torch.where(mid > 3.0, torch.tensor(1e4), torch.tensor(0.0))  # empty up to 3, then opaque
    rgb = torch.zeros(1, 400, 3)
    rgb[..., 0] = 1.0
    w, _ = render_weights(sigma, t[:, :-1], t[:, 1:])
    out = composite(w, rgb, t[:, :-1], t[:, 1:], far=torch.tensor([[6.0]]), background=torch.ones(3))
    assert out["depth"].item() == pytest.approx(3.005, abs=1e-4)  # the first opaque bin's midpoint
    torch.testing.assert_close(out["rgb"], torch.tensor([[1.0, 0.0, 0.0]]), atol=1e-5, rtol=0)
    # An empty ray shows the background and gets the far bound as its depth.
    w0, _ = render_weights(torch.zeros(1, 400), t[:, :-1], t[:, 1:])
    empty = composite(w0, rgb, t[:, :-1], t[:, 1:], far=torch.tensor([[6.0]]), background=torch.tensor([0.1, 0.2, 0.3]))
    torch.testing.assert_close(empty["rgb"], torch.tensor([[0.1, 0.2, 0.3]]))
    assert empty["depth"].item() == 6.0 and empty["accumulation"].item() == 0.0
    assert composite(w0, rgb, t[:, :-1], t[:, 1:], far=torch.tensor([[6.0]]))["rgb"].abs().max() == 0  # no background: black


def test_half_transparent_slab_blends_colour_and_background():
    """One bin of opacity a = 1 - exp(-sigma delta): rgb = a c + (1 - a) b, depth = the bin's midpoint."""
    sigma, delta = 0.7, 0.5
    a = 1 - math.exp(-sigma * delta)
    t_starts, t_ends = torch.tensor([[3.0]]), torch.tensor([[3.0 + delta]])
    w, _ = render_weights(torch.tensor([[sigma]]), t_starts, t_ends)
    c, b = torch.tensor([0.2, 0.4, 0.9]), torch.tensor([1.0, 0.5, 0.0])
    out = composite(w, c.expand(1, 1, 3), t_starts, t_ends, far=torch.tensor([[6.0]]), background=b)
    torch.testing.assert_close(out["rgb"][0], a * c + (1 - a) * b)
    assert out["depth"].item() == pytest.approx(3.25) and out["accumulation"].item() == pytest.approx(a)


def test_dense_and_packed_layouts_agree():
    g = torch.Generator().manual_seed(1)
    R, n = 9, 20
    t = torch.sort(torch.rand(R, n + 1, generator=g) * 4 + 2, dim=-1).values
    sigma = torch.rand(R, n, generator=g) * 3
    rgb = torch.rand(R, n, 3, generator=g)
    keep = torch.rand(R, n, generator=g) > 0.3
    keep[4] = False  # a ray with no samples
    sigma_z = torch.where(keep, sigma, torch.zeros(()))  # dropped bins: no density in the dense reference
    w_dense, _ = render_weights(sigma_z, t[:, :-1], t[:, 1:])
    far = t[:, -1:]
    dense = composite(w_dense, rgb, t[:, :-1], t[:, 1:], far, torch.ones(3))
    s, r = pack(sigma, keep)
    t0, _ = pack(t[:, :-1], keep)
    t1, _ = pack(t[:, 1:], keep)
    w, trans = render_weights(s, t0, t1, r, R)
    torch.testing.assert_close(w, w_dense[keep])
    packed = composite(w, rgb[keep], t0, t1, far, torch.ones(3), r, R)
    for key in ("rgb", "depth", "accumulation"):
        torch.testing.assert_close(packed[key], dense[key], atol=1e-5, rtol=1e-5)
    assert packed["depth"][4].item() == far[4].item() and packed["accumulation"][4].item() == 0.0


def test_packed_transmittance_is_exact_per_ray_without_float64():
    """Thousands of rays of dense bins: each ray's transmittance is its own, however large the sums
    of the rays before it (a global cumulative sum minus offsets would lose them in float32)."""
    R, n = 3000, 40
    sigma = torch.full((R * n,), 50.0)
    r = torch.arange(R).repeat_interleave(n)
    t0 = torch.arange(n).repeat(R).float() * 0.1
    w, trans = render_weights(sigma, t0, t0 + 0.1, r, R)
    w_ref, trans_ref = render_weights(torch.full((1, n), 50.0), torch.arange(n)[None].float() * 0.1, torch.arange(1, n + 1)[None].float() * 0.1)
    torch.testing.assert_close(w.reshape(R, n), w_ref.expand(R, n))
    torch.testing.assert_close(trans.reshape(R, n), trans_ref.expand(R, n))
    position, max_count = packed_positions(r, R)
    assert max_count == n and torch.equal(position, torch.arange(n).repeat(R))


@pytest.mark.parametrize("layout", ["dense", "packed"])
def test_extreme_densities_give_finite_values_and_gradients(layout):
    """Densities from 1e-10 to 1e10 (and 0): weights in [0, 1] summing to at most 1, finite outputs
    and gradients; a huge density makes its bin opaque without swallowing the bins in front."""
    sigmas = torch.tensor([0.0] + [10.0**k for k in range(-10, 11)])
    R, n = len(sigmas), 8
    t = torch.linspace(2.0, 6.0, n + 1).expand(R, n + 1)
    sigma = sigmas[:, None].expand(R, n).clone()
    sigma[:, :3] = 0.1  # a thin fog in front of each
    sigma.requires_grad_(True)
    rgb = torch.rand(R, n, 3, requires_grad=True)
    if layout == "dense":
        w, trans = render_weights(sigma, t[:, :-1], t[:, 1:])
        out = composite(w, rgb, t[:, :-1], t[:, 1:], t[:, -1:], torch.ones(3))
    else:
        r = torch.arange(R).repeat_interleave(n)
        w, trans = render_weights(sigma.reshape(-1), t[:, :-1].reshape(-1), t[:, 1:].reshape(-1), r, R)
        out = composite(w, rgb.reshape(-1, 3), t[:, :-1].reshape(-1), t[:, 1:].reshape(-1), t[:, -1:], torch.ones(3), r, R)
        w, trans = w.reshape(R, n), trans.reshape(R, n)
    assert torch.all((w >= 0) & (w <= 1)) and torch.all(out["accumulation"] <= 1 + 1e-6)
    # The fog in front keeps its weight whatever lies behind it (exact exclusive sums).
    torch.testing.assert_close(trans[:, 3], torch.full((R,), math.exp(-0.1 * 3 * 0.5)))
    assert w[-1, 3].item() == pytest.approx(math.exp(-0.15), rel=1e-5)  # sigma 1e10: opaque at once
    loss = sum(v.sum() for v in out.values())
    loss.backward()
    assert all(torch.isfinite(v).all() for v in out.values())
    assert torch.isfinite(sigma.grad).all() and torch.isfinite(rgb.grad).all()


def test_accumulate_without_values_is_the_accumulation():
    w = torch.rand(5, 7) / 7
    torch.testing.assert_close(accumulate(w), w.sum(-1, keepdim=True))


def test_background_colours():
    like = torch.zeros(1)
    assert torch.equal(background_color("white", (4,), like), torch.ones(4, 3))
    assert torch.equal(background_color("black", (2, 3), like), torch.zeros(2, 3, 3))
    random = background_color("random", (1000,), like)
    assert random.shape == (1000, 3) and 0.45 < random.mean() < 0.55
    last = torch.rand(4, 3)
    assert torch.equal(background_color("last_sample", (4,), like, last), last)
    with pytest.raises(ValueError, match="unknown background"):
        background_color("purple", (4,), like)  # type: ignore[arg-type]
