"""The demo scenes: procedurally ray-traced data sets for NeRF, written by the project itself.

- :mod:`~vanilla_nerf_pe.scenes.shapes`: the textured spheres and boxes and the ray tracer;
- :mod:`~vanilla_nerf_pe.scenes.cameras`: pinhole cameras, their poses and rays;
- :mod:`~vanilla_nerf_pe.scenes.blender`: the bounded object scene in the NeRF-synthetic
  ("Blender") layout;
- :mod:`~vanilla_nerf_pe.scenes.capture`: capture-like scenes, forward-facing (LLFF layout) and
  unbounded 360° (nerfstudio-data layout).

numpy and Pillow only: no torch, no nerfstudio, nothing of the image lab or the codec. The
``vnp-scene`` command is :mod:`vanilla_nerf_pe.cli.scene`."""
