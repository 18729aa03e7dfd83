"""Every place where this package patches or copies nerfstudio: one module, checked against the
nerfstudio version it was written for (:data:`NERFSTUDIO_VERSION`).

1. **Data-parallel training on CPU.** nerfstudio 1.1.5 launches ``--machine.num-devices N``
   processes and picks gloo off CUDA, but two lines stop a CPU run: its worker
   (``nerfstudio/scripts/train.py``: ``_distributed_worker``) asserts CUDA first, and
   ``VanillaPipeline`` wraps the model as ``DistributedDataParallel(model, device_ids=[local_rank])``,
   which PyTorch refuses for a CPU module. :func:`distributed_worker` is that worker with its CUDA
   checks kept for CUDA only (``vnp-train``, :func:`train_entrypoint`, is ``ns-train`` with it), and
   :class:`DataParallelPipeline` / :class:`DataParallelDynamicBatchPipeline` wrap the model without
   ``device_ids`` off CUDA. Nothing changes on CUDA.
2. **float32 cameras.** nerfstudio's Blender parser gives float64 focal lengths (numpy's tan),
   which breaks ``ns-render spiral`` (``torch.cross`` of float32 and float64 in
   ``get_spiral_path``): :func:`float32_cameras`.
3. **Background override.** nerfstudio's viewer and ``ns-render`` set a background colour with
   ``background_color_override_context``, which its own renderer reads from a module global:
   :func:`background_override` reads it for ours.
4. **Ctrl-C under the viewer.** nerfstudio's viewer renders a frame in a thread of its own while
   holding the trainer's ``train_lock``, and the training loop waits for that lock before each
   iteration. A full-resolution frame of a young model takes minutes on a CPU (before the
   occupancy grid is pruned every ray marches the whole box), so a Ctrl-C could not end the
   iteration, save and leave until the frame was done. :func:`stop_viewer_renders` interrupts the
   frame the way the viewer itself does when the camera moves, and stops its render threads.
5. **One-line errors under nerfstudio's tools.** ``ns-train``, ``ns-eval`` and ``ns-render`` are
   nerfstudio's entry points and print any exception with a traceback; :func:`install_excepthook`
   reports this package's errors (:mod:`vanilla_nerf_pe.core.errors`) in one line with their exit
   status instead. Installed when this module is imported (ns-* import our method configs).
6. **The roll of ``ns-render spiral``.** nerfstudio's ``get_spiral_path`` builds each camera of the
   spiral with a look-at in the start camera's own frame, but takes its "up" from the world (the
   start camera's z axis in world coordinates, "scene is z up"). The two frames differ, so the
   video is rolled; for a forward-facing capture, whose recentred start camera looks along the
   world's -z, that "up" is parallel to the view direction and the roll is arbitrary (fern came
   out visibly tilted). :func:`spiral_path` is that function with the camera's own up,
   (0, 1, 0) in its frame, as NeRF's ``render_path_spiral`` uses the average camera's up; it
   replaces nerfstudio's when this module is imported.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import metadata
from typing import Any, Callable, Literal, Optional, Type

import torch
import torch.distributed as dist
from nerfstudio.pipelines.base_pipeline import VanillaPipeline, VanillaPipelineConfig
from nerfstudio.pipelines.dynamic_batch import DynamicBatchPipeline, DynamicBatchPipelineConfig
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel as DDP

from vanilla_nerf_pe.core.errors import VanillaNeRFError, report

NERFSTUDIO_VERSION = "1.1.5"
"""The nerfstudio release whose internals this module copies or patches."""


def check_nerfstudio_version() -> Optional[str]:
    """The installed nerfstudio version if it is not :data:`NERFSTUDIO_VERSION` (with a warning), else None."""
    try:
        installed = metadata.version("nerfstudio")
    except metadata.PackageNotFoundError:
        return None
    if installed != NERFSTUDIO_VERSION:
        warnings.warn(
            f"vanilla-nerf-pe patches nerfstudio {NERFSTUDIO_VERSION} internals (vanilla_nerf_pe/nerf/compat.py) but "
            f"nerfstudio {installed} is installed: data-parallel CPU training, float32 cameras and the background "
            "override may not apply",
            stacklevel=2,
        )
        return installed
    return None


# 1. data-parallel training on CPU --------------------------------------------------------------


class _CPUDataParallel:
    """Mixin for nerfstudio pipelines: on a non-CUDA device with ``world_size > 1``, build the
    pipeline as a single-process one, then wrap the model in DDP without ``device_ids``. DDP then
    averages the gradients over the processes with gloo and broadcasts rank 0's buffers (the
    occupancy grid, the Fourier matrix) before each forward pass."""

    def __init__(self, config, device, test_mode="val", world_size: int = 1, local_rank: int = 0, grad_scaler=None):
        on_cpu = world_size > 1 and torch.device(device).type != "cuda"
        super().__init__(  # type: ignore[call-arg]
            config, device, test_mode=test_mode, world_size=1 if on_cpu else world_size, local_rank=local_rank, grad_scaler=grad_scaler
        )
        if on_cpu:
            self.world_size = world_size
            self._model = DDP(self._model, find_unused_parameters=True)
            dist.barrier()


class DataParallelPipeline(_CPUDataParallel, VanillaPipeline):
    """nerfstudio's ``VanillaPipeline``, data-parallel on CPU too."""


