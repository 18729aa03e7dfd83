"""The package's layout: a framework-free core that neither nerfstudio nor the other subpackages
reach into, a nerfstudio method and a 2D lab that share it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vanilla_nerf_pe"
FORBIDDEN = {
    "core": ("nerfstudio", "vanilla_nerf_pe.nerf", "vanilla_nerf_pe.lab", "viser", "nerfacc", "tyro"),
    "lab": ("nerfstudio", "vanilla_nerf_pe.nerf", "viser", "nerfacc"),
}


def imported_modules(path: Path) -> set:
    """Every module an ``import`` or ``from ... import`` in the file names (at any depth)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("subpackage", sorted(FORBIDDEN))
def test_subpackage_imports_no_framework(subpackage):
    files = sorted((PACKAGE / subpackage).glob("*.py"))
    assert len(files) > 3
    offending = {
        f"{path.name}: {name}"
        for path in files
        for name in imported_modules(path)
        if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN[subpackage])
    }
    assert not offending, offending


def test_importing_the_core_and_the_lab_loads_no_nerfstudio():
    modules = [f"vanilla_nerf_pe.{sub}.{p.stem}" for sub in ("core", "lab") for p in sorted((PACKAGE / sub).glob("*.py"))]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print(sorted(m for m in sys.modules if m.split('.')[0] in ('nerfstudio', 'viser', 'nerfacc')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"


def test_the_checker_sees_a_forbidden_import(tmp_path):
    """The static check above can fail: an import inside a function is found too."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from nerfstudio.cameras.rays import RayBundle\n    return RayBundle\n")
    assert "nerfstudio.cameras.rays" in imported_modules(bad)
