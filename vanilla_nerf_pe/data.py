"""Import shim: config.yml files of runs made before the redesign name these classes here."""

from vanilla_nerf_pe.nerf.data import CheckedDataManager, CheckedDataManagerConfig

__all__ = ["CheckedDataManager", "CheckedDataManagerConfig"]
