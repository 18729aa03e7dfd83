"""The 2D image lab: encodings, SIREN, image loading, spectral bias, saved fields, the vnp-image CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vanilla_nerf_pe.core.encodings import GaussianFourierFeatures, PositionalEncoding, fourier_features, positional_encoding
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.image_io import load_image, to_uint8
from vanilla_nerf_pe.core.metrics import psnr
from vanilla_nerf_pe.core.mlp import MLP, Siren
from vanilla_nerf_pe.core.network import CoordinateNetwork, CoordinateNetworkConfig
from vanilla_nerf_pe.cli.image import main as image_main
from vanilla_nerf_pe.codec.baselines import compression_report
from vanilla_nerf_pe.image.analysis import finite_difference_derivatives, gradient_and_laplacian
from vanilla_nerf_pe.image.experiment import load_experiment
from vanilla_nerf_pe.image.field import ImageField, ImageFieldConfig, default_image, even_pixel_mask, load_field, pixel_grid
from vanilla_nerf_pe.image.fit import fit, render

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "image"


# These networks are tiny: intra-op threads on a shared, busy CPU slow them down more than they help.
pytestmark = pytest.mark.usefixtures("single_thread")

# --------------------------------------------------------------------------
# Encodings and SIREN
# --------------------------------------------------------------------------


def test_fourier_features_closed_form_and_shape():
    x = torch.rand(5, 7, 2) * 2 - 1
    enc = GaussianFourierFeatures(2, num_features=16, sigma=3.0, seed=1)
    out = enc(x)
    assert enc.get_out_dim() == 32 and out.shape == (5, 7, 32)
    proj = 2 * math.pi * torch.einsum("...d,md->...m", x, enc.B)
    torch.testing.assert_close(out, torch.cat([torch.cos(proj), torch.sin(proj)], dim=-1))
    torch.testing.assert_close(fourier_features(x, enc.B), out)
    with pytest.raises(ValueError):
        fourier_features(torch.zeros(3, 3), enc.B)


def test_fourier_matrix_seeded_buffer_round_trips():
    a, b = GaussianFourierFeatures(2, 64, 10.0, seed=7), GaussianFourierFeatures(2, 64, 10.0, seed=7)
    assert a.B.shape == (64, 2)
    torch.testing.assert_close(a.B, b.B)
    assert not torch.equal(a.B, GaussianFourierFeatures(2, 64, 10.0, seed=8).B)
    assert "B" in a.state_dict() and not any(n == "B" for n, _ in a.named_parameters())
    big = GaussianFourierFeatures(3, 4000, 2.5, seed=0)
    assert abs(float(big.B.std()) - 2.5) < 0.1
    fresh = GaussianFourierFeatures(2, 64, 10.0, seed=123)
    fresh.load_state_dict(a.state_dict())
    torch.testing.assert_close(fresh.B, a.B)
    x = torch.rand(10, 2)
    torch.testing.assert_close(fresh(x), a(x))


def test_siren_init_keeps_preactivation_std_constant():
    torch.manual_seed(0)
    siren = Siren(2, num_layers=6, width=256, out_dim=3)
    assert siren.get_out_dim() == 3 and siren(torch.zeros(4, 2)).shape == (4, 3)
    first = siren.layers[0].linear.weight
    assert float(first.detach().abs().max()) <= 1.0 / 2 + 1e-6  # U(-1/n, 1/n), n = 2
    hidden_bound = math.sqrt(6 / 256) / 30
    assert float(siren.layers[3].linear.weight.detach().abs().max()) <= hidden_bound + 1e-7
    assert float(siren.out.weight.detach().abs().max()) <= hidden_bound + 1e-7
    h = torch.rand(8192, 2) * 2 - 1
    stds = []
    with torch.no_grad():
        for layer in siren.layers:
            pre = layer.preactivation(h)
            stds.append(float(pre.std()))
            h = torch.sin(pre)
    hidden = stds[1:]  # the first layer deliberately spans many periods (omega_0 = 30)
    assert max(hidden) / min(hidden) < 1.25, stds
    assert all(0.7 < s < 2.5 for s in hidden), stds


def test_image_field_is_the_shared_coordinate_network():
    def build(kind, **options):
        return ImageField(ImageFieldConfig(kind=kind, width=16, num_layers=2, pe_num_frequencies=3, fourier_num_features=8, **options), 3)

    assert issubclass(ImageFieldConfig, CoordinateNetworkConfig)
    none, pe, ff, siren = build("none"), build("pe"), build("fourier"), build("siren")
    for model in (none, pe, ff, siren):
        assert isinstance(model.network, CoordinateNetwork)
    assert isinstance(none.network.encoding, PositionalEncoding) and none.network.encoding.num_frequencies == 0
    assert isinstance(pe.network.encoding, PositionalEncoding) and pe.network.encoding.get_out_dim() == 12
    assert isinstance(ff.network.encoding, GaussianFourierFeatures)
    for model in (none, pe, ff):
        assert isinstance(model.network.mlp, MLP)
    assert isinstance(siren.network.mlp, Siren)
    assert set(ff.state_dict()) == {"network.encoding.B", "mean", "std"} | {f"network.mlp.{k}" for k in ff.network.mlp.state_dict()}
    coords = torch.rand(2, 5, 2) * 2 - 1
    for model in (none, pe, ff, siren):
        assert model(coords).shape == (2, 5, 3)
    # Initialisation is seeded and leaves the global RNG alone.
    state = torch.random.get_rng_state()
    torch.testing.assert_close(build("pe")(coords), pe(coords))
    assert torch.equal(state, torch.random.get_rng_state())
    # The Fourier matrix follows fourier_seed, not seed (which drives the initialisation).
    torch.testing.assert_close(build("fourier", seed=3).network.encoding.B, ff.network.encoding.B)
    assert not torch.equal(build("fourier", fourier_seed=3).network.encoding.B, ff.network.encoding.B)


def test_image_field_config_checks_name_the_flag():
    with pytest.raises(InputError, match="--pe-num-frequencies"):
        ImageField(ImageFieldConfig(kind="pe", pe_num_frequencies=-1), 3)
    with pytest.raises(InputError, match="--steps"):
        ImageFieldConfig(steps=-1).check()
    with pytest.raises(InputError, match="--batch-pixels"):
        ImageFieldConfig(batch_pixels=0).check()


# --------------------------------------------------------------------------
# Images, grids, masks
# --------------------------------------------------------------------------


def test_load_image_modes(tmp_path):
    gray = (np.arange(12, dtype=np.uint8) * 20).reshape(3, 4)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    out = load_image(tmp_path / "gray.png")
    assert out.shape == (3, 4, 1) and out.dtype == torch.float32
    np.testing.assert_allclose(out[..., 0].numpy(), gray / 255.0, atol=1e-6)

    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red
    rgba[0, 0, 3] = 0  # transparent
    rgba[0, 1, 3] = 255  # opaque
    rgba[1, :, 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    comp = load_image(tmp_path / "rgba.png")
    drop = load_image(tmp_path / "rgba.png", alpha="drop")
    assert comp.shape == drop.shape == (2, 2, 3)
    torch.testing.assert_close(comp[0, 0], torch.ones(3))  # on white
    torch.testing.assert_close(comp[0, 1], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(comp[1, 0], torch.tensor([1.0, 127 / 255, 127 / 255]), atol=1e-3, rtol=0)
    torch.testing.assert_close(drop, torch.tensor([1.0, 0.0, 0.0]).expand(2, 2, 3))

    deep = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    out16 = load_image(tmp_path / "deep.png")
    assert out16.shape == (2, 2, 1)
    np.testing.assert_allclose(out16[..., 0].numpy(), deep / 65535.0, atol=1e-6)

    Image.fromarray(np.full((4, 4, 3), 200, dtype=np.uint8)).convert("P").save(tmp_path / "pal.png")
    pal = load_image(tmp_path / "pal.png")
    assert pal.shape == (4, 4, 3)
    torch.testing.assert_close(pal, torch.full((4, 4, 3), 200 / 255), atol=0.02, rtol=0)


def test_load_image_bad_inputs(tmp_path):
    assert issubclass(InputError, ValueError)
    cases = {"missing.png": None, "text.png": b"this is not an image", "empty.png": b"", "trunc.png": None}
    png = tmp_path / "ok.png"
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8) + 9).save(png)
    cases["trunc.png"] = png.read_bytes()[:40]
    for name, data in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(InputError) as info:
            load_image(path)
        message = str(info.value)
        assert name in message and "\n" not in message, message
    with pytest.raises(InputError, match="empty"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(InputError):
        load_image(tmp_path)  # a directory


def test_default_image_grid_and_mask():
    astro, camera = default_image("astronaut", 24), default_image("camera", 20)
    assert astro.shape == (24, 24, 3) and camera.shape == (20, 20, 1)
    assert 0.0 <= float(astro.min()) and float(astro.max()) <= 1.0 and float(astro.std()) > 0.05
    grid = pixel_grid(2, 4)
    assert grid.shape == (2, 4, 2)
    torch.testing.assert_close(grid[0, 0], torch.tensor([-0.75, -0.5]))
    torch.testing.assert_close(grid[1, 3], torch.tensor([0.75, 0.5]))
    assert torch.all(grid[:, 1:, 0] > grid[:, :-1, 0]) and torch.all(grid[1:, :, 1] > grid[:-1, :, 1])
    mask = even_pixel_mask(5, 4)
    assert mask.shape == (5, 4) and int(mask.sum()) == 3 * 2 and mask[0, 0] and mask[2, 2] and not mask[1, 0] and not mask[0, 1]


# --------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------


def stripes(size: int = 32) -> torch.Tensor:
    """High-frequency test image: 4-7 cycles across the width/height/diagonal, per channel."""
    g = pixel_grid(size, size)
    x, y = g[..., 0], g[..., 1]
    return torch.stack(
        [
            0.5 + 0.5 * torch.sin(2 * math.pi * 6 * x),
            0.5 + 0.5 * torch.sin(2 * math.pi * 5 * y),
            0.5 + 0.25 * torch.sin(2 * math.pi * 4 * (x + y)) + 0.25 * torch.sin(2 * math.pi * 7 * x),
        ],
        dim=-1,
    )


LEARNING_THRESHOLD_DB = 25.0  # every encoding must really fit the stripes ...
RAW_CEILING_DB = 15.0  # ... which the raw ReLU MLP, with the same budget, cannot
SPECTRAL_BIAS_MARGIN_DB = 15.0  # and each encoding beats the raw MLP by at least this


def test_spectral_bias_encodings_beat_raw_relu_mlp():
    image = stripes(32)
    scores = {}
    for kind in ("none", "pe", "fourier", "siren"):
        config = ImageFieldConfig(
            kind=kind, width=64, num_layers=3, steps=300, pe_num_frequencies=6, fourier_num_features=64, fourier_sigma=3.0
        )
        result = fit(image, config, eval_every=100)
        assert [s for s, _ in result.psnr_history] == [100, 200, 300]
        assert result.num_parameters == result.model.num_parameters() > 0
        scores[kind] = result.final_psnr
    assert scores["none"] < RAW_CEILING_DB, scores
    for kind in ("pe", "fourier", "siren"):
        assert scores[kind] > LEARNING_THRESHOLD_DB, scores
        assert scores[kind] - scores["none"] > SPECTRAL_BIAS_MARGIN_DB, scores


def test_fit_masks_chunks_standardize_and_render():
    image = stripes(12)
    mask = even_pixel_mask(12, 12)
    config = ImageFieldConfig(kind="pe", width=16, num_layers=2, steps=6, pe_num_frequencies=3, standardize=True)
    calls = []
    small = fit(image, config, eval_every=3, train_mask=mask, chunk=7, callback=lambda s, l, p: calls.append((s, p)))
    big = fit(image, config, eval_every=3, train_mask=mask)
    assert [s for s, _ in small.psnr_history] == [3, 6] and len(calls) == 6 and calls[2][1] is not None
    # Chunked full-batch steps are the full-batch gradient: same trajectory.
    np.testing.assert_allclose([p for _, p in small.psnr_history], [p for _, p in big.psnr_history], rtol=1e-4)
    # Standardisation statistics live in the model (state_dict) and come from the training pixels.
    train = image[mask]
    torch.testing.assert_close(small.model.mean, train.mean(0))
    assert "mean" in small.model.state_dict() and "std" in small.model.state_dict()
    # PSNR history is on the held-out pixels.
    pred = render(small.model, 12, 12).clamp(0, 1)
    assert abs(float(psnr(pred[~mask], image[~mask])) - small.final_psnr) < 1e-3
    assert render(small.model, 5, 17).shape == (5, 17, 3)
    mini = fit(image, ImageFieldConfig(kind="siren", width=8, num_layers=2, steps=3, batch_pixels=10), eval_every=1)
    assert len(mini.psnr_history) == 3


# --------------------------------------------------------------------------
# Derivatives of the fitted field (SIREN fig. 1)
# --------------------------------------------------------------------------


class _SinPlusSquare(torch.nn.Module):
    """Closed-form field with ImageField's call signature: coords [..., 2] -> [..., 2], whose
    channel mean is f(x, y) = sin(a x) + y^2."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = a

    def forward(self, coords):
        x, y = coords[..., 0], coords[..., 1]
        f = torch.sin(self.a * x) + y**2
        return torch.stack([f + 0.5, f - 0.5], dim=-1)


