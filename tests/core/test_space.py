"""NDC rays, the contraction and the spacings of core.space against closed forms."""

import math

import pytest
import torch

from vanilla_nerf_pe.core import space

F, W, H, NEAR = 400.0, 504.0, 378.0, 1.0


def _camera_rays(n: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    origins = 0.2 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    px = torch.rand(n, 2, generator=g, dtype=torch.float64) * torch.tensor([W, H], dtype=torch.float64)
    directions = torch.stack([(px[:, 0] - W / 2) / F, -(px[:, 1] - H / 2) / F, -torch.ones(n, dtype=torch.float64)], -1)
    return origins, directions / directions.norm(dim=-1, keepdim=True)


def test_ndc_near_plane_and_infinity():
    o, d = _camera_rays()
    o_ndc, d_ndc = space.ndc_rays(o, d, F, F, W, H, NEAR)
    assert torch.allclose(o_ndc[:, 2], torch.full_like(o_ndc[:, 2], -1.0))  # t = 0: the near plane
    far_point = o_ndc + d_ndc  # t = 1
    assert torch.allclose(far_point[:, 2], torch.ones_like(far_point[:, 2]))  # infinity


def test_ndc_rays_follow_the_projection_and_stay_straight():
    """Points o + t d of the world ray, projected by NeRF eq. 24, lie on the NDC ray o' + t' d'."""
    o, d = _camera_rays()
    o_ndc, d_ndc = space.ndc_rays(o, d, F, F, W, H, NEAR)
    t_near = -(NEAR + o[:, 2]) / d[:, 2]
    for t in (0.0, 0.5, 3.0, 100.0, 1e6):
        x = o + (t_near + t)[:, None] * d
        p = space.ndc_point(x, F, F, W, H, NEAR)
        t_ndc = (p[:, 2] - o_ndc[:, 2]) / d_ndc[:, 2]
        assert torch.allclose(o_ndc + t_ndc[:, None] * d_ndc, p, atol=1e-9)
        assert bool(((t_ndc >= -1e-12) & (t_ndc <= 1 + 1e-12)).all())


def test_ndc_one_ray_against_the_papers_equations():
    """A ray from the camera centre through pixel (u, v): its NDC origin is the pixel's NDC position
    on the image plane and its direction only moves in z (appendix C, eq. 25 with o = 0)."""
    u, v = 100.0, 50.0
    d = torch.tensor([[(u - W / 2) / F, -(v - H / 2) / F, -1.0]], dtype=torch.float64)
    o = torch.zeros(1, 3, dtype=torch.float64)
    o_ndc, d_ndc = space.ndc_rays(o, d, F, F, W, H, NEAR)
    # Shifted to the near plane, o = d * NEAR (d_z = -1); eq. 25: o' = (-f/(W/2) ox/oz, -f/(H/2) oy/oz, 1 + 2n/oz).
    ox, oy, oz = (d[0] * NEAR).tolist()
    expected_o = [-F / (W / 2) * ox / oz, -F / (H / 2) * oy / oz, 1 + 2 * NEAR / oz]
    expected_d = [0.0, 0.0, -2 * NEAR / oz]  # d/d_z - o/o_z = 0 for a ray through the centre
    assert o_ndc[0].tolist() == pytest.approx(expected_o)
    assert d_ndc[0].tolist() == pytest.approx(expected_d, abs=1e-12)
    assert o_ndc[0, 0].item() == pytest.approx(2 * u / W - 1)  # x' in [-1, 1] spans the image width


def test_contract_identity_inside_continuous_and_bounded():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1000, 3, generator=g, dtype=torch.float64)
    inside = x / x.norm(dim=-1, keepdim=True) * torch.rand(1000, 1, generator=g, dtype=torch.float64)
    assert torch.equal(space.contract(inside), inside)
    unit = x / x.norm(dim=-1, keepdim=True)
    for eps in (1e-6, 1e-9):
        assert torch.allclose(space.contract(unit * (1 + eps)), unit, atol=3 * eps)
    for scale in (1.0, 10.0, 1e3, 1e6, 1e10, 1e30):
        c = space.contract(x * scale)
        assert bool(torch.isfinite(c).all()) and bool((c.norm(dim=-1) <= 2.0 + 1e-12).all())  # < 2 up to rounding
    assert bool((space.contract(x * 1e3).norm(dim=-1) < 2.0).all())
    far = space.contract(unit * 1e10)
    assert torch.allclose(far.norm(dim=-1), torch.full((1000,), 2.0, dtype=torch.float64))
    # outside the ball: (2 - 1/|x|) x/|x|
    y = unit * 4.0
    assert torch.allclose(space.contract(y), unit * 1.75)
    assert torch.allclose(space.uncontract_norm(space.contract(y).norm(dim=-1)), torch.full((1000,), 4.0, dtype=torch.float64))


