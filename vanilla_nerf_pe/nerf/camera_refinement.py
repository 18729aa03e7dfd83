"""Refinement of the training cameras' poses during training, for captures posed by COLMAP.

COLMAP's poses of a phone video are off by a fraction of a degree and a little translation; a
NeRF trained on them blurs what the cameras disagree on. nerfstudio's nerfacto (Tancik et al.
2023, "Nerfstudio: A Modular Framework for Neural Radiance Field Development") learns a correction
per training camera, a rotation and a translation ("SO3xR3") applied to that camera's rays in
training, trained by its own optimizer ("camera_opt") and pulled towards zero by a small L2 penalty.
Our model uses the same :class:`~nerfstudio.cameras.camera_optimizers.CameraOptimizer`
(``--pipeline.model.camera-optimizer.mode``), in the same places as nerfacto: training rays get the
correction; held-out views, the viewer's renders and ``ns-render`` paths keep the poses they are
given; the viewer draws the refined training cameras and ``ns-export cameras`` writes them (both
read ``model.camera_optimizer``).

This module holds the capture presets' settings and reads the refined poses back.
"""

from __future__ import annotations

from typing import Dict

import torch
from nerfstudio.cameras.camera_optimizers import CameraOptimizer
from nerfstudio.cameras.cameras import Cameras
from nerfstudio.engine.optimizers import AdamOptimizerConfig

from vanilla_nerf_pe.nerf.schedulers import NeRFDecaySchedulerConfig

CAMERA_LR = 1e-4
"""Adam's step for the pose corrections at the start, a tenth of nerfacto's: with 512 rays per
batch a camera sees a few rays per step, and Adam turns their noisy gradient into steps of about
the learning rate, a random walk that nerfacto's rate makes larger than COLMAP's errors within a
few hundred steps (the runs on the generated video in docs/real-captures.md)."""
CAMERA_LR_FINAL = 1e-5
"""... and at the end of the decay."""


def camera_opt_optimizer(max_steps: int, lr: float = CAMERA_LR, lr_final: float = CAMERA_LR_FINAL) -> Dict[str, object]:
    """The TrainerConfig ``optimizers["camera_opt"]`` entry: Adam (nerfacto's eps) with an
    exponential decay from ``lr`` to ``lr_final`` over ``max_steps``: nerfacto's schedule, by our
    scheduler, whose state holds Python floats (nerfstudio's puts numpy floats in the checkpoint,
    which ``torch.load(weights_only=True)`` refuses; :mod:`vanilla_nerf_pe.nerf.schedulers`)."""
    return {
        "optimizer": AdamOptimizerConfig(lr=lr, eps=1e-15),
        "scheduler": NeRFDecaySchedulerConfig(lr_final=lr_final, max_steps=max_steps),
    }


@torch.no_grad()
def refined_poses(camera_optimizer: CameraOptimizer, cameras: Cameras) -> torch.Tensor:
    """[N, 3, 4] the training cameras' camera-to-world poses with the learned corrections applied
    as in training (the rotation turns the directions in the world frame, the translation moves
    the centre): what nerfstudio's ``CameraOptimizer.apply_to_camera`` gives for each one."""
    c2w = cameras.camera_to_worlds.float()
    device = next(camera_optimizer.parameters(), c2w).device  # "off" has no parameters
    correction = camera_optimizer(torch.arange(len(c2w), device=device)).to(c2w)
    return torch.cat([correction[:, :3, :3] @ c2w[:, :3, :3], c2w[:, :3, 3:] + correction[:, :3, 3:]], dim=-1)
