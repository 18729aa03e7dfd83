"""The scene kinds: bounded, forward-facing (NDC) and unbounded (contraction), chosen from the cameras.

:class:`SceneSpace` turns nerfstudio's world rays into :class:`SceneRays`: the rays on which the
samplers place their bins (distances ``t`` between ``near`` and ``far``, spaced by the kind's
``s -> t`` map) and the map from positions to the unit coordinates the field and the occupancy
grid see (``[-1, 1]^3``). The math is in :mod:`vanilla_nerf_pe.core.space`.

- ``bounded``: the dataparser's scene box; near and far from the dataparser (Blender: NeRF's 2 and
  6), else from the cameras and the box, widened per ray to cover the ray's stretch inside the box.
- ``forward-facing``: NDC rays of the average training camera (NeRF, appendix C), t in [0, 1] from
  the near plane (1 after LLFF's rescaling) to infinity; the field sees NDC coordinates.
- ``unbounded``: mip-NeRF 360's contraction of the world scaled so that the cameras lie in the
  unit ball around the point they look at; samples linear in t to the far side of that ball, then
  linear in disparity out to ``unbounded_far`` radii.
- ``auto`` (:func:`choose_scene_kind`): forward-facing when every camera looks within 45 degrees of
  one direction; bounded when every camera sits outside the scene box (a tight object box such as
  Blender's); else unbounded (cameras inside the box see content beyond it).

The geometry (box, NDC frame, centre and radius, near and far) is kept in buffers, so a checkpoint
renders with the geometry it was trained with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Literal, Optional, Tuple

import torch
from torch import Tensor, nn

from vanilla_nerf_pe.core import space
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.occupancy import ray_aabb_intersect

SceneKind = Literal["auto", "bounded", "forward-facing", "unbounded"]
SCENE_KINDS: Tuple[str, ...] = ("auto", "bounded", "forward-facing", "unbounded")
NDC_HALF_EXTENT = (1.5, 1.5, 1.0)
"""NDC x and y beyond the reference camera's view ([-1, 1]) that the field still covers: the other
training cameras see a little more."""
FORWARD_FACING_MAX_ANGLE = 45.0
"""degrees: auto calls a scene forward-facing when every camera looks within this of the mean direction."""


@dataclass
class SceneRays:
    """Rays as the samplers use them (R rays)."""

    origins: Tensor
    """[R, 3] where distances are measured: world (bounded, unbounded) or NDC (forward-facing)."""
    directions: Tensor
    """[R, 3], the units of t."""
    viewdirs: Tensor
    """[R, 3] unit world directions, for the colour branch."""
    near: Tensor
    """[R, 1]."""
    far: Tensor
    """[R, 1]."""
    space: "SceneSpace"

    def positions(self, t_starts: Tensor, t_ends: Tensor, ray_indices: Optional[Tensor] = None) -> Tensor:
        """Unit coordinates of the bins' midpoints: [R, n, 3] (dense) or [N, 3] (packed)."""
        t_mid = 0.5 * (t_starts + t_ends)
        if ray_indices is not None:
            x = self.origins[ray_indices] + self.directions[ray_indices] * t_mid[:, None]
        else:
            x = self.origins[..., None, :] + self.directions[..., None, :] * t_mid[..., None]
        return self.space.to_unit(x)

    def s_to_t(self, s: Tensor) -> Tensor:
        """Distances [R, n] for normalised s [R, n] in [0, 1]."""
        return self.space.s_to_t(s, self.near, self.far)

    def t_to_s(self, t: Tensor) -> Tensor:
        return self.space.t_to_s(t, self.near, self.far)


def choose_scene_kind(camera_to_worlds: Tensor, aabb: Tensor) -> Tuple[str, str]:
    """``auto``'s choice and its reason, from the training cameras [N, 3, 4] and the scene box [2, 3]."""
    forwards = -camera_to_worlds[:, :3, 2]
    forwards = forwards / forwards.norm(dim=-1, keepdim=True)
    mean = forwards.mean(0)
    worst = math.degrees(math.acos(float((forwards @ (mean / mean.norm().clamp_min(1e-12))).min().clamp(-1, 1))))
    n = len(camera_to_worlds)
    if worst <= FORWARD_FACING_MAX_ANGLE:
        return "forward-facing", f"all {n} cameras look within {worst:.0f} degrees of one direction"
    origins = camera_to_worlds[:, :3, 3]
    inside = int(((origins >= aabb[0]) & (origins <= aabb[1])).all(-1).sum())
    if inside == 0:
        return "bounded", f"the cameras look around the scene ({worst:.0f} degrees apart) from outside its box"
    return "unbounded", f"{inside} of {n} cameras look around from inside the scene box, so the content reaches past it"


def average_pose(camera_to_worlds: Tensor) -> Tensor:
    """LLFF's ``poses_avg``: the mean centre, the normalised mean back axis and mean up axis [3, 4]."""
    center = camera_to_worlds[:, :3, 3].mean(0)
    back = torch.nn.functional.normalize(camera_to_worlds[:, :3, 2].sum(0), dim=0)
    up = camera_to_worlds[:, :3, 1].sum(0)
    right = torch.nn.functional.normalize(torch.linalg.cross(up, back), dim=0)
    up = torch.linalg.cross(back, right)
    return torch.stack([right, up, back, center], dim=1)


