"""The scene spaces: the three classes built from cameras, and what the samplers get from them."""

from __future__ import annotations

import math

import pytest
import torch
from nerfstudio.cameras.cameras import Cameras

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.space import average_pose
from vanilla_nerf_pe.nerf.spaces import (
    BoundedSpace,
    ForwardFacingSpace,
    UnboundedSpace,
    build_scene_space,
    choose_scene_kind,
)

BOX = torch.tensor([[-1.5] * 3, [1.5] * 3])


def look_at(eye, target):
    eye, target = torch.tensor(eye, dtype=torch.float32), torch.tensor(target, dtype=torch.float32)
    back = torch.nn.functional.normalize(eye - target, dim=0)
    right = torch.nn.functional.normalize(torch.linalg.cross(torch.tensor([0.0, 0.0, 1.0]), back), dim=0)
    up = torch.linalg.cross(back, right)
    return torch.stack([right, up, back, eye], dim=1)


def cameras(c2w):
    return Cameras(camera_to_worlds=torch.stack(c2w), fx=50.0, fy=50.0, cx=32.0, cy=24.0, width=64, height=48)


def orbit(radius, n=12, z=1.0):
    return [look_at([radius * math.cos(a), radius * math.sin(a), z], [0.0, 0.0, 0.0]) for a in torch.linspace(0, 2 * math.pi, n + 1)[:-1].tolist()]


def sweep(n=9):
    return [look_at([x, -3.0, z], [x, 0.0, z]) for x in (-0.3, 0.0, 0.3) for z in (0.0, 0.2, 0.4)][:n]


def test_auto_chooses_each_kind_from_the_cameras():
    assert choose_scene_kind(torch.stack(orbit(4.0)), BOX)[0] == "bounded"
    assert choose_scene_kind(torch.stack(orbit(1.0)), BOX)[0] == "unbounded"
    kind, reason = choose_scene_kind(torch.stack(sweep()), BOX)
    assert kind == "forward-facing" and "within 0 degrees" in reason


def test_bounded_near_far_from_the_dataparser_else_the_cameras():
    space, line = build_scene_space("auto", BOX, cameras(orbit(4.0)), {"near_far": (2.0, 6.0)}, 1000.0, None)
    assert isinstance(space, BoundedSpace) and space.near_far.tolist() == [2.0, 6.0] and line.startswith("bounded (")
    derived, _ = build_scene_space("bounded", BOX, cameras(orbit(4.0)), {}, 1000.0, None)
    dist = math.hypot(4.0, 1.0)
    half = 0.5 * math.sqrt(3) * 3.0
    assert derived.near_far.tolist() == pytest.approx([dist - half, dist + half], rel=1e-5)
    rays = derived.rays(torch.tensor([[4.0, 0.0, 1.0]]), torch.nn.functional.normalize(torch.tensor([[-4.0, 0.0, -1.0]]), dim=-1))
    unit = derived.to_unit(rays.origins + rays.directions * dist)  # the box's centre
    assert torch.allclose(unit, torch.zeros(1, 3), atol=1e-6)


def test_bounded_rays_cover_their_stretch_inside_the_box_from_any_camera():
    """The viewer's first camera sits inside Blender's box, 0.5 from the centre: near 2 would start
    every ray past the content. Rays of the training cameras keep the dataparser's near and far."""
    space, _ = build_scene_space("bounded", BOX, cameras(orbit(4.0)), {"near_far": (2.0, 6.0)}, 1000.0, None)
    inside = torch.full((1, 3), 0.3)
    toward_corner = torch.nn.functional.normalize(-torch.ones(1, 3), dim=-1)
    rays = space.rays(inside, toward_corner)
    assert rays.near.item() == 0.0 and rays.far.item() == 6.0
    far_away = torch.tensor([[0.0, 0.0, 20.0]])
    rays = space.rays(far_away, torch.tensor([[0.0, 0.0, -1.0]]))
    assert rays.near.item() == 2.0 and rays.far.item() == pytest.approx(21.5)  # exits the box at z = -1.5
    training = space.rays(torch.tensor([[4.0, 0.0, 1.0]]), torch.nn.functional.normalize(torch.tensor([[-4.0, 0.0, -1.0]]), dim=-1))
    assert training.near.item() == 2.0 and training.far.item() == 6.0
    missing = space.rays(far_away, torch.tensor([[0.0, 0.0, 1.0]]))
    assert missing.near.item() == 2.0 and missing.far.item() == 6.0


def test_forward_facing_rays_are_ndc_of_the_average_camera():
    cams = cameras(sweep())
    space, _ = build_scene_space("auto", BOX, cams, {"ndc_near_plane": 1.0}, 1000.0, None)
    assert isinstance(space, ForwardFacingSpace)
    ray = cams.generate_rays(camera_indices=4)  # the middle camera of the sweep is the average one
    o, d = ray.origins.reshape(-1, 3), ray.directions.reshape(-1, 3)
    rays = space.rays(o, d)
    u = (torch.arange(64).float() + 0.5).repeat(48)
    v = (torch.arange(48).float() + 0.5).repeat_interleave(64)
    assert torch.allclose(rays.origins[:, 0], 2 * u / 64 - 1, atol=1e-4)  # NDC x' = the pixel's position in the image
    assert torch.allclose(rays.origins[:, 1], -(2 * v / 48 - 1), atol=1e-4)
    assert torch.allclose(rays.origins[:, 2], torch.full_like(u, -1.0), atol=1e-5)  # on the near plane
    assert torch.allclose(rays.positions(rays.near, rays.far)[:, 0, 2], torch.zeros_like(u), atol=1e-5)  # midpoint of t in [0, 1]
    assert torch.equal(rays.viewdirs, d)  # the colour branch sees world directions


