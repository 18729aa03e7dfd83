"""Progress on long work: a bar per fit on stderr (step, PSNR, time left), none with --quiet, and the
library functions report to the progress callback they are given (and are silent without one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vanilla_nerf_pe.cli.image import main as image_main
from vanilla_nerf_pe.codec.compress import CompressConfig, compress_image
from vanilla_nerf_pe.image.progress import eval_every, progress_bars

TINY = ["--kind", "fourier", "--steps", "4", "--num-layers", "1", "--width", "4", "--fourier-num-features", "4", "--eval-every", "2", "--device", "cpu"]


@pytest.fixture
def tiny_png(tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray((np.random.RandomState(0).rand(8, 8, 3) * 255).astype(np.uint8)).save(path)
    return path


def test_fit_shows_a_progress_bar_unless_quiet(tiny_png, capsys):
    image_main(["fit", str(tiny_png), *TINY])
    out, err = capsys.readouterr()
    assert "fit fourier" in err and "4/4" in err and "PSNR" in err and " dB" in err  # rich's final state off a terminal
    assert "vnp-image: fourier: PSNR" in out
    image_main(["fit", str(tiny_png), *TINY, "--quiet"])
    out, err = capsys.readouterr()
    assert err == "" and "vnp-image: fourier: PSNR" in out


def test_compress_reports_step_and_psnr_to_its_callback():
    calls = []

    def progress(label, total):
        calls.append((label, total))
        return lambda step, loss, psnr: calls.append((step, psnr))

    image = torch.rand(8, 8, 3, generator=torch.Generator().manual_seed(0))
    config = CompressConfig(steps=40, qat_steps=2, num_layers=2, width=4, coder="raw")
    quiet = compress_image(image, config)
    shown = compress_image(image, config, progress=progress)
    assert quiet.encoded.data == shown.encoded.data  # the bar's PSNR evaluations change nothing
    assert calls[0] == ("compress siren 2x4 (0.3 bpp)", 40)
    fit_steps = [c for c in calls[1:41]]
    assert [step for step, _ in fit_steps] == list(range(1, 41))
    assert sum(psnr is not None for _, psnr in fit_steps) == 40 // eval_every(40, progress)
    assert calls[41] == ("fine-tune for 8-bit weights", 2)


def test_quiet_progress_is_none():
    with progress_bars(quiet=True) as progress:
        assert progress is None
