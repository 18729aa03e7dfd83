"""Import shim: config.yml files of runs made before the redesign name these classes here."""

from vanilla_nerf_pe.nerf.schedulers import NeRFDecayScheduler, NeRFDecaySchedulerConfig

__all__ = ["NeRFDecayScheduler", "NeRFDecaySchedulerConfig"]
