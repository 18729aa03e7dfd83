"""Runs made by earlier versions still open (tests/fixtures/old_runs):

- written by d180d9e, before the 11-27 redesign: their config.yml names the old top-level module
  paths and flat options, their checkpoints the old state names;
- written by edc48d8, before the scene spaces became classes and the nerfstudio patches moved out
  of ``vanilla_nerf_pe.nerf.compat``: their config.yml names ``compat``'s pipelines, their
  checkpoints hold every scene kind's geometry buffers (and ``space.kind_code``)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import ns_viewer_page, run_cli
from vanilla_nerf_pe.scenes.blender import SceneConfig, write_scene
from vanilla_nerf_pe.scenes.capture import CaptureConfig, write_capture_scene

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "old_runs"
RUNS = {"fast": "vanilla-nerf-pe-fast", "quick": "vanilla-nerf-pe-quick", "proposal": "vanilla-nerf-pe-quick"}
CURRENT_RUNS = {"edc48d8_fast": ("fast", "vanilla-nerf-pe-fast"), "edc48d8_unbounded": ("unbounded", "vanilla-nerf-pe-360")}
"""fixture folder -> (experiment, method) of the runs written by edc48d8 (timestamp ``current``)."""


@pytest.fixture(scope="module")
def old_runs(tmp_path_factory) -> Path:
    """The layout the fixtures' relative paths expect: scene/ and out/<experiment>/<method>/old/."""
    root = tmp_path_factory.mktemp("old_runs")
    write_scene(root / "scene", SceneConfig(resolution=32, num_train=8, num_val=2, num_test=2))
    write_capture_scene(root / "capture360", CaptureConfig("unbounded", width=48, num_views=20))
    for experiment, method in RUNS.items():
        shutil.copytree(FIXTURES / experiment, root / "out" / experiment / method / "old")
    for folder, (experiment, method) in CURRENT_RUNS.items():
        shutil.copytree(FIXTURES / folder, root / "out" / experiment / method / "current")
    return root


def config_path(root: Path, experiment: str) -> Path:
    return root / "out" / experiment / RUNS[experiment] / "old" / "config.yml"


@pytest.mark.parametrize("experiment", sorted(RUNS))
def test_old_config_and_checkpoint_load_strictly(old_runs, experiment, monkeypatch):
    """eval_setup (what ns-eval, ns-render and ns-viewer call) builds today's model from the old
    config.yml, and every tensor of the old checkpoint finds its place: no missing or unexpected key."""
    from nerfstudio.utils.eval_utils import eval_setup

    monkeypatch.chdir(old_runs)
    text = config_path(old_runs, experiment).read_text()
    assert "vanilla_nerf_pe.model.VanillaNeRFPEModelConfig" in text and "hidden_dim: 32" in text
    config, pipeline, checkpoint, step = eval_setup(config_path(old_runs, experiment).relative_to(old_runs), test_mode="test")
    model = config.pipeline.model
    assert (model.network.num_layers, model.network.width, model.color_width) == (2, 32, 16)
    assert model.network.pe_num_frequencies == 4 and model.network.pe_include_input  # the old field fed x too
    assert model.sampler == {"fast": "occupancy", "quick": "hierarchical", "proposal": "proposal"}[experiment]
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["pipeline"]
    old_keys = {k[len("_model."):]: v for k, v in state.items() if k.startswith("_model.")}
    assert any(k.startswith(("field_fine.", "sampler_")) for k in old_keys)  # really the old names
    result = pipeline.model.load_state_dict(old_keys, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert step == 19


@pytest.mark.slow
def test_ns_eval_ns_render_and_ns_viewer_open_old_runs(old_runs):
    """The tools themselves (each loads through eval_setup, as above, for all three samplers)."""
    out = old_runs / "proposal.json"
    run_cli(["ns-eval", "--load-config", config_path(old_runs, "proposal").relative_to(old_runs), "--output-path", out], cwd=old_runs)
    assert math.isfinite(json.loads(out.read_text())["results"]["psnr"])
    video = old_runs / "fast.mp4"
    run_cli(["ns-render", "interpolate", "--load-config", config_path(old_runs, "fast").relative_to(old_runs),
             "--output-path", video, "--interpolation-steps", "2"], cwd=old_runs)
    assert video.stat().st_size > 0
    page = ns_viewer_page(config_path(old_runs, "quick").relative_to(old_runs), old_runs)
    assert b"<html" in page.lower()


@pytest.mark.parametrize("folder", sorted(CURRENT_RUNS))
def test_runs_of_edc48d8_load_strictly(old_runs, folder, monkeypatch):
    """A run of the option-group layout (config.yml naming ``vanilla_nerf_pe.nerf.compat``'s
    pipelines, a checkpoint with every kind's space buffers) builds today's model, whose space is
    the same kind with the same geometry, and loads strictly."""
    from nerfstudio.utils.eval_utils import eval_setup

    monkeypatch.chdir(old_runs)
    experiment, method = CURRENT_RUNS[folder]
    config_file = Path("out") / experiment / method / "current" / "config.yml"
    assert "vanilla_nerf_pe.nerf.compat.DataParallel" in config_file.read_text()
    config, pipeline, checkpoint, step = eval_setup(config_file, test_mode="test")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["pipeline"]
    keys = {k[len("_model."):]: v for k, v in state.items() if k.startswith("_model.")}
    assert "space.kind_code" in keys  # really the old buffers
    result = pipeline.model.load_state_dict(keys, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    space = pipeline.model.space
    assert space.name == {"fast": "bounded", "unbounded": "unbounded"}[experiment]
    for name, value in space.state_dict().items():
        assert torch.equal(value, keys[f"space.{name}"]), name
    assert step == 19
