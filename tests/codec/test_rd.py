"""Rate-distortion curves: interpolation at a rate, the baselines, COIN's reference, the rd and table1 CLIs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vanilla_nerf_pe.codec.baselines import baseline_codecs
from vanilla_nerf_pe.codec.rd import COIN_KODAK, RatePoint, baseline_curve, coin_psnr_at, mean_at_rate, value_at_rate
from vanilla_nerf_pe.image.photographs import shipped_photographs


def point(bpp, psnr, image="a", codec="x"):
    return RatePoint(codec, image, "", bpp, psnr, psnr / 100, 0.0, 0.0)


def test_value_at_rate_interpolates_linearly_in_bpp():
    curve = [point(0.2, 20.0), point(0.4, 24.0), point(0.8, 26.0)]
    assert value_at_rate(curve, 0.3) == pytest.approx(22.0)
    assert value_at_rate(curve, 0.8) == pytest.approx(26.0)
    assert value_at_rate(curve, 0.1) is None and value_at_rate(curve, 0.9) is None
    assert value_at_rate(curve, 0.3, "ssim") == pytest.approx(0.22)
    both = curve + [point(0.1, 30.0, image="b"), point(0.5, 34.0, image="b")]
    assert mean_at_rate(both, 0.3) == pytest.approx((22.0 + 32.0) / 2)
    assert mean_at_rate(both, 0.7) is None  # image b's curve stops at 0.5


def test_coin_reference_is_the_published_curve():
    assert coin_psnr_at(0.3074) == pytest.approx(26.412125)
    assert coin_psnr_at(0.3) == pytest.approx(np.interp(0.3, *zip(*COIN_KODAK)))
    assert 26.0 < coin_psnr_at(0.3) < 26.41


def test_baselines_decode_what_they_encode():
    array = shipped_photographs(32)["chelsea"]
    assert array.shape == (32, 32, 3) and array.dtype == np.uint8
    for name in baseline_codecs():
        curve = baseline_curve(name, "chelsea", array)
        assert len(curve) >= 8 and [p.bpp for p in curve] == sorted(p.bpp for p in curve)
        assert curve[-1].psnr > curve[0].psnr and all(0 < p.ssim <= 1 for p in curve), name


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "vanilla_nerf_pe.cli.image", *map(str, args)], capture_output=True, text=True, timeout=600)


def test_rd_cli_writes_the_curves_and_reuses_our_files(tmp_path):
    out = tmp_path / "rd"
    args = ("rd", "astronaut", "--crop", "24", "--rates", "3", "4.5", "--steps", "10", "--qat-steps", "2", "--device", "cpu", "--output", out,
            "--kinds", "siren")
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    for name in ("rd.png", "rd_table.md", "rd.json", "ours/astronaut_3bpp.vnpi", "ours/astronaut_4.5bpp.vnpi", "ours/astronaut_4.5bpp.json"):
        assert (out / name).is_file(), name
    table = (out / "rd_table.md").read_text()
    assert "| ours |" in table and "| JPEG 4:2:0 |" in table and "COIN" in table
    points = json.loads((out / "rd.json").read_text())["points"]
    ours = [p for p in points if p["codec"] == "ours"]
    assert len(ours) == 2 and {p["codec"] for p in points} >= {"JPEG 4:4:4", "WebP", "JPEG 2000", "AVIF", "JPEG XL"}
    before = (out / "ours/astronaut_3bpp.vnpi").read_bytes()
    done = run_cli(*args)  # the second run decodes the files it finds instead of fitting again
    assert done.returncode == 0 and (out / "ours/astronaut_3bpp.vnpi").read_bytes() == before
    again = [p for p in json.loads((out / "rd.json").read_text())["points"] if p["codec"] == "ours"]
    assert [p["encode_seconds"] for p in again] == [p["encode_seconds"] for p in ours]
    done = run_cli("rd", "--rates", "-1", "--output", out)
    assert done.returncode == 2 and "--rates" in done.stderr


def test_table1_cli_on_a_named_photograph(tmp_path):
    done = run_cli("table1", "coffee", "--size", "8", "--steps", "2", "--width", "8", "--methods", "none", "pe", "--device", "cpu", "--output", tmp_path)
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "table1.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["none", "pe"] and rows[0]["image"] == "coffee"
    assert "24.95 dB" in (tmp_path / "table1.md").read_text()
    done = run_cli("table1", "--methods", "relu", "--output", tmp_path)
    assert done.returncode == 2 and "relu" in done.stderr


def test_published_kodak_curves_give_the_issues_values_at_0_3_bpp():
    from vanilla_nerf_pe.codec.rd import PUBLISHED_KODAK_CURVES, published_psnr_at, rd_table

    at = {name: published_psnr_at(curve, 0.3) for name, curve in PUBLISHED_KODAK_CURVES.items()}
    assert at == pytest.approx({"C3": 31.7, "Cool-chic": 30.0, "Cool-chic v2": 30.7}, abs=0.05)
    assert published_psnr_at(PUBLISHED_KODAK_CURVES["C3"], 5.0) is None
    rows = rd_table([point(0.2, 20.0, codec="ours-latent"), point(0.4, 24.0, codec="ours-latent")], 0.3)
    assert any(row.startswith("| ours-latent | 22.00") for row in rows) and any("C3 (published" in row for row in rows)
