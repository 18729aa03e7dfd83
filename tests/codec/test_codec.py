"""The .vnpi file format: quantisation, entropy coding, header, round trip, corrupt files, the CLI."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.image_io import save_image
from vanilla_nerf_pe.codec import container, rate
from vanilla_nerf_pe.codec.compress import CompressConfig, compress_image, compress_to_psnr, quantization_aware_finetune
from vanilla_nerf_pe.codec.container import FORMAT_VERSION, MAGIC, decode_field, decode_image, encode_field, storable_config
from vanilla_nerf_pe.codec.entropy import CODERS
from vanilla_nerf_pe.codec.quantize import dequantize, fake_quantize, quantization_step, quantize
from vanilla_nerf_pe.codec.rate import architecture_for_rate, next_rate, siren_parameter_count
from vanilla_nerf_pe.image.field import ImageField, ImageFieldConfig, default_image
from vanilla_nerf_pe.image.fit import fit, render


pytestmark = pytest.mark.usefixtures("single_thread")


def small_field(kind="siren", channels=3, **options) -> ImageField:
    config = storable_config(
        ImageFieldConfig(kind=kind, num_layers=3, width=12, pe_num_frequencies=4, fourier_num_features=8, hash_num_levels=3,
                         hash_log2_table_size=6, hash_base_resolution=4, hash_max_resolution=16, **options)
    )
    return ImageField(config, channels)


# --------------------------------------------------------------------------
# Quantisation
# --------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2, 4, 8, 12, 16])
def test_quantisation_error_is_bounded_by_half_a_step(bits):
    generator = torch.Generator().manual_seed(bits)
    weights = torch.randn(2000, generator=generator) * 0.3
    weights[7] = 5.0  # an outlier sets the range: nothing may be clamped
    step = quantization_step(weights, bits)
    assert float(np.float16(step)) == step  # the file stores it in 16 bits
    assert step * (2 ** (bits - 1) - 1) >= float(weights.abs().max())
    symbols = quantize(weights, step, bits)
    assert int(symbols.abs().max()) <= 2 ** (bits - 1) - 1
    error = (dequantize(symbols, step) - weights).abs().max()
    assert float(error) <= step / 2 * (1 + 1e-6)
    assert quantization_step(torch.zeros(5), bits) == 1.0


def test_fake_quantize_is_quantised_forward_and_identity_backward():
    w = torch.randn(50, requires_grad=True)
    out = fake_quantize(w, 4)
    step = quantization_step(w, 4)
    torch.testing.assert_close(out.detach(), dequantize(quantize(w, step, 4), step), rtol=0, atol=1e-7)
    (out * torch.arange(50.0)).sum().backward()
    torch.testing.assert_close(w.grad, torch.arange(50.0))


def test_quantisation_aware_finetuning_lowers_the_quantised_error():
    image = default_image("astronaut", 16)
    result = fit(image, storable_config(ImageFieldConfig(kind="siren", num_layers=2, width=24, steps=150, lr=1e-3)), eval_every=150)
    model = result.model

    def quantised_mse(m):
        field, _ = decode_field(encode_field(m, 16, 16, 4, "raw").data)
        return float(((render(field, 16, 16) - image) ** 2).mean())

    before = quantised_mse(model)
    quantization_aware_finetune(model, image, bits=4, steps=60, lr=1e-4)
    assert quantised_mse(model) < 0.8 * before


# --------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize("kind", ["siren", "pe", "fourier", "none", "hash"])
def test_round_trip_gives_bit_exact_weights(kind, coder):
    model = small_field(kind)
    encoded = encode_field(model, 20, 30, 8, coder, bias_bits=12)
    decoded, read = decode_field(encoded.data)
    for (name, original), (_, restored), step in zip(container.network_parameters(model), container.network_parameters(decoded), encoded.steps):
        bits = 12 if name.endswith("bias") else 8
        assert step == quantization_step(original, bits)
        expected = dequantize(quantize(original, step, bits), step)
        assert torch.equal(restored.detach(), expected), name
    assert all(np.array_equal(a, b) for a, b in zip(read.symbols, encoded.symbols))
    if kind == "fourier":
        assert torch.equal(decoded.network.encoding.B, model.network.encoding.B)  # drawn again from the seed
    assert np.array_equal(decode_image(encoded.data), decode_image(encoded.data))


def test_standardised_mean_and_std_are_stored():
    model = small_field("pe")
    with torch.no_grad():
        model.mean.copy_(torch.tensor([0.1, 0.2, 0.3]))
        model.std.copy_(torch.tensor([0.5, 0.25, 2.0]))
    decoded, _ = decode_field(encode_field(model, 8, 8, 8).data)
    assert torch.equal(decoded.mean, model.mean) and torch.equal(decoded.std, model.std)


def test_header_fields():
    model = small_field("siren", channels=1, siren_first_omega_0=20.0, coord_scale=1.5)
    encoded = encode_field(model, 300, 70, 6, "lzma", bias_bits=11)
    data = encoded.data
    assert data[:4] == MAGIC and data[4] == FORMAT_VERSION
    assert data[5] == CODERS.index("lzma")
    assert struct.unpack_from("<HHBBB", data, 6) == (300, 70, 1, 6, 11)
    _, read = decode_field(data)
    assert (read.height, read.width, read.channels, read.bits, read.bias_bits, read.coder) == (300, 70, 1, 6, 11, "lzma")
    config = read.config
    assert (config.kind, config.num_layers, config.width) == ("siren", 3, 12)
    assert (config.siren_first_omega_0, config.coord_scale) == (20.0, 1.5)
    payload_length, checksum = struct.unpack_from("<II", data, encoded.header_bytes - 8)
    assert encoded.header_bytes + payload_length == len(data)
    import zlib

    assert zlib.crc32(data[encoded.header_bytes :], zlib.crc32(data[: encoded.header_bytes - 4])) == checksum


def test_storable_config_rounds_floats_like_the_file():
    config = storable_config(ImageFieldConfig(kind="pe", pe_base_frequency=np.pi, lr=0.123, steps=7))
    assert config.pe_base_frequency == float(np.float32(np.pi)) and config.lr == 0.123 and config.steps == 7
    with pytest.raises(InputError):
        encode_field(small_field(), 70000, 5, 8)


def test_corrupt_truncated_and_foreign_files_are_one_line_errors():
    data = encode_field(small_field(), 16, 16, 8, "ans").data
    for cut in range(0, len(data), 7):
        with pytest.raises(InputError, match="truncated|magic"):
            decode_field(data[:cut])
    for position in (len(data) - 1, len(data) // 2, 13):
        flipped = bytearray(data)
        flipped[position] ^= 0x40
        with pytest.raises(InputError) as error:
            decode_field(bytes(flipped))
        assert "\n" not in str(error.value)
    with pytest.raises(InputError, match="version"):
        decode_field(data[:4] + bytes([FORMAT_VERSION + 1]) + data[5:])
    with pytest.raises(InputError, match="magic"):
        decode_field(b"\x89PNG\r\n\x1a\n" + data[8:])
    with pytest.raises(InputError, match="after the payload"):
        decode_field(data + b"\x00")


def test_bpp_accounting_matches_the_file_size(tmp_path):
    image = default_image("astronaut", 24)
    result = compress_image(image, CompressConfig(bpp=4.0, steps=20, qat_steps=5))
    encoded = result.encoded
    assert encoded.bpp == 8 * len(encoded.data) / (24 * 24)
    assert result.coder_bytes[encoded.coder] == len(encoded.data) == min(result.coder_bytes.values())
    # The rate model sized the network: parameters times the bits per weight and the header make the budget.
    count = siren_parameter_count(encoded.config.num_layers, encoded.config.width, 3)
    assert count == sum(q.size for q in encoded.symbols)
    assert encoded.header_bytes == container.header_bytes(len(encoded.symbols))
    names = [name for name, _ in container.network_parameters(decode_field(encoded.data)[0])]
    # Biases and the SIREN's first weight matrix at 12 bits, the other weights at 8; the file says so.
    assert encoded.tensor_bits == container.tensor_bits(names, 8, 12, 12) == decode_field(encoded.data)[1].tensor_bits
    assert encoded.tensor_bits[0] == 12 and names[0].endswith("layers.0.linear.weight") and encoded.tensor_bits[2] == 8
    symbol_bits = sum(q.size * k for q, k in zip(encoded.symbols, encoded.tensor_bits))
    raw_payload_bits = 8 * (result.coder_bytes["raw"] - encoded.header_bytes)
    assert symbol_bits <= raw_payload_bits < symbol_bits + 8


def test_architecture_for_rate_follows_the_budget():
    for bpp in (0.1, 0.3, 1.0):
        depth, width = architecture_for_rate(256, 256, 3, bpp, 7.0)
        budget = (bpp * 256 * 256 - 8 * container.header_bytes(2 * (depth + 1))) / 7.0
        assert siren_parameter_count(depth, width, 3) <= budget < siren_parameter_count(depth, width + 1, 3)
        assert siren_parameter_count(depth, width, 3) == ImageField(ImageFieldConfig(kind="siren", num_layers=depth, width=width), 3).num_parameters()
    assert architecture_for_rate(256, 256, 3, 0.1, 7.0)[0] <= architecture_for_rate(256, 256, 3, 1.0, 7.0)[0]


def test_next_rate_interpolates_in_log_rate_and_bounds_its_steps():
    # Bracketed: linear in log(bpp) between the closest tries on each side.
    assert next_rate([(0.1, 20.0), (0.4, 24.0)], 22.0) == pytest.approx(0.2)
    assert next_rate([(0.1, 20.0), (0.4, 24.0), (0.05, 17.0)], 23.0) == pytest.approx(0.1 * 4**0.75)
    # One try: DB_PER_RATE_DOUBLING; two on one side: their own slope; never more than a factor of 4.
    assert next_rate([(0.2, 22.0)], 22.0 + rate.DB_PER_RATE_DOUBLING) == pytest.approx(0.4)
    assert next_rate([(0.2, 22.0), (0.1, 19.0)], 25.0) == pytest.approx(0.4)
    assert next_rate([(0.2, 10.0)], 40.0) == pytest.approx(0.8)
    assert next_rate([(0.2, 40.0)], 10.0) == pytest.approx(0.05)


def synthetic_compress(curve):
    """A stand-in for compress_image: the file of the network architecture_for_rate sizes, at the
    PSNR ``curve(bpp)`` of its real rate (7.5 bits per weight and a 133-byte header)."""
    calls = []

    def compress(image, config):
        H, W, C = image.shape
        depth, width = architecture_for_rate(H, W, C, config.bpp, config.expected_bits_per_weight)
        size = 133 + math.ceil(siren_parameter_count(depth, width, C) * 7.5 / 8)
        calls.append(config.bpp)
        return SimpleNamespace(encoded=SimpleNamespace(bpp=8 * size / (H * W), data=bytes(size)), psnr=curve(8 * size / (H * W)))

    return compress, calls


def test_psnr_search_finds_the_smallest_network_that_reaches_the_target():
    image = torch.zeros(256, 256, 3)
    curve = lambda bpp: 20.0 + 2.3 * math.log2(bpp / 0.1)  # noqa: E731
    compress, calls = synthetic_compress(curve)
    search = compress_to_psnr(image, CompressConfig(bpp=0.3, psnr_tries=5), 24.0, compress=compress)
    assert search.reached and len(calls) <= 5 and len(search.tries) == len(calls)
    assert 24.0 <= search.best.psnr < 24.5
    # Brute force over every width at the depth it chose: no smaller file reaches 24 dB.
    depth, width = architecture_for_rate(256, 256, 3, calls[-1], 7.5)
    smaller = 133 + math.ceil(siren_parameter_count(depth, width - 1, 3) * 7.5 / 8)
    assert len(search.best.encoded.data) <= smaller or curve(8 * smaller / 256**2) < 24.0
    # Out of reach: every try is spent, the best file is kept and the search says so.
    compress, calls = synthetic_compress(lambda bpp: min(30.0, curve(bpp)))
    search = compress_to_psnr(image, CompressConfig(bpp=0.3, psnr_tries=3), 40.0, compress=compress)
    assert not search.reached and len(calls) == 3 and search.best.psnr == 30.0
    assert calls == sorted(calls)
    with pytest.raises(InputError, match="--num-layers"):
        compress_to_psnr(image, CompressConfig(width=20), 24.0, compress=compress)


# --------------------------------------------------------------------------
# The CLI
# --------------------------------------------------------------------------


def run_image_cli(*args):
    return subprocess.run([sys.executable, "-m", "vanilla_nerf_pe.cli.image", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_compress_then_decompress_round_trips_on_the_cli(tmp_path):
    source = save_image(default_image("camera", 16), tmp_path / "camera.png")
    out = tmp_path / "camera.vnpi"
    done = run_image_cli("compress", source, out, "--bpp", "6", "--steps", "30", "--qat-steps", "5", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert f"{out.stat().st_size} B" in done.stdout and f"{8 * out.stat().st_size / 256:.3f} bpp" in done.stdout
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for png in (first, second):
        done = run_image_cli("decompress", out, png)
        assert done.returncode == 0, done.stderr
    assert first.read_bytes() == second.read_bytes()
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(first)), decode_image(out.read_bytes())[..., 0])

    truncated = tmp_path / "truncated.vnpi"
    truncated.write_bytes(out.read_bytes()[:-3])
    for bad, message in ((truncated, "truncated"), (source, "not a vnp-image compressed file"), (tmp_path / "missing.vnpi", "cannot read")):
        done = run_image_cli("decompress", bad, tmp_path / "x.png")
        assert done.returncode == 2 and message in done.stderr
        assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    done = run_image_cli("compress", source, out, "--bits", "1")
    assert done.returncode == 2 and "--bits" in done.stderr


def test_compress_to_a_psnr_on_the_cli(tmp_path):
    source = save_image(default_image("camera", 16), tmp_path / "camera.png")
    out = tmp_path / "camera.vnpi"
    done = run_image_cli("compress", source, out, "--psnr", "99", "--psnr-tries", "2", "--bpp", "4", "--steps", "20",
                         "--qat-steps", "2", "--device", "cpu")
    # Out of reach: exit status 1, the best file of the two tries written and decodable.
    assert done.returncode == 1 and "below threshold" in done.stderr and "reached --psnr 99" in done.stderr
    tried = done.stdout.split("tried ")[1].splitlines()[0].split("; ")
    assert len(tried) == 2 and float(tried[1].split(" bpp")[0]) > float(tried[0].split(" bpp")[0])
    assert decode_image(out.read_bytes()).shape == (16, 16, 1)
    done = run_image_cli("compress", source, out, "--psnr", "30", "--width", "8")
    assert done.returncode == 2 and "--num-layers and --width" in done.stderr


def test_version_1_files_still_decode():
    """A version-1 file (no bits in the tensor entries) written by the 2026-11-27 benchmark: coffee,
    256x256, at 0.140 bpp; its decoded PSNR is the 22.72 dB that benchmark recorded."""
    from pathlib import Path

    from vanilla_nerf_pe.codec.rd import score
    from vanilla_nerf_pe.image.photographs import shipped_photographs

    data = (Path(__file__).resolve().parents[1] / "fixtures" / "coffee_v1.vnpi").read_bytes()
    assert data[4] == 1 and FORMAT_VERSION == 2
    model, encoded = decode_field(data)
    assert encoded.tensor_bits == [12 if name.endswith("bias") else 8 for name, _ in container.network_parameters(model)]
    decoded = decode_image(data)
    assert decoded.shape == (256, 256, 3)
    assert score(decoded, shipped_photographs(256)["coffee"])[0] == pytest.approx(22.7248, abs=0.01)
