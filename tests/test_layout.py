"""The package's layout: a framework-free core that neither nerfstudio nor the other subpackages
reach into, a nerfstudio method, and the 2D image lab, the codec, the demo scenes and their
command line, which share the core; no import cycle anywhere, no module too long to read."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vanilla_nerf_pe"
FRAMEWORKS = ("nerfstudio", "vanilla_nerf_pe.nerf", "viser", "nerfacc")
FORBIDDEN = {
    "core": FRAMEWORKS + ("vanilla_nerf_pe.image", "vanilla_nerf_pe.codec", "vanilla_nerf_pe.scenes", "vanilla_nerf_pe.cli", "tyro"),
    "image": FRAMEWORKS + ("vanilla_nerf_pe.codec", "vanilla_nerf_pe.cli"),
    "codec": FRAMEWORKS + ("vanilla_nerf_pe.cli",),
    "scenes": FRAMEWORKS + ("vanilla_nerf_pe.image", "vanilla_nerf_pe.codec", "vanilla_nerf_pe.cli"),
    "cli": FRAMEWORKS,
}
#: The folders that must import without nerfstudio.
FRAMEWORK_FREE = ("core", "image", "codec", "scenes", "cli")
MAX_MODULE_LINES = 450


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
    assert len(files) > 2
    offending = {
        f"{path.name}: {name}"
        for path in files
        for name in imported_modules(path)
        if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN[subpackage])
    }
    assert not offending, offending


def test_importing_the_core_and_the_lab_loads_no_nerfstudio():
    modules = [f"vanilla_nerf_pe.{sub}.{p.stem}" for sub in FRAMEWORK_FREE for p in sorted((PACKAGE / sub).glob("*.py"))]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print(sorted(m for m in sys.modules if m.split('.')[0] in ('nerfstudio', 'viser', 'nerfacc')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"


def test_the_checker_sees_a_forbidden_import(tmp_path):
    """The static check above can fail: an import inside a function is found too."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from nerfstudio.cameras.rays import RayBundle\n    return RayBundle\n")
    assert "nerfstudio.cameras.rays" in imported_modules(bad)


# --------------------------------------------------------------------------
# Import cycles
# --------------------------------------------------------------------------


def module_name(root: Path, path: Path) -> str:
    """``vanilla_nerf_pe.a.b`` of ``root/a/b.py`` (``vanilla_nerf_pe.a`` of ``root/a/__init__.py``)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> Dict[str, Set[str]]:
    """Module -> the package's modules it imports (at any depth of the file). ``from P import x``
    is the module ``P.x`` when that is a module of the package, else ``P``; relative imports are
    resolved against the importing module."""
    files = {module_name(root, path): path for path in sorted(root.rglob("*.py"))}
    graph: Dict[str, Set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: List[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            for target in targets:
                while target and target not in files:  # a.b.c where only a.b is a module: the attribute of a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def import_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycle_in_the_package():
    graph = import_graph(PACKAGE)
    assert "vanilla_nerf_pe.scenes.shapes" in graph["vanilla_nerf_pe.scenes.capture"]  # the graph sees the imports
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path):
    root = tmp_path / "vanilla_nerf_pe"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "a.py").write_text("from vanilla_nerf_pe.sub.b import thing\n")
    (root / "sub" / "b.py").write_text("def f():\n    from . import c\n")
    (root / "sub" / "c.py").write_text("import vanilla_nerf_pe.sub.a\n")
    (root / "sub" / "d.py").write_text("from vanilla_nerf_pe.sub import a\n")
    graph = import_graph(root)
    assert graph["vanilla_nerf_pe.sub.d"] == {"vanilla_nerf_pe.sub.a"}
    assert import_cycles(graph) == [["vanilla_nerf_pe.sub.a", "vanilla_nerf_pe.sub.b", "vanilla_nerf_pe.sub.c"]]


def test_no_module_is_too_long():
    long = {str(path.relative_to(PACKAGE)): n for path in PACKAGE.rglob("*.py") if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, long
