"""Pinhole cameras of the demo scenes: poses looking at the origin and the rays through their pixels.

Conventions (nerfstudio's and the NeRF-synthetic scenes'): a camera-to-world matrix in the Blender /
OpenGL convention (the camera looks along its local ``-z``, local ``+y`` is up, ``+x`` right, the
last column is the camera centre); ``f = 0.5 W / tan(0.5 camera_angle_x)``, ``cx = W / 2``,
``cy = H / 2``; pixel (row ``v``, column ``u``) has its centre at ``(u + 0.5, v + 0.5)`` and
camera-space direction ``((u + 0.5 - cx) / f, -(v + 0.5 - cy) / f, -1)``.
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from vanilla_nerf_pe.core.errors import InputError

__all__ = ["SPLITS", "camera_poses", "camera_rays", "focal_length", "look_at"]

#: The splits of the Blender layout; a split's index seeds its own stream of random poses.
SPLITS = ("train", "val", "test")


def look_at(eye, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world matrix (Blender/OpenGL convention) of a camera at ``eye`` looking at ``target``.

    ``eye``, ``target``, ``up``: (3,). Returns (4, 4) float64 with columns
    ``[right, up', back, eye]``: the camera looks along its local ``-z``.
    ``up`` must not be parallel to the viewing direction.
    """
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    norm = np.linalg.norm(right)
    if norm < 1e-12:
        raise InputError("look_at: up is parallel to the viewing direction")
    right = right / norm
    true_up = np.cross(right, forward)
    c2w = np.eye(4)
    c2w[:3, 0] = right
    c2w[:3, 1] = true_up
    c2w[:3, 2] = -forward
    c2w[:3, 3] = eye
    return c2w


def _sphere_point(radius: float, azimuth: float, elevation: float) -> np.ndarray:
    ce = math.cos(elevation)
    return radius * np.array([ce * math.cos(azimuth), ce * math.sin(azimuth), math.sin(elevation)])


def camera_poses(split: str, n: int, seed: int = 0, radius: float = 4.0) -> np.ndarray:
    """Camera-to-world matrices of a split. Returns (n, 4, 4) float64.

    ``train`` / ``val``: azimuth uniform in [0, 2 pi), elevation uniform in
    [5, 80] degrees, from the streams ``SeedSequence([seed, 0])`` /
    ``SeedSequence([seed, 1])``. ``test``: evenly spaced orbit at 30 degrees
    elevation (independent of ``seed``).
    """
    if split == "test":
        az = 2.0 * np.pi * np.arange(n) / max(n, 1)
        el = np.full(n, np.radians(30.0))
    elif split in ("train", "val"):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), SPLITS.index(split)]))
        az = rng.uniform(0.0, 2.0 * np.pi, size=n)
        el = np.radians(rng.uniform(5.0, 80.0, size=n))
    else:
        raise InputError(f"unknown split {split!r}")
    poses = [look_at(_sphere_point(radius, a, e)) for a, e in zip(az, el)]
    return np.stack(poses) if poses else np.zeros((0, 4, 4))


def focal_length(width: int, camera_angle_x: float) -> float:
    """Pinhole focal length in pixels, as nerfstudio's Blender dataparser computes it."""
    return 0.5 * width / math.tan(0.5 * camera_angle_x)


def camera_rays(c2w, H: int, W: int, camera_angle_x: float, supersample: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """World-space rays of a pinhole camera (nerfstudio's convention, see module docstring).

    ``c2w``: (3, 4) or (4, 4) camera-to-world matrix. With ``S = supersample``
    returns ``origins``, ``directions`` of shape (H, W, S, S, 3), float64,
    where index ``[v, u, b, a]`` is the ray through image point
    ``(u + (a + 0.5) / S, v + (b + 0.5) / S)`` (``S = 1``: the pixel centre).
    Directions are unit length; origins are all the camera centre.
    """
    c2w = np.asarray(c2w, dtype=np.float64)
    S = int(supersample)
    f = focal_length(W, camera_angle_x)
    cx, cy = W / 2.0, H / 2.0
    sub = (np.arange(S) + 0.5) / S
    x = (np.arange(W)[:, None] + sub[None, :] - cx) / f  # (W, S) indexed [u, a]
    y = -(np.arange(H)[:, None] + sub[None, :] - cy) / f  # (H, S) indexed [v, b]
    d_cam = np.empty((H, W, S, S, 3))
    d_cam[..., 0] = x[None, :, None, :]
    d_cam[..., 1] = y[:, None, :, None]
    d_cam[..., 2] = -1.0
    d = d_cam @ c2w[:3, :3].T
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    o = np.broadcast_to(c2w[:3, 3], d.shape).copy()
    return o, d
