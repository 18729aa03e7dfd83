"""Through the real ns-train: Ctrl-C then --load-dir, non-finite losses, collapse, and determinism."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import List

import pytest
import torch

from tests.conftest import cli_env, run_cli

pytestmark = pytest.mark.slow


def ns_train(method: str, scene: Path, out: Path, *extra, timestamp: str = "run") -> List[str]:
    return [
        "ns-train", method, "--machine.device-type", "cpu", "--vis", "tensorboard",
        "--output-dir", str(out), "--experiment-name", "x", "--timestamp", timestamp, *map(str, extra),
        "blender-data", "--data", str(scene),
    ]


def checkpoints(run_dir: Path) -> List[Path]:
    return sorted((run_dir / "nerfstudio_models").glob("step-*.ckpt"))


def adam_steps(checkpoint) -> int:
    """Adam's step count (the same for every parameter that has state)."""
    (count,) = {int(s["step"]) for s in checkpoint["optimizers"]["fields"]["state"].values()}
    return count


def test_ctrl_c_saves_a_checkpoint_that_load_dir_resumes(tiny_scene, tmp_path):
    method = "vanilla-nerf-pe-fast"  # occupancy grid and dynamic batch: the most state to carry over
    run_dir = tmp_path / "x" / method / "run"
    proc = subprocess.Popen(
        ns_train(method, tiny_scene, tmp_path, "--max-num-iterations", "100000", "--steps-per-save", "5"),
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 300
        while not checkpoints(run_dir) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    assert f"resume with the same command and --load-dir {run_dir / 'nerfstudio_models'}" in stderr
    (ckpt,) = checkpoints(run_dir)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    step = state["step"]
    assert f"interrupted at step {step};" in stderr
    assert adam_steps(state) == step + 1

    run_cli(
        ns_train(method, tiny_scene, tmp_path, "--max-num-iterations", "3", "--load-dir", run_dir / "nerfstudio_models",
                 timestamp="resumed"),
        cwd=tmp_path,
    )
    (resumed,) = checkpoints(tmp_path / "x" / method / "resumed")
    after = torch.load(resumed, map_location="cpu", weights_only=True)
    # The same run goes on: step counter, Adam's moments and step count, the scheduler, the grid.
    assert after["step"] == step + 3
    assert adam_steps(after) == step + 4
    assert after["schedulers"]["fields"]["last_epoch"] == step + 4
    grid = "_model.sampler.grid.occs"
    assert not torch.equal(after["pipeline"][grid], torch.zeros_like(after["pipeline"][grid]))


def test_non_finite_weights_or_loss_stop_training_and_keep_the_last_good_checkpoint(tiny_scene, tmp_path):
    method = "vanilla-nerf-pe-quick"
    run_dir = tmp_path / "x" / method / "run"
    run_cli(ns_train(method, tiny_scene, tmp_path, "--max-num-iterations", "4", "--steps-per-save", "2"), cwd=tmp_path)
    # Resume into the same folder with a schedule whose learning rate becomes infinite. The resumed
    # step 4 still uses the checkpoint's learning rate and is saved; the scheduler then turns it to
    # inf, step 5's optimiser step makes every weight NaN, and step 6's loss is NaN.
    good = run_dir / "nerfstudio_models" / "step-000000004.ckpt"
    for steps_per_save, expected in [("1", "step 5: the optimiser step made the weights non-finite"),
                                     ("1000", "step 6: the loss is not finite")]:
        proc = subprocess.run(
            ns_train(method, tiny_scene, tmp_path, "--max-num-iterations", "10", "--steps-per-save", steps_per_save,
                     "--load-dir", run_dir / "nerfstudio_models", "--optimizers.fields.scheduler.lr-final", "inf"),
            cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 1, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert expected in last and f"the last good checkpoint stands: {good}" in last, last
        assert checkpoints(run_dir) == [good]
    state = torch.load(good, map_location="cpu", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["pipeline"].values() if v.is_floating_point())


def test_collapse_to_an_empty_scene_is_reported(tiny_scene, tmp_path):
    # A density bias of -20 starts every density at softplus(-20) ~ 2e-9: the transmittance stays 1,
    # its gradient vanishes and the field never leaves the empty scene.
    proc = subprocess.run(
        ns_train("vanilla-nerf-pe-quick", tiny_scene, tmp_path, "--max-num-iterations", "50",
                 "--pipeline.model.density-bias", "-20", "--pipeline.model.collapse-check-step", "8"),
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "step 8: the scene collapsed to empty space during warm-up" in proc.stderr.strip().splitlines()[-1]


def _losses(run_dir: Path) -> List[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir)).Reload()
    return [e.value for e in events.Scalars("Train Loss")]


def test_same_seed_same_losses_on_cpu(tiny_scene, tmp_path):
    runs = []
    for name in ("a", "b"):
        run_cli(
            ns_train("vanilla-nerf-pe-fast", tiny_scene, tmp_path, "--max-num-iterations", "12", "--machine.seed", "7",
                     "--logging.steps-per-log", "1", timestamp=name),
            cwd=tmp_path,
        )
        runs.append(tmp_path / "x" / "vanilla-nerf-pe-fast" / name)
    a, b = (_losses(r) for r in runs)
    assert len(a) == 12 and a == b
    (ca,), (cb,) = (checkpoints(r) for r in runs)
    sa, sb = (torch.load(c, map_location="cpu", weights_only=True)["pipeline"] for c in (ca, cb))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_guard_with_steps_per_save_0_and_without_a_model(tmp_path):
    """--steps-per-save 0 means "never" to nerfstudio's step_check; the guard used to divide by it.
    The guard knows the trainer and the weights it is given, not the model."""
    from types import SimpleNamespace

    from vanilla_nerf_pe.core.errors import TrainingStopped
    from vanilla_nerf_pe.nerf.guard import TrainingGuard

    weights = [torch.nn.Parameter(torch.ones(3))]
    trainer = SimpleNamespace(config=SimpleNamespace(steps_per_save=0), checkpoint_dir=tmp_path)
    guard = TrainingGuard(collapse_check_step=2, collapse_min_accumulation=0.5)
    callbacks = guard.callbacks(None, lambda: weights)  # no trainer: no SIGINT handler
    guard.trainer = trainer  # type: ignore[assignment]
    assert len(callbacks) == 3
    for step in range(4):
        guard.after_iteration(step)  # never a save step, no ZeroDivisionError
    guard.before_iteration(0)
    guard.check_batch({"rgb_loss_fine": torch.tensor(0.1)}, torch.full((8, 1), 0.1))
    guard.check_batch({"rgb_loss_fine": torch.tensor(0.1)}, torch.full((8, 1), 0.1))
    with pytest.raises(TrainingStopped, match="step 2: the scene collapsed"):
        guard.before_iteration(2)
    with pytest.raises(TrainingStopped, match="the loss is not finite"):
        guard.check_batch({"rgb_loss_fine": torch.tensor(float("nan"))}, torch.ones(8, 1))
    assert isinstance(TrainingStopped("x"), Exception)
