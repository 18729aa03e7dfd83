"""The scene spaces, one class per kind, behind the interface of :class:`SceneSpace`.

A space turns nerfstudio's world rays into :class:`SceneRays`: the rays on which the samplers place
their bins (distances ``t`` between ``near`` and ``far``, spaced by the space's ``s -> t`` map) and
the map from positions to the *unit coordinates* the field and the occupancy grid see
(``[-1, 1]^3``). The math is in :mod:`vanilla_nerf_pe.core.space`.

- :class:`BoundedSpace`: the dataparser's scene box; near and far from the dataparser (Blender:
  NeRF's 2 and 6), else from the cameras and the box, widened per ray to cover the ray's stretch
  inside the box.
- :class:`ForwardFacingSpace`: NDC rays of the average training camera (NeRF, appendix C), t in
  [0, 1] from the near plane (1 after LLFF's rescaling) to infinity; the field sees NDC coordinates.
- :class:`UnboundedSpace`: mip-NeRF 360's contraction (Barron et al. 2022) of the world scaled so
  that the cameras lie in the unit ball around the point they look at; samples linear in t to the
  far side of that ball, then linear in disparity out to ``unbounded_far`` radii.

``auto`` (:func:`choose_scene_kind`) picks a class from the training cameras: forward-facing when
every camera looks within 45 degrees of one direction; bounded when every camera sits outside the
scene box (a tight object box such as Blender's); else unbounded (cameras inside the box see content
beyond it). :func:`build_scene_space` builds the chosen class; nothing else asks which kind it holds.

Each space keeps its own geometry in buffers, so a checkpoint renders with the geometry it was
trained with. The *marching coordinate* ``m`` of the occupancy sampler is ``t`` in the two linear
spaces (unit coordinates are affine in t there) and ``s`` in the unbounded one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Dict, Literal, Optional, Tuple, Type

import torch
from torch import Tensor, nn

from vanilla_nerf_pe.core import space
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.occupancy import ray_aabb_intersect

SceneKind = Literal["auto", "bounded", "forward-facing", "unbounded"]
FORWARD_FACING_MAX_ANGLE = 45.0
"""degrees: auto calls a scene forward-facing when every camera looks within this of the mean direction."""

UnitPositions = Callable[[Tensor, Tensor], Tensor]
"""(ray_ids [N], m [N, k]) -> unit positions [N, k, 3] of marching coordinates m on those rays."""


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
    appearance: Optional[Tensor] = None
    """[R, A] each ray's appearance code for the colour branch (:mod:`vanilla_nerf_pe.nerf.appearance`); None: none."""

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


def buffer(value: Any) -> Tensor:
    """A float32 copy of ``value`` (a tensor, a number or a tuple) to register as a buffer."""
    return torch.as_tensor(value, dtype=torch.float32).detach().clone()


