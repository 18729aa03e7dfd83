"""The module nerfstudio's ``nerfstudio.dataparser_configs`` entry point loads (pyproject.toml): the
``llff-data`` dataparser, and the one place where our error hook and nerfstudio patches are
installed (:func:`vanilla_nerf_pe.nerf.patches.install`).

Every nerfstudio tool (``ns-train``, ``ns-eval``, ``ns-render``, ``ns-viewer``, ``ns-export``)
imports its datamanager module, which discovers the dataparsers, before it builds a method, so the
patches are in place before any of our models runs. This module imports no method config:
nerfstudio discovers dataparsers while its own config modules are half imported. The methods
(``nerfstudio.method_configs``) are :mod:`vanilla_nerf_pe.nerf.method_configs`, which, like the
model and every other module, imports without installing anything.
"""

from vanilla_nerf_pe.nerf import patches
from vanilla_nerf_pe.nerf.llff import llff_data

patches.install()

__all__ = ["llff_data"]
