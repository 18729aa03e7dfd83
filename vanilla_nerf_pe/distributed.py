"""Data-parallel training on CPU (gloo) under nerfstudio's own launcher.

nerfstudio 1.1.5 launches ``--machine.num-devices N`` processes with ``torch.multiprocessing``
and picks the gloo backend when ``--machine.device-type`` is not ``cuda``, but two lines stop a
CPU run (``nerfstudio/scripts/train.py`` and ``nerfstudio/pipelines/base_pipeline.py``):

* its worker, ``_distributed_worker``, asserts ``torch.cuda.is_available()`` and
  ``num_devices <= torch.cuda.device_count()`` before anything else, whatever the device type;
* ``VanillaPipeline`` wraps the model as ``DistributedDataParallel(model, device_ids=[local_rank])``,
  which PyTorch refuses for a module on the CPU (``device_ids`` is for single-GPU modules).

This module fixes exactly those two and changes nothing on CUDA:

* :class:`DataParallelPipeline` and :class:`DataParallelDynamicBatchPipeline` (the pipelines of our
  methods) wrap the model in ``DistributedDataParallel`` without ``device_ids`` when the device is
  not CUDA; DDP then averages the gradients over the processes with gloo, and broadcasts rank 0's
  buffers (the occupancy grid, the Fourier matrix) before each forward pass;
* :func:`distributed_worker` is nerfstudio's worker with its CUDA assertions kept for CUDA only;
  ``vnp-train`` (:func:`entrypoint`) is ``ns-train`` (nerfstudio's CLI, launcher and trainer)
  with that worker. ``ns-train`` itself keeps nerfstudio's behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Literal, Type

import torch
import torch.distributed as dist
from nerfstudio.pipelines.base_pipeline import VanillaPipeline, VanillaPipelineConfig
from nerfstudio.pipelines.dynamic_batch import DynamicBatchPipeline, DynamicBatchPipelineConfig
from torch.nn.parallel import DistributedDataParallel as DDP


class _CPUDataParallel:
    """Mixin for nerfstudio pipelines: on a non-CUDA device with ``world_size > 1``, build the
    pipeline as a single-process one, then wrap the model in DDP without ``device_ids``."""

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
    """nerfstudio's ``DynamicBatchPipeline``, data-parallel on CPU too."""


@dataclass
class DataParallelPipelineConfig(VanillaPipelineConfig):
    _target: Type = field(default_factory=lambda: DataParallelPipeline)


@dataclass
class DataParallelDynamicBatchPipelineConfig(DynamicBatchPipelineConfig):
    _target: Type = field(default_factory=lambda: DataParallelDynamicBatchPipeline)


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
    """nerfstudio 1.1.5's ``_distributed_worker`` (``nerfstudio/scripts/train.py``), same arguments,
    with the CUDA checks only where the device type is CUDA: one process of a data-parallel run."""
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


def entrypoint() -> None:
    """Console script ``vnp-train``: ``ns-train`` whose launcher can also spawn CPU processes."""
    import nerfstudio.scripts.train as train

    train._distributed_worker = distributed_worker  # launch() looks the worker up at call time
    train.entrypoint()


__all__ = [
    "DataParallelDynamicBatchPipeline",
    "DataParallelDynamicBatchPipelineConfig",
    "DataParallelPipeline",
    "DataParallelPipelineConfig",
    "distributed_worker",
    "entrypoint",
]