def test_gradient_and_laplacian_closed_form():
    a, H, W = 3.0, 9, 11
    grad_norm, lap = gradient_and_laplacian(_SinPlusSquare(a), H, W, chunk=7)  # chunks split rows
    assert grad_norm.shape == lap.shape == (H, W)
    g = pixel_grid(H, W).double()
    x, y = g[..., 0], g[..., 1]
    expected_norm = torch.sqrt((a * torch.cos(a * x)) ** 2 + (2 * y) ** 2)
    expected_lap = -(a**2) * torch.sin(a * x) + 2.0
    torch.testing.assert_close(grad_norm.double(), expected_norm, atol=1e-3, rtol=0)
    torch.testing.assert_close(lap.double(), expected_lap, atol=1e-3, rtol=0)


def test_gradient_and_laplacian_on_image_fields():
    for kind in ("none", "pe", "siren"):
        model = ImageField(ImageFieldConfig(kind=kind, width=16, num_layers=2, pe_num_frequencies=3), 3)
        grad_norm, lap = gradient_and_laplacian(model, 6, 5, chunk=4)
        assert grad_norm.shape == lap.shape == (6, 5)
        assert torch.isfinite(grad_norm).all() and torch.isfinite(lap).all()
        assert all(p.grad is None for p in model.parameters())
        torch.testing.assert_close((grad_norm, lap), gradient_and_laplacian(model, 6, 5))
        if kind == "none":  # piecewise linear in (x, y): no curvature
            assert float(lap.abs().max()) < 1e-6
        else:
            assert float(lap.abs().max()) > 1e-4