class DataParallelDynamicBatchPipeline(_CPUDataParallel, DynamicBatchPipeline):
    """nerfstudio's ``DynamicBatchPipeline``, data-parallel on CPU too, with the batch bounded.

    nerfstudio scales the next batch by ``target / samples of the last batch`` without a bound: a
    batch whose rays found almost no occupied space (a scene whose geometry does not fit the
    model's, or the first steps on a new capture) asked for 206 GB of rays."""

    def _update_dynamic_num_rays_per_batch(self, num_samples_per_batch: int) -> None:
        super()._update_dynamic_num_rays_per_batch(num_samples_per_batch)
        self.dynamic_num_rays_per_batch = min(max(self.dynamic_num_rays_per_batch, 1), self.config.max_num_rays_per_batch)


@dataclass
class DataParallelPipelineConfig(VanillaPipelineConfig):
    _target: Type = field(default_factory=lambda: DataParallelPipeline)


@dataclass
class DataParallelDynamicBatchPipelineConfig(DynamicBatchPipelineConfig):
    _target: Type = field(default_factory=lambda: DataParallelDynamicBatchPipeline)
    max_num_rays_per_batch: int = 1 << 13
    """the most rays of one training batch, whatever the last batch's samples per ray."""


def distributed_worker(
    local_rank: int,
    main_func: Callable,
    world_size: int,
    num_devices_per_machine: int,
    machine_rank: int,
    dist_url: str,
    config: Any,
    timeout: timedelta = timedelta(minutes=30),
    device_type: Literal["cpu", "cuda", "mps"] = "cuda",
) -> Any:
    """nerfstudio 1.1.5's ``_distributed_worker`` (same arguments) with the CUDA checks only where
    the device type is CUDA: one process of a data-parallel run."""
    from nerfstudio.utils import comms

    if device_type == "cuda":
        assert torch.cuda.is_available(), "cuda is not available. Please check your installation."
        assert num_devices_per_machine <= torch.cuda.device_count()
    global_rank = machine_rank * num_devices_per_machine + local_rank
    dist.init_process_group(
        backend="nccl" if device_type == "cuda" else "gloo",
        init_method=dist_url,
        world_size=world_size,
        rank=global_rank,
        timeout=timeout,
    )
    assert comms.LOCAL_PROCESS_GROUP is None
    for i in range(world_size // num_devices_per_machine):
        group = dist.new_group(list(range(i * num_devices_per_machine, (i + 1) * num_devices_per_machine)))
        if i == machine_rank:
            comms.LOCAL_PROCESS_GROUP = group
    output = main_func(local_rank, world_size, config, global_rank)
    comms.synchronize()
    dist.destroy_process_group()
    return output


def train_entrypoint() -> None:
    """Console script ``vnp-train``: ``ns-train`` whose launcher can also spawn CPU processes."""
    import nerfstudio.scripts.train as train

    train._distributed_worker = distributed_worker  # launch() looks the worker up at call time
    train.entrypoint()


# 2. float32 cameras ----------------------------------------------------------------------------


def float32_cameras(dataset: Any) -> Any:
    """The dataset with every float64 tensor of its ``cameras`` cast to float32 (in place)."""
    cameras = dataset.cameras
    for name in ("fx", "fy", "cx", "cy", "camera_to_worlds", "distortion_params"):
        value = getattr(cameras, name, None)
        if isinstance(value, torch.Tensor) and value.dtype == torch.float64:
            setattr(cameras, name, value.float())
    return dataset


# 3. background override ------------------------------------------------------------------------


def background_override() -> Optional[Tensor]:
    """The [3] colour set by nerfstudio's ``background_color_override_context``, or None."""
    from nerfstudio.model_components import renderers

    return renderers.BACKGROUND_COLOR_OVERRIDE


# 4. Ctrl-C under the viewer -------------------------------------------------------------------


def stop_viewer_renders(viewer_state: Any) -> int:
    """Interrupt the frame that each of the viewer's render threads is rendering and end the
    threads; returns how many there were.

    A render thread checks its ``interrupt_render_flag`` at every line of Python it runs while it
    renders (nerfstudio's ``SetTrace``) and abandons the frame, releasing the training lock; with
    ``running`` false its loop ends instead of starting the next frame.
    """
    machines = list(getattr(viewer_state, "render_statemachines", {}).values())
    for machine in machines:
        machine.running = False
        machine.interrupt_render_flag = True
        machine.render_trigger.set()  # a thread waiting for its next frame wakes up and ends
    return len(machines)


# 5. one-line errors ----------------------------------------------------------------------------


def flush_training_logs() -> None:
    """Write out nerfstudio's buffered scalars and flush its tensorboard writers, stdout and stderr:
    what a process that leaves through ``os._exit`` would otherwise lose."""
    from nerfstudio.utils import writer

    writer.write_out_storage()
    for event_writer in writer.EVENT_WRITERS:
        flush = getattr(getattr(event_writer, "tb_writer", None), "flush", None)
        if flush is not None:
            flush()
    sys.stdout.flush()
    sys.stderr.flush()


def install_excepthook(prog: str = "vanilla-nerf-pe") -> None:
    """Report an uncaught :class:`~vanilla_nerf_pe.core.errors.VanillaNeRFError` as one line with its
    exit status (2 for bad input); any other exception goes to the previous hook."""
    previous = sys.excepthook
    if getattr(previous, "vanilla_nerf_pe", False):
        return

    def hook(kind, value, traceback) -> None:
        if isinstance(value, VanillaNeRFError):
            status = report(prog, value)
            try:
                flush_training_logs()
            except Exception:  # the error is reported; a log that cannot be flushed must not hide it
                pass
            # The interpreter would exit with status 1 after any hook, and the viewer's threads
            # could keep it alive: leave at once, with the error's own status.
            os._exit(status)
        previous(kind, value, traceback)

    hook.vanilla_nerf_pe = True  # type: ignore[attr-defined]
    sys.excepthook = hook


# 6. the roll of ns-render spiral -------------------------------------------------------------


def spiral_path(camera: Any, steps: int = 30, radius: Optional[float] = None, radiuses: Optional[tuple] = None,
                rots: int = 2, zrate: float = 0.5) -> Any:
    """nerfstudio's ``get_spiral_path`` (same arguments, same path of positions and focus) with the
    start camera's own up, so that no camera of the spiral is rolled against it (see item 6)."""
    from nerfstudio.cameras import camera_utils
    from nerfstudio.cameras.cameras import Cameras
    from nerfstudio.utils import poses as pose_utils

    assert (radius is None) != (radiuses is None), "Only one of radius or radiuses must be specified."
    assert camera.ndim == 1, "We assume only one batch dim here"
    c2w = camera.camera_to_worlds[0]
    rad = torch.tensor([radius] * 3 if radius is not None else list(radiuses), device=c2w.device, dtype=c2w.dtype)
    up = torch.tensor([0.0, 1.0, 0.0], device=c2w.device, dtype=c2w.dtype)  # in the start camera's frame
    target = torch.tensor([0.0, 0.0, -float(torch.min(camera.fx[0], camera.fy[0]))], device=c2w.device, dtype=c2w.dtype)
    c2wh_global = pose_utils.to4x4(c2w)
    c2ws = []
    for theta in torch.linspace(0.0, 2.0 * torch.pi * rots, steps + 1)[:-1].tolist():
        center = torch.tensor([math.cos(theta), -math.sin(theta), -math.sin(theta * zrate)], device=c2w.device, dtype=c2w.dtype) * rad
        local = pose_utils.to4x4(camera_utils.viewmatrix(center - target, up, center))
        c2ws.append((c2wh_global @ local)[:3, :4])
    times = torch.linspace(0, 1, steps)[:, None] if camera.times is not None else None
    return Cameras(fx=camera.fx[0], fy=camera.fy[0], cx=camera.cx[0], cy=camera.cy[0], camera_to_worlds=torch.stack(c2ws), times=times)


def install_spiral_path() -> None:
    """Put :func:`spiral_path` where ``ns-render`` looks for ``get_spiral_path``."""
    from nerfstudio.cameras import camera_paths

    camera_paths.get_spiral_path = spiral_path
    render = sys.modules.get("nerfstudio.scripts.render")  # already imported under ns-render
    if render is not None:
        render.get_spiral_path = spiral_path  # type: ignore[attr-defined]


check_nerfstudio_version()
install_excepthook()
install_spiral_path()
