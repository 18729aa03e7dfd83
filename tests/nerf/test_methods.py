"""The registered methods: entry points, configs in configs/, LR schedule, offline LPIPS."""

from __future__ import annotations

import copy
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch

from vanilla_nerf_pe.core import metrics
from vanilla_nerf_pe.nerf.data import BLENDER_NEAR_FAR
from vanilla_nerf_pe.nerf.method_configs import METHODS, config_yaml
from vanilla_nerf_pe.nerf.model import PAPER_DIFFERENCES
from vanilla_nerf_pe.nerf.schedulers import NeRFDecaySchedulerConfig, exponential_decay

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_entry_points_registered():
    """Every method of METHODS is registered with nerfstudio, under the module nerfstudio loads it from."""
    entry = {ep.name: ep for ep in entry_points(group="nerfstudio.method_configs")}
    assert set(METHODS) == {
        "vanilla-nerf-pe", "vanilla-nerf-pe-quick", "vanilla-nerf-pe-fast", "vanilla-nerf-pe-gpu", "vanilla-nerf-siren",
        "vanilla-nerf-pe-forward-facing", "vanilla-nerf-pe-360",
    }
    from nerfstudio.configs.method_configs import all_descriptions, all_methods

    for name in METHODS:
        assert entry[name].module == "vanilla_nerf_pe.nerf.method_configs"
        assert entry[name].load().config is METHODS[name].config
        assert name in all_methods and all_descriptions[name]


def test_paper_defaults():
    """The paper preset is the paper's (Mildenhall et al. 2020, sec. 5.3 and appendix A) except
    exactly the options that PAPER_DIFFERENCES lists, each with its reason."""
    cfg = METHODS["vanilla-nerf-pe"].config
    model = cfg.pipeline.model
    assert (model.hierarchical.num_coarse_samples, model.hierarchical.num_importance_samples) == (64, 128)
    assert model.hierarchical.coarse_num_layers is None and model.hierarchical.coarse_width is None  # same as fine
    net = model.network
    assert (net.kind, net.pe_num_frequencies, model.direction_frequencies) == ("pe", 10, 4)
    assert (net.num_layers, net.width, net.skip_connections, model.color_width) == (8, 256, (4,), 128)
    # Blender's near 2, far 6 and white background come from the dataparser (BLENDER_NEAR_FAR, "auto")
    assert model.collider_params is None and model.scene == "auto" and BLENDER_NEAR_FAR == (2.0, 6.0)
    assert model.background_color == "auto" and model.density_bias == 0.0 and model.sampler == "hierarchical"
    assert cfg.pipeline.datamanager.train_num_rays_per_batch == 4096
    optimizer = cfg.optimizers["fields"]["optimizer"]
    assert (optimizer.lr, optimizer.eps) == (5e-4, 1e-7)  # Adam's epsilon: the paper's 1e-7
    assert cfg.optimizers["fields"]["scheduler"].lr_final == 5e-5
    paper = {"density_activation": "relu", "rgb_padding": 0.0}
    assert set(PAPER_DIFFERENCES) == set(paper)
    for option, (paper_value, ours, why) in PAPER_DIFFERENCES.items():
        assert paper_value == paper[option] and getattr(model, option) == ours != paper_value and len(why) > 20


def test_cpu_presets_default_to_auto_precision():
    """bfloat16 where the CPU has it natively (issue 15); the paper's preset stays float32, and so
    does the GPU preset (bfloat16 autocast was slower than float32 on an H200)."""
    precision = {name: spec.config.pipeline.model.precision for name, spec in METHODS.items()}
    assert precision == {
        "vanilla-nerf-pe": "float32", "vanilla-nerf-pe-quick": "auto", "vanilla-nerf-pe-fast": "auto", "vanilla-nerf-siren": "auto",
        "vanilla-nerf-pe-gpu": "float32",
        "vanilla-nerf-pe-forward-facing": "auto", "vanilla-nerf-pe-360": "auto",
    }


@pytest.mark.parametrize("name", sorted(METHODS))
def test_configs_dir_matches_registered_methods(name):
    assert (CONFIGS / f"{name}.yml").read_text() == config_yaml(name), (
        "configs/ is stale: run `python -m vanilla_nerf_pe.nerf.method_configs configs`"
    )


