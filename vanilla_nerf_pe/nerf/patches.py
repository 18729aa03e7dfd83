"""Every place where this package patches or copies nerfstudio's internals, and the one call that
installs them: :func:`install`. Importing this module changes nothing.

:func:`install` is called where our method configs are loaded by nerfstudio's tools
(:mod:`vanilla_nerf_pe.nerf.registry`, the module the ``nerfstudio.method_configs`` entry points
name, which ``ns-train``, ``ns-eval``, ``ns-render`` and ``ns-viewer`` import) and by our own
commands (``vnp-train``, ``vnp-eval``). It installs:

1. **One-line errors under nerfstudio's tools** (:func:`install_excepthook`): ``ns-*`` are
   nerfstudio's entry points and print any exception with a traceback; the hook reports this
   package's errors (:mod:`vanilla_nerf_pe.core.errors`) in one line with their exit status. Ours,
   not a patch: installed whatever the nerfstudio version.
2. **The roll of ``ns-render spiral``** (:func:`spiral_path`): nerfstudio's ``get_spiral_path``
   builds each camera of the spiral with a look-at in the start camera's own frame, but takes its
   "up" from the world (the start camera's z axis in world coordinates, "scene is z up"). The two
   frames differ, so the video is rolled; for a forward-facing capture, whose recentred start
   camera looks along the world's -z, that "up" is parallel to the view direction and the roll is
   arbitrary (fern came out visibly tilted). :func:`spiral_path` is that function with the
   camera's own up, (0, 1, 0) in its frame, as NeRF's ``render_path_spiral`` uses the average
   camera's up.

Each patch of nerfstudio (:data:`PATCHES`) names the nerfstudio version it was written for; with
another version installed it is not applied, and :func:`install` warns once naming it.

Also here, used without patching anything:

3. **Data-parallel training on CPU** (``vnp-train``, :func:`train_entrypoint`): nerfstudio's worker
   (``nerfstudio/scripts/train.py``: ``_distributed_worker``) asserts CUDA first;
   :func:`distributed_worker` is that worker with its CUDA checks kept for CUDA only, and
   ``vnp-train`` is ``ns-train`` with it (the pipelines are :mod:`vanilla_nerf_pe.nerf.pipelines`).
4. **Ctrl-C under the viewer** (:func:`stop_viewer_renders`): nerfstudio's viewer renders a frame in
   a thread of its own while holding the trainer's ``train_lock``, and the training loop waits for
   that lock before each iteration. A full-resolution frame of a young model takes minutes on a
   CPU, so a Ctrl-C could not end the iteration, save and leave until the frame was done; this
   interrupts the frame the way the viewer itself does when the camera moves.
5. **Logs before an early exit** (:func:`flush_training_logs`).
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata
from typing import Any, Callable, List, Literal, Optional, Tuple

import torch
import torch.distributed as dist

from vanilla_nerf_pe.core.errors import InputError, VanillaNeRFError, report


@dataclass(frozen=True)
class Patch:
    """A replacement of a nerfstudio function, and the nerfstudio release it was written against."""

    name: str
    written_for: str
    """the nerfstudio version whose function this replaces."""
    apply: Callable[[], None]


def nerfstudio_version() -> Optional[str]:
    """The installed nerfstudio's version (None if it is not installed)."""
    try:
        return metadata.version("nerfstudio")
    except metadata.PackageNotFoundError:
        return None


def applicable(patch: Patch, installed: Optional[str]) -> bool:
    """Whether ``patch`` fits nerfstudio ``installed``; warns once per patch where it does not."""
    if installed == patch.written_for:
        return True
    warnings.warn(
        f"vanilla-nerf-pe: {patch.name} is written for nerfstudio {patch.written_for}, but nerfstudio {installed} "
        "is installed: not applied (vanilla_nerf_pe/nerf/patches.py)",
        stacklevel=3,
    )
    return False


# 1. one-line errors ----------------------------------------------------------------------------


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


# 2. the roll of ns-render spiral -------------------------------------------------------------


def spiral_path(camera: Any, steps: int = 30, radius: Optional[float] = None, radiuses: Optional[tuple] = None,
                rots: int = 2, zrate: float = 0.5) -> Any:
    """nerfstudio's ``get_spiral_path`` (same arguments, same path of positions and focus) with the
    start camera's own up, so that no camera of the spiral is rolled against it (see item 6)."""
    from nerfstudio.cameras import camera_utils
    from nerfstudio.cameras.cameras import Cameras
    from nerfstudio.utils import poses as pose_utils

    if (radius is None) == (radiuses is None):
        raise InputError("the spiral path takes one of radius or radiuses")
    if camera.ndim != 1:
        raise InputError(f"the spiral path starts from one camera, got cameras of shape {tuple(camera.shape)}")
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


PATCHES: Tuple[Patch, ...] = (Patch("the camera's own up in ns-render spiral", "1.1.5", install_spiral_path),)
"""The patches of nerfstudio's functions that :func:`install` applies."""


def install(prog: str = "vanilla-nerf-pe") -> List[str]:
    """Install the excepthook and every patch of :data:`PATCHES` that fits the installed nerfstudio;
    returns the names of the patches applied. Calling it again changes nothing more."""
    install_excepthook(prog)
    installed = nerfstudio_version()
    applied = []
    for patch in PATCHES:
        if applicable(patch, installed):
            patch.apply()
            applied.append(patch.name)
    return applied


# 3. data-parallel training on CPU --------------------------------------------------------------


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
        if not torch.cuda.is_available() or num_devices_per_machine > torch.cuda.device_count():
            raise InputError(
                f"--machine.num-devices {num_devices_per_machine} needs as many CUDA devices, this machine has "
                f"{torch.cuda.device_count()}; on a CPU pass --machine.device-type cpu"
            )
    global_rank = machine_rank * num_devices_per_machine + local_rank
    dist.init_process_group(
        backend="nccl" if device_type == "cuda" else "gloo",
        init_method=dist_url,
        world_size=world_size,
        rank=global_rank,
        timeout=timeout,
    )
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

    install("vnp-train")
    train._distributed_worker = distributed_worker  # launch() looks the worker up at call time
    train.entrypoint()


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
