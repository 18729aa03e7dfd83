"""The latent-grid codec as a kind of the image lab: `vnp-image fit --kind latent`, `compare --kinds
... latent` and experiment YAMLs that name it (vanilla_nerf_pe.codec.lab_kinds)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.image.test_image_field import _one_line_exit_2
from vanilla_nerf_pe.cli.image import CompareCommand
from vanilla_nerf_pe.cli.image import main as image_main
from vanilla_nerf_pe.codec.lab_kinds import LAB_KINDS, LATENT_FILE
from vanilla_nerf_pe.codec.latent import LatentConfig, LatentImage, network_tensors
from vanilla_nerf_pe.codec.latent_file import decode_latent_image
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.image_io import load_image, save_image
from vanilla_nerf_pe.core.metrics import psnr
from vanilla_nerf_pe.image.experiment import load_experiment
from vanilla_nerf_pe.image.field import default_image

pytestmark = pytest.mark.usefixtures("single_thread")

#: A latent codec small enough for a test: three grids, tiny networks, 25 steps.
TINY_LATENT = ["--latent.levels", "3", "--latent.synthesis-widths", "8", "--latent.arm-widths", "8", "--latent.refine-blocks", "0",
               "--latent.steps", "20", "--latent.ste-steps", "5"]
TINY_NETWORK = ["--steps", "4", "--width", "8", "--num-layers", "2", "--pe-num-frequencies", "2", "--eval-every", "2"]


@pytest.fixture()
def photo(tmp_path):
    """scikit-image's astronaut at 32x32 as a PNG."""
    return save_image(default_image("astronaut", 32), tmp_path / "astronaut.png")


def _pixels(path) -> np.ndarray:
    return np.array(Image.open(path))


def test_fit_latent_writes_its_decoded_file_and_scores_it(photo, tmp_path, capsys):
    out = tmp_path / "fit"
    image_main(["fit", str(photo), "--kind", "latent", "--latent.rate-lambda", "0.001", "--output", str(out), "--quiet", *TINY_LATENT])
    printed = capsys.readouterr().out
    assert "latent: PSNR" in printed and "latent: as a compressed image: its file" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(["reconstruction.png", "metrics.json", LATENT_FILE])
    metrics = json.loads((out / "metrics.json").read_text())
    data = (out / LATENT_FILE).read_bytes()
    image = load_image(photo)
    recon = torch.from_numpy(_pixels(out / "reconstruction.png")).float() / 255.0

    # the reconstruction is the decoded file, and the PSNR reported is that reconstruction's
    np.testing.assert_array_equal(_pixels(out / "reconstruction.png"), decode_latent_image(data))
    assert metrics["psnr"] == pytest.approx(float(psnr(recon, image)), abs=1e-4)
    assert metrics["psnr"] == metrics["psnr_full_image"] == pytest.approx(metrics["compression"]["psnr"], abs=1e-4)
    # the bytes reported are the file's; the parameters are the latents and the networks' weights
    report = metrics["compression"]
    assert report["file_bytes"] == len(data) == report["header_bytes"] + report["weight_bytes"] + report["latent_bytes"]
    assert report["file_bpp"] == pytest.approx(8 * len(data) / (32 * 32))
    assert (report["rate_lambda"], report["target_bpp"]) == (0.001, None)
    assert report["jpeg_bytes"] is None or report["jpeg_psnr"] >= report["psnr"]
    tiny = LatentImage(LatentConfig(levels=3, synthesis_widths=(8,), arm_widths=(8,), refine_blocks=0), 32, 32, 3)
    assert metrics["num_parameters"] == tiny.num_latents() + sum(t.numel() for t in network_tensors(tiny).values())
    assert metrics["kind"] == "latent" and metrics["device"] == "cpu" and metrics["psnr_history"][-1][0] == 25
    assert metrics["image"]["height"] == 32 and metrics["config"]["rate_lambda"] == 0.001

    # the very file `vnp-image compress --kind latent` writes with the same options
    compressed = tmp_path / "same.vnpi"
    image_main(["compress", str(photo), str(compressed), "--kind", "latent", "--lambda", "0.001", "--quiet", *TINY_LATENT])
    assert compressed.read_bytes() == data


