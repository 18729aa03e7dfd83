"""pose_errors on poses as ns-process-data writes them: COLMAP's world-to-camera matrices (OpenCV's
camera axes) in a world of its own (a known similarity of the true one), turned into nerfstudio's
camera-to-world matrices as nerfstudio's ``colmap_utils.colmap_to_json`` does."""

from __future__ import annotations

import numpy as np
import pytest

from vanilla_nerf_pe.core.pose_alignment import perturb_poses, pose_errors
from vanilla_nerf_pe.scenes.capture_video import VideoConfig, orbit_pose

OPENCV_FROM_OPENGL = np.diag([1.0, -1.0, -1.0])


def colmap_world_to_camera(true_c2w: np.ndarray, scale: float, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """[N, 4, 4] COLMAP's world-to-camera matrices (OpenCV axes) of the cameras ``true_c2w`` [N, 4, 4]
    (OpenGL axes) in the world x' = scale * rotation @ x + translation."""
    out = np.tile(np.eye(4), (len(true_c2w), 1, 1))
    for i, pose in enumerate(true_c2w):
        r = rotation @ pose[:3, :3] @ OPENCV_FROM_OPENGL
        c = scale * rotation @ pose[:3, 3] + translation
        out[i, :3, :3], out[i, :3, 3] = r.T, -r.T @ c
    return out


def nerfstudio_from_colmap(w2c: np.ndarray) -> np.ndarray:
    """[N, 4, 4] nerfstudio's camera-to-world matrices, as colmap_to_json computes them."""
    out = []
    for m in w2c:
        c2w = np.linalg.inv(m)
        c2w[0:3, 1:3] *= -1  # OpenCV -> OpenGL camera axes
        c2w = c2w[np.array([0, 2, 1, 3]), :]  # and its world axes
        c2w[2, :] *= -1
        out.append(c2w)
    return np.stack(out)


@pytest.fixture(scope="module")
def true_poses() -> np.ndarray:
    config = VideoConfig(num_frames=24)
    return np.stack([orbit_pose(i / 24, config) for i in range(24)])


def test_colmaps_poses_in_their_own_world_have_no_error(true_poses):
    rotation = np.array([[0.0, -1.0, 0.0], [0.6, 0.0, -0.8], [0.8, 0.0, 0.6]])
    given = nerfstudio_from_colmap(colmap_world_to_camera(true_poses, 0.31, rotation, np.array([2.0, -1.0, 0.3])))
    rot, trans, similarity = pose_errors(given, true_poses)
    assert rot.max() < 1e-6 and trans.max() < 1e-9
    assert similarity.scale == pytest.approx(1 / 0.31)
    # OpenCV camera axes left unconverted are 180 degrees off: both sets must share a convention
    rot, _, _ = pose_errors(np.linalg.inv(colmap_world_to_camera(true_poses, 1.0, np.eye(3), np.zeros(3))), true_poses)
    np.testing.assert_allclose(rot, 180.0, atol=1e-4)


def test_a_known_turn_of_each_camera_is_its_rotation_error(true_poses):
    turned = perturb_poses(true_poses, 3.0, 0.0, seed=2)  # about each centre: the similarity stays the identity
    given = nerfstudio_from_colmap(colmap_world_to_camera(turned, 2.0, np.eye(3), np.ones(3)))
    rot, trans, _ = pose_errors(given, true_poses)
    np.testing.assert_allclose(rot, 3.0, atol=1e-6)
    assert trans.max() < 1e-9
