"""Import shim: config.yml files of runs made before the redesign name these classes here."""

from vanilla_nerf_pe.nerf.compat import (  # noqa: F401
    DataParallelDynamicBatchPipeline,
    DataParallelDynamicBatchPipelineConfig,
    DataParallelPipeline,
    DataParallelPipelineConfig,
)