def test_schedule_is_exponential_and_returns_python_floats(tmp_path):
    assert exponential_decay(0, 5e-4, 5e-5, 1000) == pytest.approx(5e-4)
    assert exponential_decay(500, 5e-4, 5e-5, 1000) == pytest.approx((5e-4 * 5e-5) ** 0.5)
    assert exponential_decay(1000, 5e-4, 5e-5, 1000) == pytest.approx(5e-5)
    assert exponential_decay(5000, 5e-4, 5e-5, 1000) == pytest.approx(5e-5)
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([param], lr=5e-4)
    sched = NeRFDecaySchedulerConfig(lr_final=5e-5, max_steps=10).setup().get_scheduler(opt, 5e-4)
    for _ in range(3):
        opt.step()
        sched.step()
    assert type(opt.param_groups[0]["lr"]) is float
    # The states must survive torch's weights_only loader (what ns-eval/ns-render/ns-viewer use).
    blob = {"optimizers": opt.state_dict(), "schedulers": sched.state_dict()}
    path = tmp_path / "state.ckpt"
    torch.save(blob, path)
    torch.load(path, weights_only=True)


def test_lpips_skipped_with_one_warning_when_weights_absent(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    metrics._lpips_module.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert metrics.lpips_metric("cpu") is None
            assert metrics.lpips_metric("cpu") is None
        assert len([w for w in caught if "LPIPS skipped" in str(w.message)]) == 1
    finally:
        metrics._lpips_module.cache_clear()


@pytest.mark.parametrize("alpha_color, random_in_training", [(None, True), ("white", False)])
def test_fast_preset_keeps_blender_alpha_for_a_random_training_background(tiny_scene, alpha_color, random_in_training):
    """The fast preset reads Blender scenes with their alpha (blender-data --alpha-color None), the
    datamanager says so, and the model then trains on a random background; composited on white by
    the dataparser, the images have no alpha and training keeps the white background."""
    config = copy.deepcopy(METHODS["vanilla-nerf-pe-fast"].config)
    assert config.pipeline.datamanager.dataparser.alpha_color is None and config.pipeline.model.random_background_in_training
    config.pipeline.datamanager.dataparser.alpha_color = alpha_color
    config.pipeline.datamanager.data = tiny_scene
    pipeline = config.pipeline.setup(device="cpu", test_mode="val", world_size=1, local_rank=0)
    assert pipeline.datamanager.train_dataset.metadata["images_have_alpha"] is random_in_training
    assert pipeline.model.random_training_background is random_in_training


def test_gpu_preset_is_the_fast_preset_scaled_up_with_a_step_schedule():
    """vanilla-nerf-pe-gpu: the paper's field on the occupancy grid, a finer grid and step, 2^18
    samples per step, TF32, and a schedule that is a number of steps (the decay ends at the last)."""
    from vanilla_nerf_pe.nerf.cuda_trainer import CUDATrainerConfig

    config = METHODS["vanilla-nerf-pe-gpu"].config
    model = config.pipeline.model
    net = model.network
    assert isinstance(config, CUDATrainerConfig) and not isinstance(METHODS["vanilla-nerf-pe-fast"].config, CUDATrainerConfig)
    assert (net.kind, net.num_layers, net.width, net.skip_connections, net.pe_num_frequencies) == ("pe", 8, 256, (4,), 10)
    assert model.sampler == "occupancy" and model.color_width == 128 and model.random_background_in_training
    assert (model.occupancy.grid_resolution, model.occupancy.render_step_size) == (128, 0.005)
    assert (model.precision, model.cuda_matmul_precision, model.compile_field) == ("float32", "high", False)
    assert config.pipeline.target_num_samples == 1 << 18
    scheduler = config.optimizers["fields"]["scheduler"]
    assert scheduler.max_steps == config.max_num_iterations == 15_000
    assert (config.optimizers["fields"]["optimizer"].lr, scheduler.lr_final) == (1e-3, 1e-4)


@pytest.mark.parametrize("device_type, cuda_available, reason", [
    ("cuda", False, "this machine has no CUDA device"), ("cpu", True, "--machine.device-type is cpu"), ("cpu", False, "no CUDA device"),
])
def test_check_cuda_refuses_without_cuda_and_names_the_cpu_presets(device_type, cuda_available, reason):
    from vanilla_nerf_pe.core.errors import InputError
    from vanilla_nerf_pe.nerf.cuda_trainer import check_cuda

    with pytest.raises(InputError, match=reason) as raised:
        check_cuda("vanilla-nerf-pe-gpu", device_type, cuda_available)
    assert "vanilla-nerf-pe-fast" in str(raised.value) and "\n" not in str(raised.value)
    check_cuda("vanilla-nerf-pe-gpu", "cuda", True)  # nothing to refuse


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_ns_train_of_the_gpu_preset_stops_in_one_line_without_cuda(tiny_scene, tmp_path):
    import subprocess

    from tests.conftest import cli_env

    proc = subprocess.run(
        ["ns-train", "vanilla-nerf-pe-gpu", "--vis", "tensorboard", "--output-dir", str(tmp_path), "blender-data", "--data", str(tiny_scene)],
        env=cli_env(), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("vanilla-nerf-pe: error: vanilla-nerf-pe-gpu is sized for a CUDA GPU")
    assert "Traceback" not in proc.stderr