def test_finite_difference_derivatives_quadratic():
    H, W = 8, 10
    g = pixel_grid(H, W)
    x, y = g[..., 0], g[..., 1]
    image = torch.stack([x**2 + 0.5 * y**2, x**2 + 0.5 * y**2], dim=-1)
    grad_norm, lap = finite_difference_derivatives(image)
    assert grad_norm.shape == lap.shape == (H, W)
    inner = (slice(1, -1), slice(1, -1))  # central differences are exact for quadratics
    np.testing.assert_allclose(grad_norm[inner], np.hypot(2 * x, y).numpy()[inner], atol=1e-5)
    np.testing.assert_allclose(lap[inner], 3.0, atol=1e-4)


# --------------------------------------------------------------------------
# The vnp-image command line
# --------------------------------------------------------------------------

TINY = ["--steps", "4", "--width", "8", "--num-layers", "2", "--pe-num-frequencies", "2", "--fourier-num-features", "4", "--eval-every", "2"]


@pytest.fixture()
def tiny_png(tmp_path):
    rng = np.random.RandomState(0)
    path = tmp_path / "tiny.png"
    Image.fromarray((rng.rand(16, 16, 3) * 255).astype(np.uint8)).save(path)
    return path


def test_cli_fit_render_compare(tiny_png, tmp_path):
    fit_dir = tmp_path / "fit"
    image_main(["fit", str(tiny_png), "--kind", "fourier", "--output", str(fit_dir), *TINY])
    for name in ("reconstruction.png", "metrics.json", "model.pt", "config.json"):
        assert (fit_dir / name).is_file(), name
    metrics = json.loads((fit_dir / "metrics.json").read_text())
    assert metrics["kind"] == "fourier" and math.isfinite(metrics["psnr"]) and metrics["num_parameters"] > 0
    assert json.loads((fit_dir / "config.json").read_text())["config"]["fourier_num_features"] == 4
    assert Image.open(fit_dir / "reconstruction.png").size == (16, 16)

    out_png = tmp_path / "big.png"
    image_main(["render", str(fit_dir), "--height", "20", "--width", "24", "--output", str(out_png)])
    assert Image.open(out_png).size == (24, 20)

    cmp_dir = tmp_path / "cmp"
    image_main(["compare", str(tiny_png), "--output", str(cmp_dir), "--holdout", *TINY])
    for name in ("comparison.png", "psnr_curves.png", "speed_and_size.png", "metrics.json", "siren_gradient.png", "siren_laplacian.png", "siren_derivatives.png"):
        assert (cmp_dir / name).is_file(), name
    results = json.loads((cmp_dir / "metrics.json").read_text())["results"]
    assert list(results) == ["none", "pe", "fourier", "siren", "hash"]
    for kind, m in results.items():
        assert (cmp_dir / f"reconstruction_{kind}.png").is_file()
        assert {"psnr", "ssim", "seconds", "num_parameters"} <= set(m)


