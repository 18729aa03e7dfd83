"""The registered nerfstudio methods: configs that assemble this package's components.

- ``vanilla-nerf-pe``: the paper's settings (Mildenhall et al. 2020): Adam 5e-4 decaying to 5e-5,
  4096 rays per batch, 64 coarse + 128 fine samples, 8x256 MLPs, positional encoding L = 10 / 4.
- ``vanilla-nerf-pe-quick``: the same model, smaller, for a recognisable ``lego_100`` on a laptop CPU.
- ``vanilla-nerf-pe-fast``: the small model with the occupancy-grid sampler and a dynamic batch.
- ``vanilla-nerf-pe-gpu``: the fast preset scaled up for a CUDA GPU (the paper's field, a finer
  grid, a larger batch); stops at start without CUDA.
- ``vanilla-nerf-siren``: a SIREN field with the occupancy-grid sampler.
- ``vanilla-nerf-pe-forward-facing`` and ``vanilla-nerf-pe-360``: the small field with proposal
  sampling for real captures, in NDC and in mip-NeRF 360's contraction.

The CPU presets run their MLPs at ``precision="auto"``: bfloat16 where the CPU multiplies it
natively (and the field is not SIREN), float32 elsewhere; the paper's preset stays float32.

The measurements behind the presets' values (schedules, step sizes, learning rates) are in
docs/benchmarks.md; each choice below says why it was made.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Type

from nerfstudio.configs.base_config import ViewerConfig
from nerfstudio.data.dataparsers.base_dataparser import DataParserConfig
from nerfstudio.data.dataparsers.blender_dataparser import BlenderDataParserConfig
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.pipelines.base_pipeline import VanillaPipelineConfig
from nerfstudio.plugins.types import MethodSpecification

from vanilla_nerf_pe.core.network import CoordinateNetworkConfig
from vanilla_nerf_pe.nerf.camera_refinement import camera_opt_optimizer
from vanilla_nerf_pe.nerf.pipelines import DataParallelDynamicBatchPipelineConfig, DataParallelPipelineConfig
from vanilla_nerf_pe.nerf.cuda_trainer import CUDATrainerConfig
from vanilla_nerf_pe.nerf.data import CheckedDataManagerConfig
from vanilla_nerf_pe.nerf.llff import LLFFDataParserConfig
from vanilla_nerf_pe.nerf.model import VanillaNeRFPEModelConfig, nerf_network
from vanilla_nerf_pe.nerf.samplers import HierarchicalSamplerConfig, OccupancySamplerConfig, ProposalSamplerConfig
from vanilla_nerf_pe.nerf.schedulers import NeRFDecaySchedulerConfig


def nerf_trainer_config(
    method_name: str,
    model: VanillaNeRFPEModelConfig,
    rays_per_batch: int,
    max_num_iterations: int,
    steps_per_eval_image: int,
    steps_per_save: int,
    lr: float = 5e-4,
    lr_final: float = 5e-5,
    adam_eps: float = 1e-8,
    target_samples_per_batch: Optional[int] = None,
    dataparser: Optional[DataParserConfig] = None,
    trainer: Type[TrainerConfig] = TrainerConfig,
    viewer_rays_per_chunk: int = 4096,
) -> TrainerConfig:
    """A TrainerConfig for our model on nerfstudio's Blender dataparser and datamanager (with our input checks).

    With ``target_samples_per_batch`` the pipeline is nerfstudio's DynamicBatchPipeline: the number
    of rays of the next batch is chosen so that the field renders about that many samples (with the
    occupancy sampler a ray costs from 0 to hundreds of samples); ``rays_per_batch`` is then only
    the evaluation batch. Both pipelines are nerfstudio's, made data-parallel on CPU as well
    (:mod:`vanilla_nerf_pe.nerf.pipelines`). ``trainer``: nerfstudio's TrainerConfig, or
    :class:`~vanilla_nerf_pe.nerf.cuda_trainer.CUDATrainerConfig` for a preset sized for a GPU.
    """
    datamanager = CheckedDataManagerConfig(
        dataparser=dataparser if dataparser is not None else BlenderDataParserConfig(),
        train_num_rays_per_batch=rays_per_batch,
        eval_num_rays_per_batch=rays_per_batch,
    )
    if target_samples_per_batch is None:
        pipeline: VanillaPipelineConfig = DataParallelPipelineConfig(datamanager=datamanager, model=model)
    else:
        pipeline = DataParallelDynamicBatchPipelineConfig(
            datamanager=datamanager, model=model, target_num_samples=target_samples_per_batch, max_num_samples_per_ray=256
        )
    return trainer(
        method_name=method_name,
        max_num_iterations=max_num_iterations,
        steps_per_eval_batch=steps_per_eval_image,
        steps_per_eval_image=steps_per_eval_image,
        steps_per_eval_all_images=max_num_iterations + 1,
        steps_per_save=steps_per_save,
        mixed_precision=False,
        pipeline=pipeline,
        optimizers={
            "fields": {
                "optimizer": AdamOptimizerConfig(lr=lr, eps=adam_eps),
                "scheduler": NeRFDecaySchedulerConfig(lr_final=lr_final, max_steps=max_num_iterations),
            }
        },
        viewer=ViewerConfig(num_rays_per_chunk=viewer_rays_per_chunk),
        vis="viewer",
    )


# Adam's learning rate (start, end of the decay) per network kind in the occupancy-grid presets,
# chosen by the tuning runs on lego_100 (docs/benchmarks.md): SIREN needs a tenth of the ReLU
# fields'; the hash grid Instant-NGP's 1e-2 (Müller et al. 2022, sec. 4); PE ends at 1e-3, since
# in a short schedule a lower rate loses more to slower progress than it gains in noise.
FAST_LEARNING_RATES = {"none": (3e-3, 3e-4), "pe": (3e-3, 1e-3), "fourier": (3e-3, 3e-4), "siren": (3e-4, 3e-5), "hash": (1e-2, 1e-3)}


def small_network(**overrides) -> CoordinateNetworkConfig:
    """The CPU presets' trunk, 4 x 128 with a skip at layer 2, and L = 8: lego_100's pixels are
    about 0.03 scene units wide, and L = 10 reaches past that (tuning runs in docs/benchmarks.md)."""
    return dataclasses.replace(nerf_network(), num_layers=4, width=128, skip_connections=(2,), pe_num_frequencies=8, **overrides)


vanilla_nerf_pe = MethodSpecification(
    config=nerf_trainer_config(
        "vanilla-nerf-pe",
        VanillaNeRFPEModelConfig(),
        rays_per_batch=4096,
        max_num_iterations=200_000,
        steps_per_eval_image=500,
        steps_per_save=1000,
        adam_eps=1e-7,  # the paper's
    ),
    description="Classic NeRF (Mildenhall et al. 2020): positional encoding, 8x256 MLP, 64+128 hierarchical samples.",
)

vanilla_nerf_pe_quick = MethodSpecification(
    config=nerf_trainer_config(
        "vanilla-nerf-pe-quick",
        VanillaNeRFPEModelConfig(
            network=small_network(),
            color_width=64,
            precision="auto",
            hierarchical=HierarchicalSamplerConfig(num_coarse_samples=32, num_importance_samples=32, coarse_num_layers=2, coarse_width=64),
            eval_num_rays_per_chunk=8192,
        ),
        rays_per_batch=1024,
        # the learning-rate decay ends within a ten-minute CPU run (docs/benchmarks.md).
        max_num_iterations=700,
        steps_per_eval_image=250,
        steps_per_save=100,
        lr=1e-3,
        lr_final=1e-4,
    ),
    description="vanilla-nerf-pe scaled down to train a small scene (lego_100) on a laptop CPU in ten minutes.",
)

def occupancy_grid_method(
    method_name: str,
    network: CoordinateNetworkConfig,
    max_num_iterations: int = 4000,
    random_background: bool = False,
    num_marching_steps: int = 512,
) -> TrainerConfig:
    """The occupancy-grid presets: a 4 x 128 field evaluated only in occupied cells of a 64^3 grid
    (``num_marching_steps`` across the scene box's diagonal: 512 is 0.0101 for Blender's, 256 0.0203),
    packed rendering, early termination, nerfstudio's dynamic batch of about 2^14 samples, and
    Adam at the network kind's measured rate (FAST_LEARNING_RATES) decaying over ``max_num_iterations``.
    With ``random_background`` Blender scenes keep their alpha and train on a random background
    (``random_background_in_training``); they are scored on white as before."""
    lr, lr_final = FAST_LEARNING_RATES[network.kind]
    return nerf_trainer_config(
        method_name,
        VanillaNeRFPEModelConfig(
            sampler="occupancy",
            network=network,
            color_width=64,
            precision="auto",
            occupancy=OccupancySamplerConfig(grid_resolution=64, num_marching_steps=num_marching_steps),
            random_background_in_training=random_background,
            eval_num_rays_per_chunk=4096,
        ),
        rays_per_batch=1024,
        max_num_iterations=max_num_iterations,
        steps_per_eval_image=500,
        steps_per_save=250,
        lr=lr,
        lr_final=lr_final,
        target_samples_per_batch=1 << 14,
        dataparser=BlenderDataParserConfig(alpha_color=None) if random_background else None,
    )


def gpu_method(method_name: str, max_num_iterations: int = 15_000) -> TrainerConfig:
    """The occupancy-grid preset scaled up for a CUDA GPU: the paper's 8 x 256 field with L = 10,
    a 128^3 grid and a marching step of 0.005 (Blender's 400- and 800-pixel images have pixels
    four to eight times smaller than lego_100's), a dynamic batch of 2^18 samples (at most 8192
    rays, the pipeline's bound), TensorFloat-32 matrix products, Adam 1e-3 decaying to 1e-4.
    The schedule is a number of steps, the same on every card: the time it takes on each card
    measured is in docs/benchmarks.md. Without CUDA it stops at start (CUDATrainerConfig)."""
    return nerf_trainer_config(
        method_name,
        VanillaNeRFPEModelConfig(
            sampler="occupancy",
            network=nerf_network(),
            color_width=128,
            precision="float32",
            cuda_matmul_precision="high",
            occupancy=OccupancySamplerConfig(grid_resolution=128, render_step_size=0.005),
            random_background_in_training=True,
            eval_num_rays_per_chunk=1 << 16,
        ),
        rays_per_batch=4096,
        max_num_iterations=max_num_iterations,
        steps_per_eval_image=1000,
        steps_per_save=2000,
        lr=1e-3,
        lr_final=1e-4,
        target_samples_per_batch=1 << 18,
        dataparser=BlenderDataParserConfig(alpha_color=None),
        trainer=CUDATrainerConfig,
        viewer_rays_per_chunk=1 << 16,
    )


vanilla_nerf_pe_fast = MethodSpecification(
    # 6500 iterations: the schedule ends just after a ten-minute run of a 2-core CPU with bfloat16 MLPs; 256
    # marching steps (0.0203 on Blender's box, under lego_100's pixel footprint): twice the rays of 512 for the
    # same samples per batch (docs/benchmarks.md)
    config=occupancy_grid_method(
        "vanilla-nerf-pe-fast", small_network(), max_num_iterations=6500, random_background=True, num_marching_steps=256
    ),
    description="vanilla-nerf-pe with an occupancy grid: the PE field evaluated only in occupied space, packed rendering, early termination.",
)

vanilla_nerf_pe_gpu = MethodSpecification(
    config=gpu_method("vanilla-nerf-pe-gpu"),
    description="vanilla-nerf-pe-fast scaled up for a CUDA GPU: the paper's 8x256 PE field, a 128^3 occupancy grid, 2^18 samples per step.",
)

vanilla_nerf_siren = MethodSpecification(
    config=occupancy_grid_method("vanilla-nerf-siren", dataclasses.replace(nerf_network(), kind="siren", num_layers=4, width=128)),
    description="NeRF with a SIREN field (Sitzmann et al. 2020): sine layers on raw coordinates, occupancy-grid sampling.",
)

CAPTURE_APPEARANCE_DIM = 16
"""length of the capture presets' per-image appearance codes (--pipeline.model.appearance-embedding-dim)."""


def capture_method(method_name: str, scene: str, dataparser: DataParserConfig, appearance_embedding_dim: int = 0) -> TrainerConfig:
    """The presets for real captures: the fast preset's 4 x 128 PE field with mip-NeRF 360's
    proposal sampling instead of the occupancy grid. A capture fills every pixel with content at
    every depth, so at the start every cell of a grid is occupied and a ray costs hundreds of
    samples, and a CPU makes a training step a second; a proposal network puts 32 samples per ray
    where the content is from the first steps. 512 rays per batch (1024 gave the same PSNR per
    step at half the steps per second), Adam 3e-3 decaying to 3e-4 over 7000 iterations, the
    length of a ten-minute CPU run (fern's runs in docs/benchmarks.md). For what real captures add,
    a code per image for its exposure and white balance (NeRF-W; on in the 360 preset, the phone-video
    path, and off in the forward-facing one, whose LLFF captures keep one exposure) and the
    refinement of COLMAP's poses (nerfacto's camera optimiser, off in both: in the runs measured so
    far it lowered the held-out PSNR at every learning rate tried; ``--pipeline.model.camera-optimizer.mode
    SO3xR3`` turns it on, with its own "camera_opt" optimizer ready), see docs/real-captures.md."""
    config = nerf_trainer_config(
        method_name,
        VanillaNeRFPEModelConfig(
            scene=scene,  # type: ignore[arg-type]
            sampler="proposal",
            precision="auto",
            network=small_network(),
            color_width=64,
            proposal=ProposalSamplerConfig(num_proposal_samples_per_ray=(64,), num_nerf_samples_per_ray=32, num_layers=2, width=64),
            eval_num_rays_per_chunk=4096,
            appearance_embedding_dim=appearance_embedding_dim,
        ),
        rays_per_batch=512,
        max_num_iterations=7000,
        steps_per_eval_image=500,
        steps_per_save=250,
        lr=3e-3,
        lr_final=3e-4,
        dataparser=dataparser,
    )
    config.optimizers["camera_opt"] = camera_opt_optimizer(max_steps=7000)
    return config


vanilla_nerf_pe_forward_facing = MethodSpecification(
    config=capture_method("vanilla-nerf-pe-forward-facing", "forward-facing", LLFFDataParserConfig()),
    description="vanilla-nerf-pe for forward-facing captures (LLFF): NDC rays, proposal sampling; reads llff-data by default.",
)

vanilla_nerf_pe_360 = MethodSpecification(
    # a few numbers per image say its exposure and white balance: 16 dims, half nerfacto's 32
    config=capture_method("vanilla-nerf-pe-360", "unbounded", NerfstudioDataParserConfig(), appearance_embedding_dim=CAPTURE_APPEARANCE_DIM),
    description="vanilla-nerf-pe for 360-degree captures: mip-NeRF 360's contraction, proposal sampling; reads nerfstudio-data by default.",
)

METHODS = {
    spec.config.method_name: spec
    for spec in (
        vanilla_nerf_pe, vanilla_nerf_pe_quick, vanilla_nerf_pe_fast, vanilla_nerf_pe_gpu, vanilla_nerf_siren,
        vanilla_nerf_pe_forward_facing, vanilla_nerf_pe_360,
    )
}


def config_yaml(method_name: str) -> str:
    """The method's TrainerConfig in nerfstudio's config.yml format (``ns-train --load-config``)."""
    import yaml

    return yaml.dump(METHODS[method_name].config)


if __name__ == "__main__":
    # python -m vanilla_nerf_pe.nerf.method_configs configs/  -- rewrites configs/<method>.yml
    import sys
    from pathlib import Path

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "configs")
    for name in METHODS:
        (out / f"{name}.yml").write_text(config_yaml(name))
        print(f"wrote {out / f'{name}.yml'}")
