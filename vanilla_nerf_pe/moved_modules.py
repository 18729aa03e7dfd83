"""Old module paths, for the files of runs made by earlier versions.

A run's ``config.yml`` names the classes of its configs by module path (``!!python/object:
vanilla_nerf_pe.model.VanillaNeRFPEModelConfig``), so a run keeps opening only while those paths
import. :data:`MOVED_MODULES` maps each path that has since moved to today's module, and
:class:`MovedModuleFinder` answers Python's import system for exactly those names, with today's
module object; the package installs it when it is imported (``vanilla_nerf_pe/__init__.py``). It
answers for no other name, so it changes nothing else in the process.

What the runs' options and checkpoints need on top (flat options, old state names, buffers) is in
:mod:`vanilla_nerf_pe.nerf.legacy`; tests/nerf/test_old_runs.py opens one run of each generation.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Dict, Optional

MOVED_MODULES: Dict[str, str] = {
    # before the 11-27 redesign (runs of d180d9e and earlier)
    "vanilla_nerf_pe.model": "vanilla_nerf_pe.nerf.model",
    "vanilla_nerf_pe.data": "vanilla_nerf_pe.nerf.data",
    "vanilla_nerf_pe.schedulers": "vanilla_nerf_pe.nerf.schedulers",
    "vanilla_nerf_pe.distributed": "vanilla_nerf_pe.nerf.pipelines",
    # before the nerfstudio patches were split from the pipelines (runs of edc48d8 and earlier)
    "vanilla_nerf_pe.nerf.compat": "vanilla_nerf_pe.nerf.pipelines",
}
"""old module path -> the module that holds its classes now (same class names)."""


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports each old path of :data:`MOVED_MODULES` as its new module (the same module object)."""

    def find_spec(self, fullname: str, path=None, target=None) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec) -> ModuleType:
        return importlib.import_module(MOVED_MODULES[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the new module is imported already."""


def install_moved_module_finder() -> None:
    """Put one :class:`MovedModuleFinder` at the end of ``sys.meta_path`` (after the finders of
    real files, so that it is asked only for names no file answers)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