def test_contract_is_monotone_along_rays_with_finite_gradients():
    g = torch.Generator().manual_seed(2)
    o, d = torch.randn(50, 3, generator=g), torch.randn(50, 3, generator=g)
    d = d / d.norm(dim=-1, keepdim=True)
    t = torch.logspace(-3, 8, 400)
    x = o[:, None] + t[None, :, None] * d[:, None]
    c = space.contract(x.double())
    # distance travelled in contracted space grows along the ray (never turns back)
    along = torch.cumsum((c[:, 1:] - c[:, :-1]).norm(dim=-1), dim=-1)
    chord = (c[:, 1:] - c[:, :1]).norm(dim=-1)
    assert bool((chord <= along + 1e-9).all())
    dots = torch.sum((c[:, 2:] - c[:, 1:-1]) * (c[:, 1:-1] - c[:, :-2]), dim=-1)
    assert bool((dots >= -1e-12).all())  # no reversal between consecutive steps
    xr = (torch.randn(100, 3) * torch.logspace(-8, 8, 100)[:, None]).requires_grad_()
    space.contract(xr).sum().backward()
    assert bool(torch.isfinite(xr.grad).all())


def test_contracted_spacing_is_linear_then_disparity():
    near, far, switch = 0.1, 1000.0, 2.0
    s = torch.linspace(0, 1, 2001, dtype=torch.float64)
    t = space.contracted_s_to_t(s, near, far, switch)
    assert t[0].item() == pytest.approx(near) and t[-1].item() == pytest.approx(far)
    assert bool((t[1:] > t[:-1]).all())
    lin, disp = t <= switch, t > switch
    steps_t = (t[1:] - t[:-1])[lin[1:] & lin[:-1]]
    assert torch.allclose(steps_t, steps_t.mean().expand_as(steps_t))  # even in t up to the switch
    inv = 1.0 / t[disp]
    steps_disp = inv[:-1] - inv[1:]
    assert torch.allclose(steps_disp, steps_disp.mean().expand_as(steps_disp))  # even in 1/t beyond
    assert torch.allclose(space.contracted_t_to_s(t, near, far, switch), s, atol=1e-12)
    # pure disparity spacing when the switch lies before near (mip-NeRF 360's g = 1/x)
    t_pure = space.contracted_s_to_t(s, 1.0, 100.0, 0.5)
    inv = 1.0 / t_pure
    assert torch.allclose(inv[:-1] - inv[1:], torch.full((2000,), (1 - 0.01) / 2000, dtype=torch.float64))


def test_focus_point_of_an_orbit_and_of_parallel_cameras():
    angles = torch.linspace(0, 2 * math.pi, 13, dtype=torch.float64)[:-1]
    center = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
    origins = center + torch.stack([3 * torch.cos(angles), 3 * torch.sin(angles), torch.full_like(angles, 1.0)], -1)
    forwards = center - origins
    forwards = forwards / forwards.norm(dim=-1, keepdim=True)
    assert torch.allclose(space.focus_point(origins, forwards), center)
    parallel = torch.tensor([[0.0, 0.0, -1.0]], dtype=torch.float64).expand(12, 3)
    assert torch.allclose(space.focus_point(origins, parallel), origins.mean(0))


def test_box_to_unit_corners():
    aabb = torch.tensor([[-1.0, -2.0, 0.0], [3.0, 2.0, 1.0]])
    assert torch.allclose(space.box_to_unit(aabb, aabb), torch.tensor([[-1.0] * 3, [1.0] * 3]))
