"""The nerfstudio method: the model config and model, the field, the samplers, the scene spaces, the
losses, the training guard, data checks, the LLFF dataparser, schedulers, pipelines, the registered
presets (:mod:`~vanilla_nerf_pe.nerf.method_configs`, loaded through :mod:`~vanilla_nerf_pe.nerf.registry`),
old-run support (:mod:`~vanilla_nerf_pe.nerf.legacy`) and the one module that patches nerfstudio
(:mod:`~vanilla_nerf_pe.nerf.patches`, installed by an explicit call)."""
