"""How far one set of camera poses is from another, up to the similarity that relates their frames.

A structure-from-motion reconstruction (COLMAP) knows its cameras only up to a similarity: any
rotation, translation and scale of the whole set fits the images equally well. Its poses are
compared with the true ones after the similarity that best maps its camera centres onto the true
centres (Umeyama 1991, "Least-squares estimation of transformation parameters between two point
patterns"); the rotation error is the angle of each camera's residual rotation after that, the
translation error the distance between its centre and the true one, in the true frame's units.

Poses are camera-to-world matrices [N, 3, 4] or [N, 4, 4] in any one camera convention (OpenGL's,
nerfstudio's): the comparison only needs both sets to share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

from vanilla_nerf_pe.core.errors import InputError


@dataclass(frozen=True)
class Similarity:
    """x -> scale * rotation @ x + translation."""

    scale: float
    rotation: np.ndarray
    """[3, 3]."""
    translation: np.ndarray
    """[3]."""

    def apply_to_poses(self, poses: np.ndarray) -> np.ndarray:
        """[N, 3, 4] the camera-to-world poses [N, 3|4, 4] moved by this similarity (rotations
        rotated, centres mapped; the camera's own axes keep unit length)."""
        rotations = self.rotation @ poses[:, :3, :3]
        centres = self.scale * poses[:, :3, 3] @ self.rotation.T + self.translation
        return np.concatenate([rotations, centres[:, :, None]], axis=2)


def umeyama(source: np.ndarray, target: np.ndarray) -> Similarity:
    """The similarity that maps points ``source`` [N, 3] onto ``target`` [N, 3] with the least
    squared error (N >= 3 points, not all on a line)."""
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3 or len(source) < 3:
        raise InputError(f"umeyama needs two [N, 3] point sets with N >= 3, got {source.shape} and {target.shape}")
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    covariance = t.T @ s / len(source)
    u, d, vt = np.linalg.svd(covariance)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1.0
    rotation = u @ sign @ vt
    variance = (s**2).sum() / len(source)
    if variance <= 0:
        raise InputError("umeyama: the source points all coincide")
    scale = float(np.trace(np.diag(d) @ sign) / variance)
    return Similarity(scale, rotation, mu_t - scale * rotation @ mu_s)


def rotation_angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N] the angle in degrees of each relative rotation a_i^T b_i, for rotations [N, 3, 3]."""
    relative = np.einsum("nji,njk->nik", a, b)
    cos = (np.trace(relative, axis1=1, axis2=2) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def pose_errors(poses: np.ndarray, true_poses: np.ndarray) -> Tuple[np.ndarray, np.ndarray, Similarity]:
    """Rotation errors (degrees) [N] and centre errors (true units) [N] of ``poses`` [N, 3|4, 4]
    after the similarity (returned) that maps their centres onto those of ``true_poses`` [N, 3|4, 4]."""
    similarity = umeyama(poses[:, :3, 3], true_poses[:, :3, 3])
    aligned = similarity.apply_to_poses(poses)
    rotation = rotation_angles_deg(aligned[:, :3, :3], true_poses[:, :3, :3])
    translation = np.linalg.norm(aligned[:, :3, 3] - true_poses[:, :3, 3], axis=1)
    return rotation, translation, similarity


def perturb_poses(poses: np.ndarray, rotation_deg: float, translation: float, seed: int = 0) -> np.ndarray:
    """[N, 4, 4] the poses [N, 3|4, 4] each turned by ``rotation_deg`` degrees about a random axis
    (about the camera centre) and moved by ``translation`` in a random direction (reproducible by ``seed``)."""
    rng = np.random.default_rng(seed)
    out = np.tile(np.eye(4), (len(poses), 1, 1))
    for i, pose in enumerate(poses):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = np.radians(rotation_deg)
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        turn = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k  # Rodrigues
        step = rng.normal(size=3)
        out[i, :3, :3] = turn @ pose[:3, :3]
        out[i, :3, 3] = pose[:3, 3] + translation * step / np.linalg.norm(step)
    return out
