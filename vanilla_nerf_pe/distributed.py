"""Import shim: config.yml files of runs made before the redesign name these classes here."""

from vanilla_nerf_pe.nerf.compat import (
    DataParallelDynamicBatchPipeline,
    DataParallelDynamicBatchPipelineConfig,
    DataParallelPipeline,
    DataParallelPipelineConfig,
)

__all__ = ["DataParallelDynamicBatchPipeline", "DataParallelDynamicBatchPipelineConfig", "DataParallelPipeline", "DataParallelPipelineConfig"]