def _run_cli(args, cwd):
    env = dict(os.environ, PYTHONWARNINGS="ignore", CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, "-m", "vanilla_nerf_pe.cli.image", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("kind", ["missing", "not_image", "empty"])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, kind):
    path = tmp_path / "input.png"
    if kind == "not_image":
        path.write_text("definitely not a PNG\n")
    elif kind == "empty":
        path.write_bytes(b"")
    proc = _run_cli(["fit", str(path), "--steps", "1"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "input.png" in lines[0] and lines[0].startswith("vnp-image: error:")


def test_positional_encoding_base_frequency_closed_form():
    x = torch.tensor([[0.3, -1.2]])
    out = positional_encoding(x, 2, include_input=True, base_frequency=1.0)
    a, b = 0.3, -1.2
    expected = [a, b, math.sin(a), math.sin(b), math.sin(2 * a), math.sin(2 * b),
                math.cos(a), math.cos(b), math.cos(2 * a), math.cos(2 * b)]
    assert torch.allclose(out[0], torch.tensor(expected), atol=1e-6)
    assert torch.allclose(positional_encoding(x, 3, False), positional_encoding(x * math.pi, 3, False, base_frequency=1.0), atol=1e-5)


def test_compression_report_sizes_and_matched_jpeg():
    image = default_image("astronaut", 32)
    result = fit(image, ImageFieldConfig(kind="fourier", num_layers=2, width=16, fourier_num_features=16, steps=30, lr=1e-2), eval_every=30)
    report = compression_report(result.model, image)
    numbers = sum(t.numel() for t in result.model.state_dict().values())
    assert report["model_numbers"] == numbers
    assert report["model_bytes_float32"] == 4 * numbers and report["model_bytes_float16"] == 2 * numbers
    assert report["model_bpp_float32"] == pytest.approx(32 * numbers / (32 * 32))
    assert report["psnr"] == pytest.approx(result.final_psnr, abs=0.1)  # 8-bit quantisation only
    assert abs(report["psnr_float16"] - report["psnr"]) < 0.5
    assert report["raw_bytes"] == 32 * 32 * 3 and 0 < report["png_bytes"]
    # the smallest JPEG that is at least as good as the field
    assert report["jpeg_psnr"] >= report["psnr"] and 1 <= report["jpeg_quality"] <= 100
    import io as _io

    smaller = [q for q in range(1, 101) if q != report["jpeg_quality"]]
    for q in smaller:
        buffer = _io.BytesIO()
        Image.fromarray((image.numpy() * 255).round().astype(np.uint8)).save(buffer, format="JPEG", quality=q)
        decoded = np.asarray(Image.open(_io.BytesIO(buffer.getvalue())), dtype=np.float64) / 255
        mse = np.mean((decoded - (image.numpy() * 255).round() / 255) ** 2)
        if -10 * math.log10(mse) >= report["psnr"]:
            assert buffer.tell() >= report["jpeg_bytes"], q


def test_seed_experiment_configs_load_as_specified():
    one = load_experiment(CONFIGS / "relu-vs-pe-128.yaml")
    assert (one.size, one.kinds, one.field.num_layers, one.field.width) == (128, ("none", "pe"), 4, 256)
    assert (one.field.lr, one.field.steps, one.field.standardize, one.field.pe_num_frequencies, one.field.pe_include_input) == (1e-4, 8000, True, 10, False)
    two = load_experiment(CONFIGS / "relu-vs-pe-pi2.yaml")
    assert (two.field.num_layers, two.field.lr, two.field.steps, two.field.pe_num_frequencies, two.field.pe_include_input) == (5, 1e-3, 2000, 5, True)
    assert two.field.coord_scale == pytest.approx(math.pi / 2) and two.field.pe_base_frequency == 1.0
    three = load_experiment(CONFIGS / "siren-camera-256.yaml")
    assert (three.default, three.size, three.field.siren_first_omega_0, three.field.lr, three.field.width) == ("camera", 256, 30.0, 1e-4, 256)
    assert "siren" in three.kinds and three.output == Path("outputs/image/siren-camera-256")
    for path in sorted(CONFIGS.glob("*.yaml")):  # every seed experiment loads and passes the checks of its kinds
        command = load_experiment(path)
        for kind in command.kinds:
            ImageFieldConfig(**{**vars(command.field), "kind": kind}).check()


def test_cli_experiment_runs_a_yaml_and_rejects_unknown_keys(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "description: tiny\nsize: 16\nkinds: [none, pe]\neval_every: 2\n"
        "field: {steps: 3, width: 8, num_layers: 2, pe_num_frequencies: 3, pe_base_frequency: 1.0, coord_scale: 1.5}\n"
    )
    out = tmp_path / "out"
    image_main(["experiment", str(config), "--output", str(out)])
    results = json.loads((out / "metrics.json").read_text())["results"]
    assert list(results) == ["none", "pe"]
    assert results["pe"]["config"]["pe_base_frequency"] == 1.0 and results["pe"]["config"]["steps"] == 3
    assert results["pe"]["compression"]["model_bytes_float32"] > 0
    for name in ("comparison.png", "psnr_curves.png", "reconstruction_none.png", "reconstruction_pe.png"):
        assert (out / name).is_file(), name

    config.write_text("size: 16\nfield: {stepz: 3}\n")
    proc = _run_cli(["experiment", str(config)], tmp_path)
    assert proc.returncode == 2 and "stepz" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    # A key of the old names is refused with its new name.
    config.write_text("size: 16\nfield: {num_frequencies: 3}\n")
    with pytest.raises(InputError, match="num_frequencies -> pe_num_frequencies"):
        load_experiment(config)



def _one_line_exit_2(argv, capsys) -> str:
    """Run vnp-image in-process; assert exit status 2 and one stderr line; return that line."""
    with pytest.raises(SystemExit) as info:
        image_main(argv)
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and err.startswith("vnp-image: error:"), err
    return err


def test_cli_bad_numbers_and_unwritable_output_exit_2(tmp_path, capsys):
    assert "--pe-num-frequencies" in _one_line_exit_2(["fit", "--pe-num-frequencies", "-1", "--steps", "1"], capsys)
    assert "--steps" in _one_line_exit_2(["compare", "--steps", "-1"], capsys)
    assert "--size" in _one_line_exit_2(["fit", "--size", "0"], capsys)
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    assert str(a_file) in _one_line_exit_2(["fit", "--size", "4", "--output", str(a_file / "out"), *TINY], capsys)
    assert str(a_file) in _one_line_exit_2(["compare", "--size", "4", "--output", str(a_file), *TINY], capsys)
    assert "not a saved model directory" in _one_line_exit_2(["render", str(tmp_path)], capsys)
    assert a_file.read_text() == "not a directory"


@pytest.mark.parametrize("kind", ["fourier", "siren"])
def test_render_loads_a_model_dir_written_before_the_shared_network(tmp_path, kind):
    """A `vnp-image fit --output` directory of the old format: option names representation,
    num_frequencies, ..., state-dict keys encoding.* and network.* (the MLP or SIREN)."""
    old_config = {
        "representation": kind, "num_frequencies": 2, "include_input": False, "pe_base_frequency": math.pi,
        "fourier_sigma": 2.0, "fourier_features": 4, "omega_0": 20.0, "num_layers": 2, "width": 8,
        "lr": 1e-3, "steps": 1, "batch_pixels": None, "seed": 5, "standardize": True, "coord_scale": 1.0,
    }
    torch.manual_seed(1)
    if kind == "fourier":
        # B from a seed no config names: the render is right only if B comes from model.pt.
        encoding = GaussianFourierFeatures(2, num_features=4, sigma=2.0, seed=99)
        network = MLP(encoding.get_out_dim(), 2, 8, out_dim=3)
    else:
        encoding = torch.nn.Identity()  # the old SIREN field had no encoding module
        network = Siren(2, 2, 8, out_dim=3, first_omega_0=20.0)
    mean, std = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.2, 0.1, 0.3])
    state = {f"network.{k}": v for k, v in network.state_dict().items()}
    state.update({f"encoding.{k}": v for k, v in encoding.state_dict().items()})
    state.update(mean=mean, std=std)
    model_dir = tmp_path / "old_fit"
    model_dir.mkdir()
    torch.save(state, model_dir / "model.pt")
    saved = {"format": "vanilla_nerf_pe.image_field", "config": old_config, "channels": 3, "height": 6, "width": 5}
    (model_dir / "config.json").write_text(json.dumps(saved))

    image_main(["render", str(model_dir)])
    rendered = np.asarray(Image.open(model_dir / "render_6x5.png"))
    with torch.no_grad():
        expected = network(encoding(pixel_grid(6, 5))) * std + mean
    np.testing.assert_array_equal(rendered, to_uint8(expected))

    model, _ = load_field(model_dir)
    config = model.config
    assert (config.kind, config.pe_num_frequencies, config.fourier_num_features, config.siren_first_omega_0) == (kind, 2, 4, 20.0)
    assert config.fourier_seed == 5  # the old field drew B from seed
