"""vanilla-nerf-pe: classic NeRF as a nerfstudio method, a 2D coordinate-network image lab and an
image codec.

:mod:`vanilla_nerf_pe.core` (framework-free), :mod:`vanilla_nerf_pe.nerf` (the nerfstudio method),
the 2D image lab, the codec, the demo scenes and the command-line tools (see README.md, "Layout").
Old runs' config.yml files name module paths that have moved: :mod:`vanilla_nerf_pe.moved_modules`
resolves exactly those names, and nothing else.
"""

from vanilla_nerf_pe.moved_modules import install_moved_module_finder

install_moved_module_finder()