class SceneSpace(nn.Module):
    """The interface of the scene kinds (see the module docstring).

    Subclasses set ``name`` (the ``--pipeline.model.scene`` value) and ``auto_background`` (what
    ``--pipeline.model.background-color auto`` means there), build themselves from the cameras with
    :meth:`from_cameras`, and implement the maps below.
    """

    name: ClassVar[str]
    auto_background: ClassVar[str]
    """"white" (nerfstudio's Blender parser composites on white) or "last_sample" (what lies beyond
    the far bound: sky, far walls)."""

    def __init__(self, near_far: Tuple[float, float]) -> None:
        super().__init__()
        self.register_buffer("near_far", buffer(near_far))

    @classmethod
    def from_cameras(cls, aabb: Tensor, cameras: Any, metadata: Dict[str, Any], unbounded_far: float,
                     collider_near_far: Optional[Tuple[float, float]]) -> Tuple["SceneSpace", str]:
        """The space for the training ``cameras`` (nerfstudio Cameras; None outside a pipeline), the
        dataparser's box [2, 3] and ``metadata`` (``near_far``, ``ndc_near_plane``); returns it and a
        line of detail for the console."""
        raise NotImplementedError

    @classmethod
    def camera_to_worlds(cls, cameras: Any) -> Tensor:
        """The training cameras' poses [N, 3, 4] (float32, CPU), which this kind is built from;
        :class:`InputError` without cameras."""
        if cameras is None:
            raise InputError(f"--pipeline.model.scene {cls.name} needs the training cameras")
        return cameras.camera_to_worlds.detach().float().cpu()

    # rays ----------------------------------------------------------------------------------------
    def rays(self, origins: Tensor, directions: Tensor) -> SceneRays:
        """World rays [R, 3] (unit directions) as :class:`SceneRays`, float32 (the viewer's cameras
        are float64)."""
        origins, directions = origins.float(), directions.float()
        measured_origins, measured_directions = self.measured_rays(origins, directions)
        num = origins.shape[0]
        near, far = self.ray_bounds(measured_origins, measured_directions, self.near_far[0].expand(num, 1), self.near_far[1].expand(num, 1))
        return SceneRays(measured_origins, measured_directions, directions, near, far, self)

    def measured_rays(self, origins: Tensor, directions: Tensor) -> Tuple[Tensor, Tensor]:
        """The rays [R, 3] in the frame where this space measures t (the world by default)."""
        return origins, directions

    def ray_bounds(self, origins: Tensor, directions: Tensor, near: Tensor, far: Tensor) -> Tuple[Tensor, Tensor]:
        """Per-ray near and far [R, 1] from the space's ``near`` and ``far`` [R, 1] (unchanged by default)."""
        return near, far

    def to_unit(self, x: Tensor) -> Tensor:
        """Positions [..., 3] (as measured by :class:`SceneRays`) in unit coordinates."""
        raise NotImplementedError

    def s_to_t(self, s: Tensor, near: Tensor, far: Tensor) -> Tensor:
        """Distances [R, n] for normalised s [R, n] between the rays' near and far [R, 1]."""
        raise NotImplementedError

    def t_to_s(self, t: Tensor, near: Tensor, far: Tensor) -> Tensor:
        """The inverse of :meth:`s_to_t`."""
        raise NotImplementedError

    def depth_range(self) -> Tuple[Optional[float], Optional[float]]:
        """The near and far of the depth colour map: fixed where every ray shares them, else
        (None, None) (each image's own range)."""
        return None, None

    # occupancy-grid marching ---------------------------------------------------------------------
    def marching_extent(self) -> float:
        """The length, in the marching coordinate, that ``num_marching_steps`` steps cross."""
        return 1.0

    def march_range(self, rays: SceneRays) -> Tuple[Tensor, Tensor]:
        """Per-ray [R] range of the marching coordinate that lies inside the unit box."""
        raise NotImplementedError

    def marching_to_t(self, m: Tensor, near: Tensor, far: Tensor) -> Tensor:
        """Distances for marching coordinates m (shaped like near and far, or broadcast to them)."""
        raise NotImplementedError

    def marching_positions(self, rays: SceneRays) -> UnitPositions:
        """The map from (ray ids, marching coordinates) to unit positions on ``rays``."""
        raise NotImplementedError

    def step_length(self, unit: Tensor, step: float) -> Tensor:
        """The length in t [...] of a marching step of ``step`` at unit positions [..., 3]: the
        occupancy grid's ``opacity = sigma * length``."""
        raise NotImplementedError


class LinearSpace(SceneSpace):
    """A space where t is linear in s and unit coordinates are affine in t: the occupancy sampler
    marches in t, and a step has the same length everywhere."""

    def s_to_t(self, s: Tensor, near: Tensor, far: Tensor) -> Tensor:
        return near + s * (far - near)

    def t_to_s(self, t: Tensor, near: Tensor, far: Tensor) -> Tensor:
        return (t - near) / (far - near).clamp_min(1e-10)

    def unit_rays(self, rays: SceneRays) -> Tuple[Tensor, Tensor]:
        """Per-ray origins and directions [R, 3] in unit coordinates: a ray's unit position at t is
        ``origin + t direction``."""
        unit_origin = self.to_unit(rays.origins)
        return unit_origin, self.to_unit(rays.origins + rays.directions) - unit_origin

    def march_range(self, rays: SceneRays) -> Tuple[Tensor, Tensor]:
        """t between near and far, clipped to the unit box."""
        unit_origin, unit_direction = self.unit_rays(rays)
        box = torch.tensor([[-1.0] * 3, [1.0] * 3], device=unit_origin.device)
        t_in, t_out = ray_aabb_intersect(unit_origin, unit_direction, box)
        return torch.maximum(rays.near[:, 0], t_in), torch.minimum(rays.far[:, 0], t_out)

    def marching_to_t(self, m: Tensor, near: Tensor, far: Tensor) -> Tensor:
        return m

    def marching_positions(self, rays: SceneRays) -> UnitPositions:
        unit_origin, unit_direction = self.unit_rays(rays)
        return lambda ray_ids, m: unit_origin[ray_ids, None] + unit_direction[ray_ids, None] * m[..., None]

    def step_length(self, unit: Tensor, step: float) -> Tensor:
        return torch.full(unit.shape[:-1], float(step), device=unit.device)


