"""The top-level names ``mechanics``, ``integrators`` and ``optimizers`` are also the names
of unrelated distributions on the package index. Installed into the same environment, one
of those overwrites (or, earlier on ``sys.path``, shadows) a package of game-mechanics.
:func:`check_top_level_names` runs when :mod:`mechanics` is imported and turns that into
one clear ``ImportError`` instead of a failure deep inside a run (docs/ARCHITECTURE.md,
"Names").

Each of game-mechanics' packages marks its ``__init__.py`` with :data:`MARKER`; the check
finds each name's package (``importlib.util.find_spec``, importing nothing) and reads its
``__init__.py`` for the marker.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Dict, Optional

DISTRIBUTION = "game-mechanics"
#: the top-level packages whose names other distributions use too
SHARED_NAMES = ("mechanics", "integrators", "optimizers")
#: the line in each package's ``__init__.py`` that says it is game-mechanics'
MARKER = f'__distribution__ = "{DISTRIBUTION}"'


class NameClashError(ImportError):
    """A top-level name of game-mechanics resolves to another distribution's package."""


def _origin(name: str) -> Optional[str]:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return None if spec is None else spec.origin


def foreign_packages() -> Dict[str, Optional[str]]:
    """``{name: path}`` for each shared name that is not game-mechanics' package (path
    ``None``: the name is not importable at all)."""
    out = {}
    for name in SHARED_NAMES:
        origin = _origin(name)
        try:
            ours = origin is not None and MARKER in Path(origin).read_text(errors="replace")
        except OSError:
            ours = False
        if not ours:
            out[name] = origin
    return out


def clash_message(found: Dict[str, Optional[str]]) -> str:
    what = "; ".join(f"'{n}' is {'missing' if p is None else p}" for n, p in found.items())
    return (f"{DISTRIBUTION} needs its own top-level packages mechanics, integrators and "
            f"optimizers, but {what}: a distribution with the same name is installed over or "
            f"in front of it (`pip show {' '.join(found)}` names it). Install "
            f"{DISTRIBUTION} in a virtual environment of its own, or uninstall the other "
            f"distribution and reinstall {DISTRIBUTION}; see 'Names' in docs/ARCHITECTURE.md.")


def check_top_level_names() -> None:
    """Raise :class:`NameClashError` when a shared name is not game-mechanics' package."""
    found = foreign_packages()
    if found:
        raise NameClashError(clash_message(found))
