"""Learning: on the unbounded demo scene the contraction trains better than a box.

The unbounded scene (an orbit inside far surroundings) with mip-NeRF 360's contraction against the
same model in the scene box of nerfstudio-data (which holds the cameras, not the sky): the
vanilla-nerf-pe-360 preset, the same seed, iterations and data; PSNR on the held-out views. The
margin comes from a measurement on the 2-core CPU (2026-11-27, AMD EPYC: 15.22 dB against 14.14).

The forward-facing counterpart is not here: on the forward-facing demo scene NDC rays scored 21.22 dB
against a box's 21.65 after 300 iterations (the box of llff-data is the frustum of the file's
bounds, which fits that scene's wall well); a scene and budget where NDC's advantage shows are open.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.conftest import train_in_process
from vanilla_nerf_pe.nerf.evaluate import evaluate_pipeline

pytestmark = pytest.mark.slow

ITERATIONS = 300
MARGIN = 0.5  # dB the contraction must gain over the box (measured: +1.1)


def train_fast(parser: str, scene: Path, out: Path, kind: str) -> float:
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from vanilla_nerf_pe.nerf.llff import LLFFDataParserConfig
    from vanilla_nerf_pe.nerf.method_configs import METHODS

    preset = "vanilla-nerf-pe-forward-facing" if parser == "llff-data" else "vanilla-nerf-pe-360"
    config = copy.deepcopy(METHODS[preset].config)
    config.pipeline.datamanager.dataparser = (LLFFDataParserConfig if parser == "llff-data" else NerfstudioDataParserConfig)(data=scene)
    config.pipeline.model.scene = kind
    config.pipeline.model.precision = "float32"  # as measured (the margin's run); auto depends on the CPU
    trainer = train_in_process(config, out, ITERATIONS)
    return evaluate_pipeline(trainer.pipeline, num_views=2)["mean"]["psnr"]  # the held-out (val) views


def test_contraction_beats_a_box_on_the_unbounded_scene(unbounded_scene, tmp_path):
    contracted = train_fast("nerfstudio-data", unbounded_scene, tmp_path / "unbounded", "unbounded")
    box = train_fast("nerfstudio-data", unbounded_scene, tmp_path / "box", "bounded")
    print(f"unbounded scene, held-out PSNR after {ITERATIONS} iterations: unbounded {contracted:.2f} dB, bounded {box:.2f} dB")
    assert contracted >= box + MARGIN
