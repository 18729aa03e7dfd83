"""The console scripts of the image lab, the codec and the demo scenes: ``vnp-image``
(:mod:`~vanilla_nerf_pe.cli.image`) and ``vnp-scene`` (:mod:`~vanilla_nerf_pe.cli.scene`).

Each module only parses the arguments, calls the library (:mod:`vanilla_nerf_pe.image`,
:mod:`vanilla_nerf_pe.codec`, :mod:`vanilla_nerf_pe.scenes`) and prints; nothing imports it back."""
