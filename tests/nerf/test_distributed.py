"""Two-process data-parallel training on CPU (gloo) through nerfstudio's launcher."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_vnp_train_two_cpu_processes_then_ns_eval(tiny_scene, tmp_path):
    proc = run_cli(
        [
            "vnp-train", "vanilla-nerf-pe-fast", "--machine.device-type", "cpu", "--machine.num-devices", "2",
            "--vis", "tensorboard", "--max-num-iterations", "4", "--steps-per-save", "2",
            "--output-dir", tmp_path, "--experiment-name", "x", "--timestamp", "run",
            "blender-data", "--data", tiny_scene,
        ],
        cwd=tmp_path,
    )
    assert proc.stdout.count("Training Finished") == 2, "expected one training per process"
    config = tmp_path / "x" / "vanilla-nerf-pe-fast" / "run" / "config.yml"
    ckpt = sorted((config.parent / "nerfstudio_models").glob("*.ckpt"))[-1]
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["step"] == 3
    # The model trained inside DistributedDataParallel (its keys carry DDP's "module." prefix) ...
    assert "_model.module.sampler.grid.occupied" in state["pipeline"]
    # ... and nerfstudio's tools load such a checkpoint as they are.
    out = tmp_path / "eval.json"
    run_cli(["ns-eval", "--load-config", config, "--output-path", out], cwd=tmp_path)
    assert math.isfinite(json.loads(out.read_text())["results"]["psnr"])


def _train_and_dump(local_rank: int, world_size: int, config, global_rank: int = 0) -> None:
    """nerfstudio's train_loop (seed + rank, set up, train), then this rank's weights to a file."""
    from nerfstudio.scripts.train import _set_random_seed

    _set_random_seed(config.machine.seed + global_rank)
    trainer = config.setup(local_rank=local_rank, world_size=world_size)
    trainer.setup()
    start = {k: v.clone() for k, v in trainer.pipeline.model.state_dict().items()}
    trainer.train()
    torch.save({"start": start, "end": trainer.pipeline.model.state_dict()}, Path(config.output_dir) / f"rank{global_rank}.pt")


def test_gradients_are_averaged_across_processes(tiny_scene, tmp_path, monkeypatch):
    """Each process draws other rays (seed + rank): only averaged gradients keep the weights of
    the two processes equal while training moves them."""
    import nerfstudio.scripts.train as train

    from vanilla_nerf_pe.nerf.patches import distributed_worker
    from vanilla_nerf_pe.nerf.method_configs import vanilla_nerf_pe_quick

    config = copy.deepcopy(vanilla_nerf_pe_quick.config)
    config.pipeline.datamanager.data = tiny_scene
    config.pipeline.datamanager.train_num_rays_per_batch = 128
    config.machine.device_type, config.machine.num_devices = "cpu", 2
    config.vis, config.max_num_iterations, config.steps_per_save = "tensorboard", 3, 100
    config.output_dir, config.experiment_name, config.timestamp = tmp_path, "x", "run"
    monkeypatch.setattr(train, "_distributed_worker", distributed_worker)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    train.launch(_train_and_dump, num_devices_per_machine=2, device_type="cpu", config=config)

    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0["end"].keys() == rank1["end"].keys()
    for key in rank0["end"]:
        assert torch.equal(rank0["end"][key], rank1["end"][key]), key
    moved = [k for k in rank0["end"] if "weight" in k and not torch.equal(rank0["start"][k], rank0["end"][k])]
    assert len(moved) > 5, "training did not change the weights"