def test_unbounded_space_contracts_around_the_orbit():
    space, _ = build_scene_space("auto", BOX, cameras(orbit(1.0, z=0.0)), {}, 1000.0, None)
    assert isinstance(space, UnboundedSpace)
    assert torch.allclose(space.center, torch.zeros(3), atol=1e-5) and float(space.radius) == pytest.approx(1.0, rel=1e-5)
    far_points = torch.tensor([[1e6, 0.0, 0.0], [0.0, -1e9, 5.0]])
    unit = space.to_unit(far_points)
    assert bool((unit.abs() <= 1.0).all()) and torch.allclose(unit.norm(dim=-1), torch.ones(2), atol=1e-5)
    rays = space.rays(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[-1.0, 0.0, 0.0]]))
    s = torch.linspace(0, 1, 9)[None]
    t = rays.s_to_t(s)
    assert t[0, 0].item() == pytest.approx(0.05) and t[0, -1].item() == pytest.approx(1000.0, rel=1e-4)
    assert torch.allclose(rays.t_to_s(t), s, atol=1e-5)
    lengths = space.step_length(space.to_unit(torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])), 1 / 512)
    assert 0 < lengths[0] < lengths[1]  # far steps are longer in t


def test_scene_kind_needs_cameras_beyond_bounded():
    with pytest.raises(InputError, match="needs the training cameras"):
        build_scene_space("unbounded", BOX, None, {}, 1000.0, None)
    with pytest.raises(InputError, match="collider_params"):
        build_scene_space("auto", BOX, None, {}, 1000.0, None)


def test_each_space_keeps_only_its_own_geometry():
    """A checkpoint of a space holds what that kind needs, nothing of the other kinds."""
    bounded, _ = build_scene_space("bounded", BOX, cameras(orbit(4.0)), {"near_far": (2.0, 6.0)}, 1000.0, None)
    ndc, _ = build_scene_space("forward-facing", BOX, cameras(sweep()), {}, 1000.0, None)
    unbounded, _ = build_scene_space("unbounded", BOX, cameras(orbit(1.0, z=0.0)), {}, 1000.0, None)
    assert set(bounded.state_dict()) == {"near_far", "aabb"}
    assert set(ndc.state_dict()) == {"near_far", "ndc_frame", "ndc_intrinsics", "ndc_near"}
    assert set(unbounded.state_dict()) == {"near_far", "center", "radius"}
    assert (bounded.auto_background, ndc.auto_background, unbounded.auto_background) == ("white", "last_sample", "last_sample")
    assert bounded.depth_range() == (2.0, 6.0) and ndc.depth_range() == unbounded.depth_range() == (None, None)


def test_an_unknown_kind_is_refused_in_one_line():
    with pytest.raises(InputError, match="choose one of auto, bounded, forward-facing, unbounded"):
        build_scene_space("spherical", BOX, cameras(orbit(4.0)), {}, 1000.0, None)


def test_marching_in_the_linear_spaces_is_affine_in_t_and_in_s_for_the_unbounded_one():
    """The occupancy sampler's view of each space: positions of marching coordinates agree with the
    rays' own positions at the distances they map to."""
    for space in [
        build_scene_space("bounded", BOX, cameras(orbit(4.0)), {"near_far": (2.0, 6.0)}, 1000.0, None)[0],
        build_scene_space("unbounded", BOX, cameras(orbit(1.0, z=0.0)), {}, 1000.0, None)[0],
    ]:
        origins = torch.tensor([[4.0, 0.0, 1.0], [0.5, 0.2, 0.0]])
        directions = torch.nn.functional.normalize(torch.tensor([[-4.0, 0.0, -1.0], [-1.0, 0.1, 0.0]]), dim=-1)
        rays = space.rays(origins, directions)
        m_min, m_max = space.march_range(rays)
        m = m_min[:, None] + (m_max - m_min)[:, None] * torch.linspace(0.1, 0.9, 5)[None]
        ids = torch.arange(2)
        t = space.marching_to_t(m, rays.near, rays.far)
        expected = space.to_unit(rays.origins[:, None] + rays.directions[:, None] * t[..., None])
        torch.testing.assert_close(space.marching_positions(rays)(ids, m), expected, atol=1e-5, rtol=1e-5)
        assert bool((expected.abs() <= 1.0 + 1e-5).all())  # the marched range lies inside the unit box


def test_average_pose_of_identical_poses_is_that_pose_and_is_orthonormal():
    pose = look_at([1.0, -2.0, 0.5], [0.0, 0.0, 0.0])
    torch.testing.assert_close(average_pose(pose[None].repeat(3, 1, 1)), pose, atol=1e-6, rtol=0)
    mean = average_pose(torch.stack(sweep()))
    torch.testing.assert_close(mean[:, :3].T @ mean[:, :3], torch.eye(3), atol=1e-6, rtol=0)
