"""Import shim: config.yml files of runs made before the redesign name these classes here."""

from vanilla_nerf_pe.nerf.model import VanillaNeRFPEModel, VanillaNeRFPEModelConfig

__all__ = ["VanillaNeRFPEModel", "VanillaNeRFPEModelConfig"]