class BoundedSpace(LinearSpace):
    """The scene box ``aabb`` [2, 3] as the unit box; fixed near and far, widened per ray to the
    ray's stretch inside the box."""

    name = "bounded"
    auto_background = "white"

    def __init__(self, aabb: Tensor, near_far: Tuple[float, float]) -> None:
        super().__init__(near_far)
        self.register_buffer("aabb", buffer(aabb))

    @classmethod
    def from_cameras(cls, aabb, cameras, metadata, unbounded_far, collider_near_far):
        near_far = collider_near_far or metadata.get("near_far")
        if near_far is None:
            if cameras is None:
                raise InputError("a bounded scene without training cameras needs collider_params (near and far)")
            origins = cameras.camera_to_worlds[:, :3, 3].detach().float().cpu()
            center, half = aabb.mean(0).cpu(), 0.5 * float((aabb[1] - aabb[0]).norm())
            dist = (origins - center).norm(dim=-1)
            near_far = (max(float(dist.min()) - half, 0.01 * half), float(dist.max()) + half)
        near_far = tuple(float(v) for v in near_far)
        return cls(aabb, near_far), f"box {aabb[0].tolist()} to {aabb[1].tolist()}, near {near_far[0]:.3g}, far {near_far[1]:.3g}"

    def ray_bounds(self, origins, directions, near, far):
        """near and far [R, 1] widened to the stretch of each ray inside the box: the dataparser's
        values (Blender's 2 and 6) fit its training cameras, not a camera inside or far outside the
        box (the viewer starts at 0.3 of a unit from the centre, inside Blender's box)."""
        t_in, t_out = ray_aabb_intersect(origins, directions, self.aabb)
        t_in = t_in.clamp_min(0.0)[:, None]
        t_out = t_out[:, None]
        hits = t_out > t_in
        return torch.where(hits, torch.minimum(near, t_in), near), torch.where(hits, torch.maximum(far, t_out), far)

    def to_unit(self, x: Tensor) -> Tensor:
        return space.box_to_unit(x, self.aabb)

    def depth_range(self) -> Tuple[Optional[float], Optional[float]]:
        return float(self.near_far[0]), float(self.near_far[1])

    def marching_extent(self) -> float:
        """The box's diagonal: a step of ``diagonal / n`` crosses the box in at most n steps."""
        return float((self.aabb[1] - self.aabb[0]).norm())


class ForwardFacingSpace(LinearSpace):
    """NDC of the average training camera (``ndc_frame`` [3, 4], ``ndc_intrinsics`` fx, fy, width,
    height in pixels, ``ndc_near`` the near plane): t in [0, 1] from the near plane to infinity."""

    name = "forward-facing"
    auto_background = "last_sample"
    NDC_HALF_EXTENT: ClassVar[Tuple[float, float, float]] = (1.5, 1.5, 1.0)
    """NDC x and y beyond the reference camera's view ([-1, 1]) that the field still covers: the
    other training cameras see a little more."""

    def __init__(self, ndc_frame: Tensor, ndc_intrinsics: Tuple[float, float, float, float], ndc_near: float) -> None:
        super().__init__((0.0, 1.0))
        self.register_buffer("ndc_frame", buffer(ndc_frame))
        self.register_buffer("ndc_intrinsics", buffer(ndc_intrinsics))
        self.register_buffer("ndc_near", buffer(ndc_near))

    @classmethod
    def from_cameras(cls, aabb, cameras, metadata, unbounded_far, collider_near_far):
        frame = space.average_pose(cls.camera_to_worlds(cameras))
        intrinsics = (float(cameras.fx[0]), float(cameras.fy[0]), float(2 * cameras.cx[0]), float(2 * cameras.cy[0]))
        ndc_near = float(metadata.get("ndc_near_plane", 1.0))
        return cls(frame, intrinsics, ndc_near), f"NDC of the average camera, near plane {ndc_near:.3g}"

    def measured_rays(self, origins, directions):
        """NDC rays: world rays in the average camera's frame, kept pointing forwards, through
        :func:`~vanilla_nerf_pe.core.space.ndc_rays`."""
        rotation, position = self.ndc_frame[:, :3], self.ndc_frame[:, 3]
        o, d = (origins - position) @ rotation, directions @ rotation
        d = torch.cat([d[..., :2], torch.minimum(d[..., 2:], torch.full_like(d[..., 2:], -1e-4))], dim=-1)
        fx, fy, width, height = self.ndc_intrinsics.tolist()
        return space.ndc_rays(o, d, fx, fy, width, height, float(self.ndc_near))

    def to_unit(self, x: Tensor) -> Tensor:
        return x / x.new_tensor(self.NDC_HALF_EXTENT)


