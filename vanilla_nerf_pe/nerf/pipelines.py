"""nerfstudio's pipelines, data-parallel on a CPU too.

nerfstudio 1.1.5 launches ``--machine.num-devices N`` processes and picks gloo off CUDA, but
``VanillaPipeline`` wraps the model as ``DistributedDataParallel(model, device_ids=[local_rank])``,
which PyTorch refuses for a CPU module. :class:`DataParallelPipeline` and
:class:`DataParallelDynamicBatchPipeline` wrap the model without ``device_ids`` off CUDA; nothing
changes on CUDA. The process launcher that starts CPU processes is ``vnp-train``
(:func:`vanilla_nerf_pe.nerf.patches.train_entrypoint`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Type

import torch
import torch.distributed as dist
from nerfstudio.pipelines.base_pipeline import VanillaPipeline, VanillaPipelineConfig
from nerfstudio.pipelines.dynamic_batch import DynamicBatchPipeline, DynamicBatchPipelineConfig
from torch.nn.parallel import DistributedDataParallel as DDP


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
