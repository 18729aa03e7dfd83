"""The vnp-scene command (vanilla_nerf_pe.cli.scene): it writes the scenes, and bad input is one line, exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from vanilla_nerf_pe.cli.scene import main

REPO_ROOT = Path(__file__).resolve().parents[2]

def _frames(scene_dir: Path, split: str) -> list:
    return json.loads((scene_dir / f"transforms_{split}.json").read_text())["frames"]



def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vanilla_nerf_pe.cli.scene", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_scene(tmp_path: Path):
    out = tmp_path / "out"
    res = _run_cli(str(out), "--resolution", "16", "--num-train", "3", "--num-val", "1", "--num-test", "1")
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.strip().splitlines()) == 1 and str(out) in res.stdout
    assert len(_frames(out, "train")) == 3 and len(_frames(out, "val")) == 1 and len(_frames(out, "test")) == 1
    assert Image.open(out / "train" / "r_2.png").size == (16, 16)


def test_cli_rejects_file_as_out_dir(tmp_path: Path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    res = _run_cli(str(a_file), "--resolution", "8", "--num-train", "1")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith("vnp-scene: error:") and str(a_file) in res.stderr
    assert a_file.read_text() == "not a directory"


@pytest.mark.parametrize("blocked", ["parent_is_a_file", "split_dir_is_a_file"])
def test_cli_os_error_while_writing_exits_2_naming_the_path(tmp_path: Path, capsys, blocked):
    """An OSError while writing (here ENOTDIR / EEXIST) is bad input: status 2, one line, the path named."""
    if blocked == "parent_is_a_file":
        (tmp_path / "a_file").write_text("not a directory")
        out_dir, named = tmp_path / "a_file" / "out", tmp_path / "a_file" / "out"
    else:
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        (out_dir / "train").write_text("not a directory")
        named = out_dir / "train"
    with pytest.raises(SystemExit) as excinfo:
        main([str(out_dir), "--resolution", "4", "--num-train", "1", "--num-val", "0", "--num-test", "0"])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("vnp-scene: error:") and str(named) in err, err


@pytest.mark.parametrize(
    "args",
    [
        ["--resolution", "0"],
        ["--num-train", "0"],
        ["--num-val", "-1"],
        ["--num-test", "-2"],
        ["--supersample", "0"],
    ],
)
def test_cli_rejects_bad_numbers(tmp_path: Path, capsys, args):
    with pytest.raises(SystemExit) as excinfo:
        main([str(tmp_path / "out"), *args])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and err.startswith("vnp-scene: error:")
    assert not (tmp_path / "out").exists()
