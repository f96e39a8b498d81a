"""The top-level names mechanics, integrators and optimizers are shared with unrelated
distributions on the package index (docs/ARCHITECTURE.md, "Names"): a package of that name
from elsewhere, in front of ours on the path, is refused at import with one clear error."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gamemech
import gans
import integrators
import mechanics
import optimizers
from mechanics.utils import names

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_carries_the_marker():
    for mod in (mechanics, integrators, optimizers):
        assert mod.__distribution__ == names.DISTRIBUTION
        assert names.MARKER in Path(mod.__file__).read_text()
    assert names.foreign_packages() == {}


def _import_with_impostor(tmp_path, impostor, target):
    """``import target`` with a foreign package ``impostor`` first on the path."""
    (tmp_path / impostor).mkdir()
    (tmp_path / impostor / "__init__.py").write_text('"""Some other project."""\nVERSION = 1\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    return subprocess.run([sys.executable, "-c", f"import {target}"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)


@pytest.mark.parametrize("impostor, target", [
    ("optimizers", "mechanics"), ("integrators", "gans.data"),
    ("mechanics", "optimizers"), ("mechanics", "gamemech.cli")])
def test_a_foreign_package_of_a_shared_name_is_refused_clearly(tmp_path, impostor, target):
    out = _import_with_impostor(tmp_path, impostor, target)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "ImportError" in last or "NameClashError" in last, out.stderr[-1500:]
    assert "'Names' in docs/ARCHITECTURE.md" in last
    assert str(tmp_path / impostor) in last


def test_the_message_names_the_packages():
    msg = names.clash_message({"optimizers": "/x/optimizers/__init__.py", "integrators": None})
    assert "'optimizers' is /x/optimizers/__init__.py" in msg and "'integrators' is missing" in msg
    assert "pip show optimizers integrators" in msg
