"""The package's error convention, checked over its source: every deliberate error derives from
:class:`vanilla_nerf_pe.core.errors.VanillaNeRFError`, and no user-facing check is an ``assert``
(Python drops them under ``-O``)."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vanilla_nerf_pe"
BUILTIN_ERRORS = {name for name in dir(builtins) if name.endswith("Error")} - {"NotImplementedError"} | {"Exception"}
"""NotImplementedError stays: it marks the methods of an interface (nn.Module.forward's convention)."""


def raised_builtins_and_asserts(path: Path) -> list:
    """``file:line`` of every ``raise`` of a built-in exception class and every ``assert`` in the file
    (a bare ``raise`` and ``raise ... from`` of our own classes are fine)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assert):
            found.append(f"{path.name}:{node.lineno}: assert")
        elif isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id in BUILTIN_ERRORS:
                found.append(f"{path.name}:{node.lineno}: raise {exc.id}")
    return sorted(found, key=lambda item: int(item.split(":")[1]))


def test_every_deliberate_error_is_the_packages_and_no_check_is_an_assert():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 30
    offending = [item for path in files for item in raised_builtins_and_asserts(path)]
    assert not offending, offending


def test_the_checker_sees_builtin_raises_and_asserts(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    assert x\n    if x:\n        raise ValueError('x')\n    raise RuntimeError\n")
    assert raised_builtins_and_asserts(bad) == ["bad.py:2: assert", "bad.py:4: raise ValueError", "bad.py:5: raise RuntimeError"]
