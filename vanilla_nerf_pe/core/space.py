"""Where the field lives: NDC rays, mip-NeRF 360's contraction and the spacing of samples along rays.

Three scene kinds map a ray to the coordinates the field sees, the *unit coordinates* (the scene
is inside ``[-1, 1]^3`` there, the box the field and the occupancy grid cover):

- bounded: the box ``aabb`` scaled to ``[-1, 1]^3`` (:func:`box_to_unit`);
- forward-facing: NDC rays (Mildenhall et al. 2020, appendix C, :func:`ndc_rays`): the frustum of a
  reference camera from its near plane to infinity becomes ``[-1, 1]^3``;
- unbounded: mip-NeRF 360's contraction (Barron et al. 2022, eq. 10, :func:`contract`) of the world
  scaled to a unit ball; all of space lands in the ball of radius 2, halved to ``[-1, 1]^3``.

Samples along a ray are placed in a normalised *s* in [0, 1] (mip-NeRF 360, sec. 2) and mapped to
distances *t* by a spacing: linear for bounded and NDC rays, :func:`contracted_s_to_t` (linear up to
a distance, then linear in disparity ``1/t``) for unbounded scenes.

Naming, kept throughout: ``origins``, ``directions`` ``[R, 3]`` rays; ``t`` distances along them in
units of ``directions``; ``s`` normalised distances in [0, 1]; ``x`` positions ``[..., 3]``; ``focal``
in pixels, ``width``/``height`` in pixels; ``near`` the NDC near plane (a distance along -z).
Cameras follow nerfstudio's (OpenGL) convention: x right, y up, looking down -z.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor


def box_to_unit(x: Tensor, aabb: Tensor) -> Tensor:
    """Positions [..., 3] in the box aabb [2, 3] (min, max corners) mapped to [-1, 1]; positions
    outside the box map outside [-1, 1]."""
    return 2.0 * (x - aabb[0]) / (aabb[1] - aabb[0]) - 1.0


def ndc_rays(origins: Tensor, directions: Tensor, focal_x: float, focal_y: float, width: float, height: float, near: float) -> Tuple[Tensor, Tensor]:
    """Rays in a camera's frame turned into NDC rays (NeRF, appendix C, eqs. 25 and 26).

    The origins are first moved along their rays to the near plane ``z = -near``; then the point
    ``o' + t d'`` for ``t`` in [0, 1] runs, in NDC, from the near plane (``z' = -1``) to infinity
    (``z' = +1``), and NDC ``x', y'`` in [-1, 1] is the camera's field of view.

    Args:
        origins, directions: [R, 3] in the reference camera's frame (looking down -z); rays must
            point away from the camera (``directions[..., 2] < 0``).
        focal_x, focal_y, width, height: the reference camera's intrinsics in pixels.
        near: the near plane's distance (LLFF rescales scenes so that it is 1).

    Returns:
        origins_ndc, directions_ndc: [R, 3].
    """
    t_near = -(near + origins[..., 2]) / directions[..., 2]
    o = origins + t_near[..., None] * directions
    ox, oy, oz = o.unbind(-1)
    dx, dy, dz = directions.unbind(-1)
    ax, ay = -2.0 * focal_x / width, -2.0 * focal_y / height
    origins_ndc = torch.stack([ax * ox / oz, ay * oy / oz, 1.0 + 2.0 * near / oz], dim=-1)
    directions_ndc = torch.stack([ax * (dx / dz - ox / oz), ay * (dy / dz - oy / oz), -2.0 * near / oz], dim=-1)
    return origins_ndc, directions_ndc


def ndc_point(x: Tensor, focal_x: float, focal_y: float, width: float, height: float, near: float) -> Tensor:
    """NDC of camera-frame points [..., 3] (the projection :func:`ndc_rays` follows, NeRF eq. 24)."""
    px, py, pz = x.unbind(-1)
    return torch.stack([-2.0 * focal_x / width * px / pz, -2.0 * focal_y / height * py / pz, 1.0 + 2.0 * near / pz], dim=-1)


def contract(x: Tensor) -> Tensor:
    """mip-NeRF 360's contraction (eq. 10): x inside the unit ball, ``(2 - 1/|x|) x/|x|`` outside.

    Args:
        x: [..., 3].

    Returns:
        [..., 3] with norm < 2; continuous, and the identity for ``|x| <= 1``.
    """
    norm_sq = torch.sum(x * x, dim=-1, keepdim=True).clamp_min(1e-20)
    norm = torch.sqrt(norm_sq)
    return torch.where(norm <= 1.0, x, (2.0 - 1.0 / norm) * x / norm)


def uncontract_norm(rho: Tensor) -> Tensor:
    """The norm |x| of the points that :func:`contract` sends to norm ``rho`` in [0, 2)."""
    return torch.where(rho <= 1.0, rho, 1.0 / (2.0 - rho).clamp_min(1e-6))


def contracted_distance(t: Tensor, t_switch: float) -> Tensor:
    """The spacing function g of :func:`contracted_s_to_t`: ``t / t_switch`` up to ``t_switch``,
    then ``2 - t_switch / t`` (linear in disparity), continuous with a continuous slope."""
    return torch.where(t <= t_switch, t / t_switch, 2.0 - t_switch / t.clamp_min(1e-20))


def contracted_s_to_t(s: Tensor, near: float, far: float, t_switch: float) -> Tensor:
    """Distances for normalised s in [0, 1]: evenly spaced in g = :func:`contracted_distance`
    between g(near) and g(far), so samples are linear in t up to ``t_switch`` and linear in
    disparity beyond, out to ``far`` (the piecewise spacing of nerfstudio's mip-NeRF 360 sampler;
    with ``near >= t_switch`` it is pure disparity spacing, mip-NeRF 360's ``g(x) = 1/x``).

    Args:
        s: [...] in [0, 1].
        near, far: distances with ``0 < near < far``.
        t_switch: where the spacing turns from linear to disparity (> 0).

    Returns:
        t: [...], increasing in s, t(0) = near and t(1) = far.
    """
    g0 = float(contracted_distance(torch.tensor(near, dtype=torch.float64), t_switch))
    g1 = float(contracted_distance(torch.tensor(far, dtype=torch.float64), t_switch))
    g = g0 + s * (g1 - g0)
    return torch.where(g <= 1.0, g * t_switch, t_switch / (2.0 - g).clamp_min(1e-20))


def contracted_t_to_s(t: Tensor, near: float, far: float, t_switch: float) -> Tensor:
    """The inverse of :func:`contracted_s_to_t`."""
    g0 = float(contracted_distance(torch.tensor(near, dtype=torch.float64), t_switch))
    g1 = float(contracted_distance(torch.tensor(far, dtype=torch.float64), t_switch))
    return (contracted_distance(t, t_switch) - g0) / (g1 - g0)


def focus_point(origins: Tensor, forwards: Tensor) -> Tensor:
    """The point nearest, in least squares, to every camera's optical axis (where an orbit looks).

    Args:
        origins: [N, 3] camera centres; forwards: [N, 3] unit viewing directions.

    Returns:
        [3]; the mean of the origins when the axes are (near) parallel.
    """
    eye = torch.eye(3, dtype=origins.dtype, device=origins.device)
    projector = eye - forwards[:, :, None] * forwards[:, None, :]  # [N, 3, 3]: removes the axis component
    a = projector.sum(0)
    b = (projector @ origins[:, :, None]).sum(0)[:, 0]
    if torch.linalg.matrix_rank(a, rtol=1e-3) < 3:
        return origins.mean(0)
    return torch.linalg.solve(a, b)


def average_pose(camera_to_worlds: Tensor) -> Tensor:
    """LLFF's ``poses_avg`` (Mildenhall et al. 2019): the mean centre, the normalised mean back axis
    and the mean up axis made orthogonal to it.

    Args:
        camera_to_worlds: [N, 3, 4] poses, columns (right, up, back, centre).

    Returns:
        [3, 4] in the same layout, in the input's dtype.
    """
    center = camera_to_worlds[:, :3, 3].mean(0)
    back = torch.nn.functional.normalize(camera_to_worlds[:, :3, 2].sum(0), dim=0)
    up = camera_to_worlds[:, :3, 1].sum(0)
    right = torch.nn.functional.normalize(torch.linalg.cross(up, back), dim=0)
    up = torch.linalg.cross(back, right)
    return torch.stack([right, up, back, center], dim=1)
