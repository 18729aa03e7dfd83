"""The side-by-side benchmark (benchmarks/wall_clock.py): its run specs, and one short run of every
default method plus a bfloat16 variant on a generated scene, through to the table."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "wall_clock.py"


def load_wall_clock():
    spec = importlib.util.spec_from_file_location("wall_clock", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_run_specs_and_overrides():
    import copy

    from nerfstudio.configs.method_configs import all_methods

    wall_clock = load_wall_clock()
    method, overrides = wall_clock.parse_run(
        "vanilla-nerf-pe-fast:network.kind=siren,precision=auto,trainer.max_num_iterations=7,optimizers.fields.optimizer.lr=1e-3,"
        "pipeline.datamanager.train_num_rays_per_batch=32,network.skip_connections=[1]"
    )
    assert method == "vanilla-nerf-pe-fast"
    assert overrides == {
        "pipeline.model.network.kind": "siren",
        "pipeline.model.precision": "auto",
        "max_num_iterations": 7,
        "optimizers.fields.optimizer.lr": 1e-3,  # YAML 1.1 reads 1e-3 as a string: taken as the number
        "pipeline.datamanager.train_num_rays_per_batch": 32,
        "pipeline.model.network.skip_connections": [1],
    }
    config = copy.deepcopy(all_methods[method])
    wall_clock.apply_overrides(config, overrides)
    assert config.pipeline.model.network.kind == "siren" and config.max_num_iterations == 7
    assert config.optimizers["fields"]["optimizer"].lr == 1e-3
    assert config.pipeline.model.network.skip_connections == (1,)  # lists become the option's tuple
    for bad in ("pipeline.model.no_such_option", "optimizers.nothing.lr", "pipeline.model.network.nothing", "pipeline.nothing.x"):
        with pytest.raises(SystemExit, match=f"unknown option '{bad}'"):
            wall_clock.apply_overrides(copy.deepcopy(all_methods[method]), {bad: 1})
    with pytest.raises(SystemExit, match="expected key=value"):
        wall_clock.parse_run("vanilla-nerf-pe-fast:field")
    assert wall_clock.parse_run("nerfacto")[1]["pipeline.model.implementation"] == "torch"  # the peers' documented settings


@pytest.mark.slow
def test_every_default_run_reaches_the_table(tiny_scene, tmp_path):
    """The acceptance command in miniature: a peer (nerfacto in pure torch, which builds LPIPS: the
    stub that keeps it offline) and our fast method, 2 s each, scored, tabulated as JSON and
    Markdown. The other two default runs (vanilla-nerf, the quick preset) go through the same code
    path; each run is a subprocess of its own, ~30 s on 2 cores."""
    wall_clock = load_wall_clock()
    runs = ["nerfacto", "vanilla-nerf-pe-fast"]
    assert set(runs) <= set(wall_clock.DEFAULT_RUNS)
    out = tmp_path / "results"
    proc = run_cli(
        [sys.executable, SCRIPT, "--data", tiny_scene, "--budget", 2, "--eval-every", 1, "--num-views", 1,
         "--output-dir", out, "--runs", *runs],
        cwd=ROOT,
        timeout=900,
    )
    results = json.loads((out / "results.json").read_text())
    assert [row["run"] for row in results["rows"]] == runs, proc.stdout[-3000:]
    for row in results["rows"]:
        assert row["iterations"] >= 1 and row["rays_per_second"] > 0 and row["peak_memory_mb"] > 0, row
        assert math.isfinite(row["psnr"]) and 0 < row["ssim"] <= 1, row
    assert "matmul peak" in results["header"] and "samples/s" in results["header"]
    table = (out / "results.md").read_text()
    assert sum(line.startswith("|") for line in table.splitlines()) == 2 + len(runs)  # header, rule, one line per run
    assert table in proc.stdout