class UnboundedSpace(SceneSpace):
    """mip-NeRF 360's contraction around ``center`` [3] of the world scaled by ``radius``; t spaced
    linearly to the far side of that ball (``2 radius``), then in disparity (the marching
    coordinate is s, since unit coordinates are not affine in t)."""

    name = "unbounded"
    auto_background = "last_sample"

    def __init__(self, center: Tensor, radius: float, near_far: Tuple[float, float]) -> None:
        super().__init__(near_far)
        self.register_buffer("center", buffer(center))
        self.register_buffer("radius", buffer(radius))

    @classmethod
    def from_cameras(cls, aabb, cameras, metadata, unbounded_far, collider_near_far):
        c2w = cls.camera_to_worlds(cameras)
        origins, forwards = c2w[:, :3, 3], -c2w[:, :3, 2]
        center = space.focus_point(origins.double(), forwards.double()).float()
        spread = float((origins - origins.mean(0)).norm(dim=-1).max())
        if float((center - origins.mean(0)).norm()) > 2.0 * max(spread, 1e-6):  # axes nearly parallel
            center = origins.mean(0)
        radius = max(float((origins - center).norm(dim=-1).max()), 1e-3)
        detail = f"contraction around {[round(v, 3) for v in center.tolist()]}, radius {radius:.3g}, far {unbounded_far:g} radii"
        return cls(center, radius, (0.05 * radius, unbounded_far * radius)), detail

    def to_unit(self, x: Tensor) -> Tensor:
        return (0.5 * space.contract((x - self.center) / self.radius)).clamp(-1.0, 1.0)

    def _spacing(self) -> Tuple[float, float, float]:
        """near, far and the distance where the spacing turns to disparity (the ball's far side)."""
        return float(self.near_far[0]), float(self.near_far[1]), 2.0 * float(self.radius)

    def s_to_t(self, s: Tensor, near: Tensor, far: Tensor) -> Tensor:
        return space.contracted_s_to_t(s, *self._spacing())

    def t_to_s(self, t: Tensor, near: Tensor, far: Tensor) -> Tensor:
        return space.contracted_t_to_s(t, *self._spacing())

    def march_range(self, rays: SceneRays) -> Tuple[Tensor, Tensor]:
        """s in [0, 1]: all of it lies inside the unit box."""
        zeros = torch.zeros_like(rays.near[:, 0])
        return zeros, zeros + 1.0

    def marching_to_t(self, m: Tensor, near: Tensor, far: Tensor) -> Tensor:
        return self.s_to_t(m, near, far)

    def marching_positions(self, rays: SceneRays) -> UnitPositions:
        def unit_positions(ray_ids: Tensor, m: Tensor) -> Tensor:
            t = self.s_to_t(m, rays.near[ray_ids], rays.far[ray_ids])
            return self.to_unit(rays.origins[ray_ids, None] + rays.directions[ray_ids, None] * t[..., None])

        return unit_positions

    def step_length(self, unit: Tensor, step: float) -> Tensor:
        """A step of ``step`` in s at the position's distance from the centre (at least near)."""
        near, far, switch = self._spacing()
        t = (float(self.radius) * space.uncontract_norm(2.0 * unit.norm(dim=-1))).clamp_min(near)
        g0 = float(space.contracted_distance(torch.tensor(near, dtype=torch.float64), switch))
        g1 = float(space.contracted_distance(torch.tensor(far, dtype=torch.float64), switch))
        dt_dg = torch.where(t <= switch, torch.full_like(t, switch), t * t / switch)
        return step * (g1 - g0) * dt_dg


SCENE_SPACES: Dict[str, Type[SceneSpace]] = {cls.name: cls for cls in (BoundedSpace, ForwardFacingSpace, UnboundedSpace)}
"""The scene kinds by name; ``auto`` chooses one of them."""
SCENE_KINDS: Tuple[str, ...] = ("auto",) + tuple(SCENE_SPACES)


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


def build_scene_space(kind: str, aabb: Tensor, cameras: Any, metadata: Dict[str, Any], unbounded_far: float,
                      collider_near_far: Optional[Tuple[float, float]]) -> Tuple[SceneSpace, str]:
    """The space of ``kind`` (a name of :data:`SCENE_SPACES`, or ``auto``) for the training cameras
    (see :meth:`SceneSpace.from_cameras`), and a line saying what was chosen and why."""
    if kind not in SCENE_KINDS:
        raise InputError(f"--pipeline.model.scene {kind!r}: choose one of {', '.join(SCENE_KINDS)}")
    reason = "set by --pipeline.model.scene"
    if kind == "auto":
        if cameras is None:
            kind, reason = "bounded", "no training cameras to choose from"
        else:
            kind, reason = choose_scene_kind(cameras.camera_to_worlds.detach().float().cpu(), aabb.cpu())
    scene_space, detail = SCENE_SPACES[kind].from_cameras(aabb, cameras, metadata, unbounded_far, collider_near_far)
    return scene_space, f"{kind} ({reason}; {detail})"
