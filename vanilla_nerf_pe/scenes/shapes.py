"""The demo scenes' objects and the ray tracer that renders them.

Spheres and oriented boxes with a fine *solid* procedural texture (checkerboard or stripes in world
coordinates), and :func:`trace`, an analytic ray tracer in plain numpy: the first hit along each
ray, shaded view-independently (Lambertian with a fixed world-space directional light plus
ambient: ``shade = AMBIENT + (1 - AMBIENT) * max(0, n . l)``), so the radiance is consistent
across views. The fine textures give a radiance field high-frequency detail, which is what makes
positional encoding matter.

World: right-handed, +z up; :data:`OBJECTS` lies inside the cube ``[-1.2, 1.2]^3`` and within
about 1.25 of the origin.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Tuple, Union

import numpy as np

from vanilla_nerf_pe.core.errors import InputError

__all__ = ["AMBIENT", "Box", "LIGHT_DIR", "OBJECTS", "Sphere", "Vec3", "trace"]

Vec3 = Tuple[float, float, float]

#: Unit world-space direction *towards* the light.
LIGHT_DIR = np.array([0.4, 0.3, 0.85]) / np.linalg.norm([0.4, 0.3, 0.85])
#: Ambient term; diffuse weight is ``1 - AMBIENT``.
AMBIENT = 0.35

_EPS = 1e-9

# --------------------------------------------------------------------------
# Objects and textures
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Textured:
    """Solid procedural texture in world coordinates, shared by all objects.

    ``texture == "checker"``: colour_a where ``(floor(k x) + floor(k y) +
    floor(k z)) mod 2 == 0``, else colour_b. ``texture == "stripes"``:
    colour_a where ``sin(k * (stripe_dir . p)) > 0``, else colour_b.
    """

    def texture_color(self, points: np.ndarray) -> np.ndarray:
        """Texture colour at world points. ``points``: (N, 3) -> (N, 3) in [0, 1]."""
        k = self.freq  # type: ignore[attr-defined]
        if self.texture == "checker":  # type: ignore[attr-defined]
            cells = np.floor(k * points).astype(np.int64).sum(axis=-1)
            first = (cells % 2) == 0
        elif self.texture == "stripes":  # type: ignore[attr-defined]
            direction = np.asarray(self.stripe_dir, dtype=np.float64)  # type: ignore[attr-defined]
            direction = direction / np.linalg.norm(direction)
            first = np.sin(k * (points @ direction)) > 0
        else:  # pragma: no cover - guarded by the fixed object list
            raise InputError(f"unknown texture {self.texture!r}")  # type: ignore[attr-defined]
        a = np.asarray(self.color_a, dtype=np.float64)  # type: ignore[attr-defined]
        b = np.asarray(self.color_b, dtype=np.float64)  # type: ignore[attr-defined]
        return np.where(first[:, None], a, b)

    def to_dict(self) -> dict:
        d = {"type": type(self).__name__.lower()}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            d[f.name] = list(v) if isinstance(v, tuple) else v
        return d


@dataclasses.dataclass(frozen=True)
class Sphere(_Textured):
    """Sphere ``|p - center| = radius``."""

    name: str
    center: Vec3
    radius: float
    texture: str
    freq: float
    color_a: Vec3
    color_b: Vec3
    stripe_dir: Vec3 = (0.0, 0.0, 1.0)

    def _t_hit(self, o: np.ndarray, dT: np.ndarray) -> np.ndarray:
        """Ray distance of the first hit. ``o``: (3,) or (3, N); ``dT``: (3, N) unit directions -> (N,), inf on a miss."""
        c = np.asarray(self.center, dtype=np.float64)
        oc = o - (c[:, None] if o.ndim == 2 else c)
        b = (oc * dT).sum(axis=0) if o.ndim == 2 else oc @ dT
        cc = (oc * oc).sum(axis=0) - self.radius**2
        disc = b * b - cc
        hit = disc >= 0
        sq = np.sqrt(np.where(hit, disc, 0.0))
        t0 = -b - sq
        t = np.where(t0 > _EPS, t0, -b + sq)  # origin inside: exit point
        return np.where(hit & (t > _EPS), t, np.inf)

    def normal(self, points: np.ndarray) -> np.ndarray:
        """Outward unit normal at surface points. ``points``: (N, 3) -> (N, 3)."""
        return (points - np.asarray(self.center, dtype=np.float64)) / self.radius


def _rotation_xyz_deg(angles: Vec3) -> np.ndarray:
    """``R = Rz @ Ry @ Rx`` for rotation angles (degrees) about the world x, y, z axes."""
    ax, ay, az = (math.radians(a) for a in angles)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclasses.dataclass(frozen=True)
class Box(_Textured):
    """Oriented box: ``p = center + R @ q`` with ``|q_i| <= half_size_i``.

    ``R = rotation`` is built from ``rotation_deg`` (about x, then y, then z).
    """

    name: str
    center: Vec3
    half_size: Vec3
    texture: str
    freq: float
    color_a: Vec3
    color_b: Vec3
    rotation_deg: Vec3 = (0.0, 0.0, 0.0)
    stripe_dir: Vec3 = (0.0, 0.0, 1.0)

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) local-to-world rotation."""
        return _rotation_xyz_deg(self.rotation_deg)

    def _t_hit(self, o: np.ndarray, dT: np.ndarray) -> np.ndarray:
        """Slab method in the box's local frame.

        ``o``: (3,) or (3, N); ``dT``: (3, N) unit directions -> (N,), inf on a miss.
        """
        rot = self.rotation
        c = np.asarray(self.center, dtype=np.float64)
        h = np.asarray(self.half_size, dtype=np.float64)
        o_l = rot.T @ (o - (c[:, None] if o.ndim == 2 else c))  # (3,) or (3, N)
        d_l = rot.T @ dT  # (3, N)
        t_enter = np.full(dT.shape[1], -np.inf)
        t_exit = np.full(dT.shape[1], np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            for i in range(3):
                inv = 1.0 / d_l[i]  # +-inf for d == 0: the slab test still works ...
                ta = (-h[i] - o_l[i]) * inv
                tb = (h[i] - o_l[i]) * inv
                near = np.minimum(ta, tb)
                far = np.maximum(ta, tb)
                # ... except 0 * inf = nan when the origin is exactly on a slab plane: np.fmax/fmin ignore it.
                t_enter = np.fmax(t_enter, near)
                t_exit = np.fmin(t_exit, far)
        hit = (t_exit >= t_enter) & (t_exit > _EPS)
        t = np.where(t_enter > _EPS, t_enter, t_exit)  # origin inside: exit face
        return np.where(hit, t, np.inf)

    def _local(self, points: np.ndarray) -> np.ndarray:
        return (points - np.asarray(self.center, dtype=np.float64)) @ self.rotation

    def normal(self, points: np.ndarray) -> np.ndarray:
        """Outward unit normal of the face nearest to each surface point. ``points``: (N, 3) -> (N, 3)."""
        q = self._local(points)
        h = np.asarray(self.half_size, dtype=np.float64)
        axis = np.argmax(np.abs(q) / h, axis=-1)
        idx = np.arange(q.shape[0])
        n_l = np.zeros_like(q)
        n_l[idx, axis] = np.where(q[idx, axis] >= 0, 1.0, -1.0)
        return n_l @ self.rotation.T


#: The fixed scene content (independent of the seed). Everything is inside [-1.2, 1.2]^3.
OBJECTS: Tuple[Union[Sphere, Box], ...] = (
    Box(
        name="base",
        center=(0.0, 0.0, -0.6),
        half_size=(0.75, 0.75, 0.06),
        texture="checker",
        freq=8.0,
        color_a=(0.92, 0.92, 0.88),
        color_b=(0.15, 0.25, 0.75),
    ),
    Sphere(
        name="big_sphere",
        center=(-0.35, -0.3, -0.19),
        radius=0.35,
        texture="checker",
        freq=9.0,
        color_a=(0.95, 0.15, 0.1),
        color_b=(1.0, 0.85, 0.1),
    ),
    Sphere(
        name="small_sphere",
        center=(0.45, 0.4, -0.31),
        radius=0.23,
        texture="stripes",
        freq=30.0,
        color_a=(0.1, 0.8, 0.2),
        color_b=(0.95, 0.95, 0.95),
        stripe_dir=(0.0, 0.3, 1.0),
    ),
    Box(
        name="cube",
        center=(0.38, -0.38, -0.28),
        half_size=(0.24, 0.24, 0.26),
        texture="checker",
        freq=7.0,
        color_a=(0.6, 0.1, 0.8),
        color_b=(0.1, 0.85, 0.85),
    ),
    Box(
        name="tower",
        center=(-0.35, 0.4, 0.0),
        half_size=(0.14, 0.14, 0.54),
        rotation_deg=(0.0, 0.0, 30.0),
        texture="stripes",
        freq=28.0,
        color_a=(1.0, 0.5, 0.0),
        color_b=(0.2, 0.1, 0.05),
        stripe_dir=(1.0, 0.0, 0.6),
    ),
    Box(
        name="floating_cube",
        center=(0.15, 0.0, 0.55),
        half_size=(0.2, 0.2, 0.2),
        rotation_deg=(35.0, 25.0, 40.0),
        texture="checker",
        freq=10.0,
        color_a=(0.95, 0.3, 0.6),
        color_b=(0.2, 0.35, 0.1),
    ),
)


def trace(origins: np.ndarray, directions: np.ndarray, objects=OBJECTS) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trace rays against the scene.

    ``directions``: (..., 3), unit length; ``origins``: (..., 3) or a single
    shared origin (3,) (broadcastable against ``directions``).
    ``objects``: sequence of :class:`Sphere` / :class:`Box` (default :data:`OBJECTS`).
    Returns ``t_hit`` (...,) distance to the first hit (``inf`` on a miss),
    ``rgb`` (..., 3) shaded colour in [0, 1] (0 on a miss) and ``hit_mask``
    (...,) bool.
    """
    origins = np.asarray(origins, dtype=np.float64)
    directions = np.asarray(directions, dtype=np.float64)
    shape = directions.shape[:-1]
    dT = np.ascontiguousarray(directions.reshape(-1, 3).T)  # (3, N)
    n_rays = dT.shape[1]
    if origins.size == 3:  # one shared origin (a pinhole camera): cheaper
        o = origins.reshape(3)
    else:
        o = np.ascontiguousarray(np.broadcast_to(origins, directions.shape).reshape(-1, 3).T)
    t_best = np.full(n_rays, np.inf)
    obj_best = np.full(n_rays, -1, dtype=np.int64)
    for i, obj in enumerate(objects):
        t = obj._t_hit(o, dT)
        closer = t < t_best
        t_best = np.where(closer, t, t_best)
        obj_best[closer] = i
    hit = obj_best >= 0
    rgb = np.zeros((n_rays, 3))
    for i, obj in enumerate(objects):
        sel = np.flatnonzero(obj_best == i)
        if sel.size:
            o_sel = o if o.ndim == 1 else o[:, sel].T
            points = o_sel + t_best[sel, None] * dT[:, sel].T
            shade = AMBIENT + (1.0 - AMBIENT) * np.maximum(0.0, obj.normal(points) @ LIGHT_DIR)
            rgb[sel] = obj.texture_color(points) * shade[:, None]
    rgb = np.clip(rgb, 0.0, 1.0)
    return t_best.reshape(shape), rgb.reshape(shape + (3,)), hit.reshape(shape)
