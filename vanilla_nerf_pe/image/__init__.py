"""The 2D image lab: a coordinate network f(x, y) = colour fitted to one image.

- :mod:`~vanilla_nerf_pe.image.field`: the image field, its options and its saved form (fields
  saved by older versions still load);
- :mod:`~vanilla_nerf_pe.image.fit`: fitting by MSE with Adam, rendering at any resolution;
- :mod:`~vanilla_nerf_pe.image.analysis`, :mod:`~vanilla_nerf_pe.image.figures`: derivatives,
  SSIM, and the figures of a comparison;
- :mod:`~vanilla_nerf_pe.image.protocol`, :mod:`~vanilla_nerf_pe.image.table1`: Tancik et al.
  2020's generalisation protocol and its Table 1;
- :mod:`~vanilla_nerf_pe.image.runs`, :mod:`~vanilla_nerf_pe.image.experiment`: the runs of
  ``vnp-image fit`` / ``compare`` and the experiment YAML files;
- :mod:`~vanilla_nerf_pe.image.photographs`, :mod:`~vanilla_nerf_pe.image.outputs`,
  :mod:`~vanilla_nerf_pe.image.progress`: the shipped photographs, writing outputs, progress bars.

Builds on the core only: no nerfstudio, nothing of the codec (:mod:`vanilla_nerf_pe.codec` builds
on this lab) or of the command line (:mod:`vanilla_nerf_pe.cli`)."""