class SceneSpace(nn.Module):
    """The scene's kind and geometry (see the module docstring)."""

    KIND_CODES = {"bounded": 0, "forward-facing": 1, "unbounded": 2}

    def __init__(self, kind: str, aabb: Tensor, near_far: Tuple[float, float], ndc_frame: Optional[Tensor] = None,
                 ndc_intrinsics: Tuple[float, float, float, float] = (1.0, 1.0, 2.0, 2.0), ndc_near: float = 1.0,
                 center: Optional[Tensor] = None, radius: float = 1.0) -> None:
        super().__init__()
        if kind not in self.KIND_CODES:
            raise InputError(f"scene kind {kind!r}: choose one of {', '.join(SCENE_KINDS)}")
        self.kind = kind
        self.register_buffer("kind_code", torch.tensor(self.KIND_CODES[kind]))
        self.register_buffer("aabb", aabb.detach().clone().float())
        self.register_buffer("near_far", torch.tensor(near_far, dtype=torch.float32))
        self.register_buffer("ndc_frame", (ndc_frame if ndc_frame is not None else torch.eye(3, 4)).detach().clone().float())
        self.register_buffer("ndc_intrinsics", torch.tensor(ndc_intrinsics, dtype=torch.float32))
        self.register_buffer("ndc_near", torch.tensor(float(ndc_near)))
        self.register_buffer("center", (center if center is not None else torch.zeros(3)).detach().clone().float())
        self.register_buffer("radius", torch.tensor(float(radius)))

    # ----------------------------------------------------------------------------------------------
    @classmethod
    def from_cameras(cls, kind: str, aabb: Tensor, cameras: Any, metadata: Dict[str, Any], unbounded_far: float,
                     collider_near_far: Optional[Tuple[float, float]]) -> Tuple["SceneSpace", str]:
        """The space for the training ``cameras`` (nerfstudio Cameras, or None outside a pipeline), the
        dataparser's box and ``metadata`` (``near_far``, ``ndc_near_plane``); returns it and a line saying
        what was chosen and why."""
        if cameras is None:
            if kind in ("auto", "bounded"):
                near_far = collider_near_far or metadata.get("near_far")
                if near_far is None:
                    raise InputError("a bounded scene without training cameras needs collider_params (near and far)")
                return cls("bounded", aabb, tuple(near_far)), "bounded (no training cameras to choose from)"
            raise InputError(f"--pipeline.model.scene {kind} needs the training cameras")
        c2w = cameras.camera_to_worlds.detach().float().cpu()
        reason = "set by --pipeline.model.scene"
        if kind == "auto":
            kind, reason = choose_scene_kind(c2w, aabb.cpu())
        origins, forwards = c2w[:, :3, 3], -c2w[:, :3, 2]
        if kind == "bounded":
            near_far = collider_near_far or metadata.get("near_far")
            if near_far is None:
                center, half = aabb.mean(0).cpu(), 0.5 * float((aabb[1] - aabb[0]).norm())
                dist = (origins - center).norm(dim=-1)
                near_far = (max(float(dist.min()) - half, 0.01 * half), float(dist.max()) + half)
            space_ = cls("bounded", aabb, tuple(float(v) for v in near_far))
            detail = f"box {aabb[0].tolist()} to {aabb[1].tolist()}, near {near_far[0]:.3g}, far {near_far[1]:.3g}"
        elif kind == "forward-facing":
            frame = average_pose(c2w)
            intrinsics = (float(cameras.fx[0]), float(cameras.fy[0]), float(2 * cameras.cx[0]), float(2 * cameras.cy[0]))
            ndc_near = float(metadata.get("ndc_near_plane", 1.0))
            space_ = cls("forward-facing", aabb, (0.0, 1.0), ndc_frame=frame, ndc_intrinsics=intrinsics, ndc_near=ndc_near)
            detail = f"NDC of the average camera, near plane {ndc_near:.3g}"
        else:
            center = space.focus_point(origins.double(), forwards.double()).float()
            spread = float((origins - origins.mean(0)).norm(dim=-1).max())
            if float((center - origins.mean(0)).norm()) > 2.0 * max(spread, 1e-6):  # axes nearly parallel
                center = origins.mean(0)
            radius = max(float((origins - center).norm(dim=-1).max()), 1e-3)
            space_ = cls("unbounded", aabb, (0.05 * radius, unbounded_far * radius), center=center, radius=radius)
            detail = f"contraction around {[round(v, 3) for v in center.tolist()]}, radius {radius:.3g}, far {unbounded_far:g} radii"
        return space_, f"{kind} ({reason}; {detail})"

    # ----------------------------------------------------------------------------------------------
    def rays(self, origins: Tensor, directions: Tensor) -> SceneRays:
        """World rays [R, 3] (unit directions) as :class:`SceneRays`, float32 (the viewer's cameras are float64)."""
        origins, directions = origins.float(), directions.float()
        viewdirs = directions
        num = origins.shape[0]
        if self.kind == "forward-facing":
            rotation, position = self.ndc_frame[:, :3], self.ndc_frame[:, 3]
            o, d = (origins - position) @ rotation, directions @ rotation
            d = torch.cat([d[..., :2], torch.minimum(d[..., 2:], torch.full_like(d[..., 2:], -1e-4))], dim=-1)  # forwards only
            fx, fy, w, h = self.ndc_intrinsics.tolist()
            o, d = space.ndc_rays(o, d, fx, fy, w, h, float(self.ndc_near))
            origins, directions = o, d
        near = self.near_far[0].expand(num, 1)
        far = self.near_far[1].expand(num, 1)
        if self.kind == "bounded":
            near, far = self._cover_box(origins, directions, near, far)
        return SceneRays(origins, directions, viewdirs, near, far, self)

    def _cover_box(self, origins: Tensor, directions: Tensor, near: Tensor, far: Tensor) -> Tuple[Tensor, Tensor]:
        """near and far [R, 1] widened to the stretch of each ray inside the box: the dataparser's
        values (Blender's 2 and 6) fit its training cameras, not a camera inside or far outside the
        box (the viewer starts at 0.3 of a unit from the centre, inside Blender's box)."""
        t_in, t_out = ray_aabb_intersect(origins, directions, self.aabb)
        t_in = t_in.clamp_min(0.0)[:, None]
        t_out = t_out[:, None]
        hits = t_out > t_in
        return torch.where(hits, torch.minimum(near, t_in), near), torch.where(hits, torch.maximum(far, t_out), far)

    def to_unit(self, x: Tensor) -> Tensor:
        """Positions [..., 3] (as measured by :class:`SceneRays`) in unit coordinates."""
        if self.kind == "bounded":
            return space.box_to_unit(x, self.aabb)
        if self.kind == "forward-facing":
            return x / x.new_tensor(NDC_HALF_EXTENT)
        return (0.5 * space.contract((x - self.center) / self.radius)).clamp(-1.0, 1.0)

    @property
    def linear(self) -> bool:
        """True where t is linear in s and unit coordinates are affine in t (bounded, forward-facing)."""
        return self.kind != "unbounded"

    def _contracted(self) -> Tuple[float, float, float]:
        return float(self.near_far[0]), float(self.near_far[1]), 2.0 * float(self.radius)

    def s_to_t(self, s: Tensor, near: Tensor, far: Tensor) -> Tensor:
        if self.linear:
            return near + s * (far - near)
        return space.contracted_s_to_t(s, *self._contracted())

    def t_to_s(self, t: Tensor, near: Tensor, far: Tensor) -> Tensor:
        if self.linear:
            return (t - near) / (far - near).clamp_min(1e-10)
        return space.contracted_t_to_s(t, *self._contracted())

    def step_length(self, unit: Tensor, step: float) -> Tensor:
        """The length in t [...] of a marching step of ``step`` (in t for linear spaces, in s for the
        unbounded one) at unit positions [..., 3]: the occupancy grid's ``opacity = sigma * length``.
        Unbounded: the step's length at the position's distance from the centre (at least near)."""
        if self.linear:
            return torch.full(unit.shape[:-1], float(step), device=unit.device)
        near, far, switch = self._contracted()
        t = (float(self.radius) * space.uncontract_norm(2.0 * unit.norm(dim=-1))).clamp_min(near)
        g0 = float(space.contracted_distance(torch.tensor(near, dtype=torch.float64), switch))
        g1 = float(space.contracted_distance(torch.tensor(far, dtype=torch.float64), switch))
        dt_dg = torch.where(t <= switch, torch.full_like(t, switch), t * t / switch)
        return step * (g1 - g0) * dt_dg

    def unit_rays(self, rays: SceneRays) -> Tuple[Tensor, Tensor]:
        """Linear spaces only: per-ray origins and directions [R, 3] in unit coordinates, so that a
        ray's unit position at t is ``origin + t direction``."""
        if not self.linear:
            raise ValueError("unit coordinates are not affine in t in the unbounded space")
        unit_origin = self.to_unit(rays.origins)
        return unit_origin, self.to_unit(rays.origins + rays.directions) - unit_origin

    def march_range(self, rays: SceneRays) -> Tuple[Tensor, Tensor]:
        """Per-ray [R] range of the marching coordinate (t for linear spaces, clipped to the unit box;
        s in [0, 1] for the unbounded space, all of which lies inside the box)."""
        if not self.linear:
            zeros = torch.zeros_like(rays.near[:, 0])
            return zeros, zeros + 1.0
        unit_origin, unit_direction = self.unit_rays(rays)
        box = torch.tensor([[-1.0] * 3, [1.0] * 3], device=unit_origin.device)
        t_in, t_out = ray_aabb_intersect(unit_origin, unit_direction, box)
        return torch.maximum(rays.near[:, 0], t_in), torch.minimum(rays.far[:, 0], t_out)
