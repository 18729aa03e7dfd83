"""The framework-free core: coordinate networks, step functions, volume rendering, the occupancy
grid, precision, metrics, image I/O and the error convention. Imports torch, numpy and Pillow only;
the NeRF method (:mod:`vanilla_nerf_pe.nerf`), the 2D image lab (:mod:`vanilla_nerf_pe.image`), the codec
(:mod:`vanilla_nerf_pe.codec`) and the demo scenes (:mod:`vanilla_nerf_pe.scenes`) build on it."""