def test_compare_shows_latent_beside_the_networks(photo, tmp_path, monkeypatch):
    from vanilla_nerf_pe.image import figures

    titles = []
    draw = figures.save_comparison
    monkeypatch.setattr(figures, "save_comparison", lambda path, panels: (titles.extend(t for t, _ in panels), draw(path, panels)))
    out = tmp_path / "cmp"
    image_main(["compare", str(photo), "--kinds", "pe", "latent", "--output", str(out), "--quiet", *TINY_NETWORK, *TINY_LATENT,
                "--latent.bpp", "8", "--latent.rate-search-tries", "1", "--latent.rate-search-steps", "5"])
    results = json.loads((out / "metrics.json").read_text())["results"]
    assert list(results) == ["pe", "latent"]
    for name in ("comparison.png", "psnr_curves.png", "speed_and_size.png", "reconstruction_pe.png", "reconstruction_latent.png"):
        assert (out / name).is_file(), name
    latent = results["latent"]
    recon = torch.from_numpy(_pixels(out / "reconstruction_latent.png")).float() / 255.0
    assert latent["psnr"] == pytest.approx(float(psnr(recon, load_image(photo))), abs=1e-4)
    assert titles == ["original", f"pe: {results['pe']['psnr']:.2f} dB", f"latent: {latent['psnr']:.2f} dB"]
    assert (latent["compression"]["target_bpp"], latent["compression"]["rate_lambda"]) == (8.0, None)
    assert latent["compression"]["file_bytes"] > 0 and latent["num_parameters"] > 0 and len(latent["psnr_history"]) >= 2
    assert results["pe"]["compression"]["model_bytes_float16"] > 0  # the networks are still measured as before


def test_bad_latent_options_are_one_line_errors(tmp_path, capsys):
    def fit(*bad):
        return _one_line_exit_2(["fit", "--kind", "latent", "--size", "32", "--output", str(tmp_path / "out"), "--quiet", *TINY_LATENT, *bad], capsys)

    assert "--latent.bpp" in fit("--latent.bpp", "0")
    assert "--latent.rate-lambda" in fit("--latent.rate-lambda", "-1")
    assert "--latent.levels" in fit("--latent.levels", "0")
    assert "--latent.bpp 0.05 is too low" in fit("--latent.bpp", "0.05")
    # checked before the first (long) fit: no network of the comparison has run
    compare = ["compare", "--kinds", "pe", "latent", "--size", "32", "--output", str(tmp_path / "out"), *TINY_NETWORK, *TINY_LATENT]
    assert "--holdout" in _one_line_exit_2([*compare, "--holdout"], capsys)
    assert "--latent.bpp 0.05 is too low" in _one_line_exit_2([*compare, "--latent.bpp", "0.05"], capsys)
    assert not (tmp_path / "out" / "reconstruction_pe.png").exists()


def test_experiment_yaml_names_latent_and_its_options(tmp_path):
    config = tmp_path / "latent.yaml"
    config.write_text("size: 32\nkinds: [pe, latent]\nlatent: {levels: 3, synthesis_widths: [8], bpp: 2.0}\nfield: {steps: 3}\n")
    command = load_experiment(config, options=CompareCommand, kinds=LAB_KINDS)
    assert command.kinds == ("pe", "latent") and command.field.steps == 3
    assert (command.latent.levels, command.latent.synthesis_widths, command.latent.bpp, command.latent.steps) == (3, (8,), 2.0, LatentConfig().steps)  # unnamed: the default
    with pytest.raises(InputError, match=r"unknown option\(s\) latent"):  # the lab alone knows the networks only
        load_experiment(config)
    config.write_text("kinds: [pe, latent]\n")
    with pytest.raises(InputError, match=r"unknown kind\(s\) \['latent'\]"):
        load_experiment(config)
    config.write_text("kinds: [latent]\nlatent: {stepz: 3}\n")
    with pytest.raises(InputError, match="latent: .*stepz"):
        load_experiment(config, options=CompareCommand, kinds=LAB_KINDS)
