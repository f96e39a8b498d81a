"""The packages form layers (docs/ARCHITECTURE.md, "Layers"): each imports only from itself
and the layers below it. Two walks: every import statement of every module (also the ones
inside functions), read with ``ast``; and every module actually imported in a fresh
interpreter, which then holds none of the layers above."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: bottom to top; a package may import the ones before it
LAYERS = ("mechanics", "integrators", "optimizers", "gans", "gamemech")
SCRIPTS = ("examples", "benchmarks")       # on top of everything; nothing imports them
LOW_LEVEL = "mechanics/utils"              # imports nothing of this repository


def imported_modules(path: Path):
    """``(line, absolute module name)`` of every import in ``path`` (relative ones resolved)."""
    package = ".".join(path.relative_to(ROOT).parent.parts)   # what ``from .`` names
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                yield node.lineno, ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.lineno, node.module


def violations(folder: str, allowed) -> list:
    own = set(LAYERS + SCRIPTS)
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, mod in sorted(imported_modules(path)):
            top = mod.split(".")[0]
            if top in own and top not in allowed:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    return out


@pytest.mark.parametrize("k", range(len(LAYERS)), ids=LAYERS)
def test_a_layer_imports_only_itself_and_the_layers_below(k):
    assert violations(LAYERS[k], set(LAYERS[:k + 1])) == []


def test_the_low_level_modules_import_nothing_of_this_repository():
    bad = [f"{p.relative_to(ROOT)} imports {m}" for p in sorted((ROOT / LOW_LEVEL).rglob("*.py"))
           for _, m in imported_modules(p)
           if m.split(".")[0] in LAYERS + SCRIPTS and not m.startswith("mechanics.utils")]
    assert bad == []


def test_the_walk_sees_relative_and_function_level_imports(tmp_path, monkeypatch):
    """The checker itself: an upward import inside a function, or a relative one that
    leaves the package, is found."""
    pkg = tmp_path / "optimizers"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_text("def f():\n    from gamemech.cli import common\n"
                              "from ..gans import train\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert violations("optimizers", {"mechanics", "integrators", "optimizers"}) == [
        "optimizers/m.py:2 imports gamemech.cli", "optimizers/m.py:3 imports gans"]


def test_importing_every_library_module_loads_no_layer_above():
    """In a fresh interpreter, import every module of mechanics/, integrators/,
    optimizers/ and gans/; none of gamemech, examples, benchmarks may be loaded."""
    code = f"""
import importlib, json, pkgutil, sys
sys.path.insert(0, {str(ROOT)!r})
for top in ("mechanics", "integrators", "optimizers", "gans"):
    pkg = importlib.import_module(top)
    for m in pkgutil.walk_packages(pkg.__path__, top + "."):
        importlib.import_module(m.name)
print(json.dumps(sorted(n for n in sys.modules
                        if n.split(".")[0] in ("gamemech", "examples", "benchmarks"))))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
