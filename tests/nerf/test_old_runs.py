"""Runs made before the redesign (tests/fixtures/old_runs, written by d180d9e) still open: their
config.yml names the old module paths and flat options, their checkpoints the old state names."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import ns_viewer_page, run_cli
from vanilla_nerf_pe.scenes.blender import SceneConfig, write_scene

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "old_runs"
RUNS = {"fast": "vanilla-nerf-pe-fast", "quick": "vanilla-nerf-pe-quick", "proposal": "vanilla-nerf-pe-quick"}


@pytest.fixture(scope="module")
def old_runs(tmp_path_factory) -> Path:
    """The layout the fixtures' relative paths expect: scene/ and out/<experiment>/<method>/old/."""
    root = tmp_path_factory.mktemp("old_runs")
    write_scene(root / "scene", SceneConfig(resolution=32, num_train=8, num_val=2, num_test=2))
    for experiment, method in RUNS.items():
        shutil.copytree(FIXTURES / experiment, root / "out" / experiment / method / "old")
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
