"""vanilla-nerf-pe: classic NeRF as a nerfstudio method, and a 2D coordinate-network lab.

:mod:`vanilla_nerf_pe.core` (framework-free), :mod:`vanilla_nerf_pe.nerf` (the nerfstudio method),
:mod:`vanilla_nerf_pe.lab` (2D image lab, demo scene). The top-level ``model``, ``data``,
``distributed`` and ``schedulers`` modules are import shims for runs made before the redesign."""
