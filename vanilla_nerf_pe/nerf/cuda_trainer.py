"""The trainer of presets sized for a CUDA GPU: it stops at start, in one line, without one.

nerfstudio's trainer on a machine without CUDA (or with ``--machine.device-type cpu``) would build
a GPU preset's batch of 2^18 samples and 8 x 256 field on the CPU, where a step takes seconds and
the schedule days, or fail deep in torch on ``cuda:0``. :class:`CUDATrainerConfig` checks before the
trainer exists and names the presets sized for a CPU instead. ``ns-eval``, ``ns-render`` and
``ns-viewer`` never build a trainer, so they open the preset's runs on any device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Tuple

import torch
from nerfstudio.engine.trainer import TrainerConfig

from vanilla_nerf_pe.core.errors import InputError

CPU_PRESETS: Tuple[str, ...] = ("vanilla-nerf-pe-fast", "vanilla-nerf-pe-forward-facing", "vanilla-nerf-pe-360")
"""the presets sized for a CPU, named by the refusal."""


def check_cuda(method_name: str, device_type: str, cuda_available: bool) -> None:
    """Raise :class:`InputError` (one line, exit status 2) unless ``device_type`` is CUDA and a CUDA
    device is there."""
    if device_type == "cuda" and cuda_available:
        return
    reason = "this machine has no CUDA device" if not cuda_available else f"--machine.device-type is {device_type}"
    raise InputError(
        f"{method_name} is sized for a CUDA GPU and {reason}: on a CPU train {CPU_PRESETS[0]} (Blender scenes), "
        f"{CPU_PRESETS[1]} or {CPU_PRESETS[2]} (captures)"
    )


@dataclass
class CUDATrainerConfig(TrainerConfig):
    """nerfstudio's TrainerConfig that refuses to build its trainer without CUDA (see the module docstring)."""

    def setup(self, **kwargs: Any) -> Any:
        check_cuda(self.method_name or "this preset", self.machine.device_type, torch.cuda.is_available())
        return super().setup(**kwargs)
