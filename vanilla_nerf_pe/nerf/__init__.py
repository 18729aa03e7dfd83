"""The nerfstudio method: config, model, field, samplers, losses, guard, data checks, schedulers,
the registered methods and the one module that patches nerfstudio (:mod:`vanilla_nerf_pe.nerf.compat`)."""
