"""The framework-free core: coordinate networks, step functions, volume rendering, the occupancy
grid, precision, metrics, image I/O and the error convention. Imports torch, numpy and Pillow only;
the NeRF method (:mod:`vanilla_nerf_pe.nerf`) and the 2D lab (:mod:`vanilla_nerf_pe.lab`) build on it."""
