"""vanilla_nerf_pe.nerf.patches: installed by an explicit call only, each patch checked against its
nerfstudio version, and the spiral patch, which has no end-to-end test of its own."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from nerfstudio.cameras.cameras import Cameras

from vanilla_nerf_pe.nerf import patches


def camera(c2w: torch.Tensor) -> Cameras:
    return Cameras(fx=200.0, fy=200.0, cx=126.0, cy=94.5, camera_to_worlds=c2w[None, :3, :4].float())


def rotation(axis: str, angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    m = {"x": [[1, 0, 0], [0, c, -s], [0, s, c]], "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]], "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]]}[axis]
    return torch.tensor(m, dtype=torch.float64)


def roll_against(start: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
    """[N] degrees by which each camera of ``path`` [N, 3, 4] is rolled about its view axis against ``start`` [3, 4]."""
    up_start = start[:3, 1]
    right, up, back = path[:, :3, 0], path[:, :3, 1], path[:, :3, 2]
    # the start camera's up, projected on each camera's image plane, against that camera's up
    projected = up_start - (up_start * back).sum(-1, keepdim=True) * back
    return torch.rad2deg(torch.atan2((projected * right).sum(-1), (projected * up).sum(-1))).abs()


@pytest.mark.parametrize(
    "start",
    [torch.eye(4, dtype=torch.float64),  # a recentred forward-facing capture: looking along the world's -z
     torch.cat([torch.cat([rotation("x", 1.1) @ rotation("z", 0.7), torch.tensor([[0.5], [-2.0], [3.0]], dtype=torch.float64)], 1),
                torch.tensor([[0, 0, 0, 1.0]], dtype=torch.float64)])],  # a Blender-like orbit camera
)
def test_spiral_path_keeps_the_start_cameras_up_and_nerfstudios_positions(start):
    """No camera of patches.spiral_path is rolled against the start camera (the spiral's radius is
    small against its focus distance, so each camera is the start one turned by well under a
    degree); the positions are nerfstudio's; ns-render finds it. nerfstudio's own up, taken from
    the world, rolls the forward-facing spiral by an arbitrary angle."""
    from nerfstudio.cameras import camera_paths
    from nerfstudio.scripts import render

    start_camera = camera(start)
    patches.install()
    ours = patches.spiral_path(start_camera, steps=12, radius=0.1).camera_to_worlds.double()
    assert roll_against(start[:3, :4], ours).max() < 0.5
    theta = torch.linspace(0.0, 4.0 * math.pi, 13, dtype=torch.float64)[:-1]
    local = torch.stack([torch.cos(theta), -torch.sin(theta), -torch.sin(0.5 * theta)], -1) * 0.1
    torch.testing.assert_close(ours[:, :3, 3], local @ start[:3, :3].T + start[:3, 3], atol=1e-5, rtol=0)
    assert camera_paths.get_spiral_path is patches.spiral_path and render.get_spiral_path is patches.spiral_path
    if torch.equal(start, torch.eye(4, dtype=torch.float64)):
        original = nerfstudios_spiral()(start_camera, steps=12, radius=0.1).camera_to_worlds.double()
        assert roll_against(start[:3, :4], original).max() > 10.0


def nerfstudios_spiral():
    """nerfstudio's get_spiral_path as it ships (the module's source, not the patched attribute)."""
    import importlib.util

    spec = importlib.util.find_spec("nerfstudio.cameras.camera_paths")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_spiral_path


IMPORT_AND_INSTALL = """
import sys
from nerfstudio.cameras import camera_paths
hook, spiral = sys.excepthook, camera_paths.get_spiral_path
import vanilla_nerf_pe.nerf.model, vanilla_nerf_pe.nerf.patches, vanilla_nerf_pe.nerf.guard, vanilla_nerf_pe.nerf.llff
print(sys.excepthook is hook, camera_paths.get_spiral_path is spiral)
import nerfstudio.data.datamanagers.base_datamanager  # discovers the dataparsers: our registry among them
print(sys.excepthook is hook, camera_paths.get_spiral_path is spiral)
"""


def test_importing_the_method_changes_nothing_until_the_registry_installs_the_patches():
    """Importing the model, the field, the samplers, the guard, the LLFF parser or the patches module
    (a notebook, another project's test) leaves sys.excepthook and nerfstudio's functions alone;
    nerfstudio's discovery of its dataparser plugins, which every ns-* tool runs when it imports its
    datamanager (and so do our method configs and pipelines, which build on it), loads our registry,
    which installs both."""
    out = subprocess.run([sys.executable, "-c", IMPORT_AND_INSTALL], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["True", "True", "False", "False"], out.stderr[-2000:]


def test_a_patch_written_for_another_nerfstudio_is_not_applied(monkeypatch):
    calls = []
    monkeypatch.setattr(patches, "PATCHES", (patches.Patch("a test patch", "0.0.1", lambda: calls.append(1)),))
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    with pytest.warns(UserWarning, match="a test patch is written for nerfstudio 0.0.1, but nerfstudio 1.1.5 is installed"):
        assert patches.install() == []
    assert calls == []
    monkeypatch.setattr(patches, "PATCHES", (patches.Patch("a test patch", "1.1.5", lambda: calls.append(1)),))
    assert patches.install() == ["a test patch"] and calls == [1]
    assert getattr(sys.excepthook, "vanilla_nerf_pe", False)
