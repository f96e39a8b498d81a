"""Argument parsing shared by the ``gamemech`` subcommands.

Every subcommand that takes a game uses :func:`add_game_arguments` and
:func:`game_from_args`; every one that takes forces uses :func:`add_force_arguments`
and :func:`forces_from_args`. Bad input raises :class:`CLIError`, which ``main``
turns into a one-line message on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from mechanics import GAMES, forces_from_names, make_game
from mechanics.utils.atomic import (WriteError, atomic_write_bytes,  # noqa: F401 (re-exported)
                                    unwritable_reason)
from mechanics.utils.figures import save_figure  # noqa: F401 (re-exported)
from mechanics.utils.memory import available_memory  # noqa: F401 (re-exported)


class CLIError(Exception):
    """A user error: printed as ``gamemech: error: ...`` with exit code 2."""




def _short(text, limit: int = 60) -> str:
    """``repr`` of user text, cut to ``limit`` characters (messages stay one short line)."""
    r = repr(text)
    return r if len(r) <= limit else r[:limit] + "..."


def _load_json(text: str, name: str):
    """``json.loads`` with every failure (syntax, nesting depth, digit limits) a CLIError."""
    if not isinstance(text, str):
        raise CLIError(f"--{name} must be JSON text, got {type(text).__name__}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:   # JSONDecodeError is a ValueError
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CLIError(f"--{name} is not valid JSON ({msg[:80]}): {_short(text)}") from None


def _finite_array(value, name: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise CLIError(f"--{name} has entries too large for a float") from None
    if not np.isfinite(a).all():
        raise CLIError(f"--{name} has non-finite entries")
    return a


def parse_json_matrix(text: str, name: str) -> np.ndarray:
    """A JSON matrix such as ``'[[1,0],[0,2]]'``: rectangular, numeric, finite."""
    value = _load_json(text, name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [[value]]
    if (not isinstance(value, list) or not value
            or not all(isinstance(r, list) and r for r in value)):
        raise CLIError(f"--{name} must be a non-empty JSON list of lists, got {_short(text)}")
    if len({len(r) for r in value}) != 1:
        raise CLIError(f"--{name} is ragged: its rows have different lengths")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for r in value for v in r):
        raise CLIError(f"--{name} must hold numbers only")
    return _finite_array(value, name)


def parse_vector(text: str, name: str) -> np.ndarray:
    """A vector: a JSON list of numbers or, in 1-D, a plain number."""
    value = _load_json(text, name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise CLIError(f"--{name} must be a number or a non-empty JSON list of numbers, "
                       f"got {_short(text)}")
    return _finite_array(value, name)


def finite_float(name: str, minimum=None, strict=False):
    """An argparse ``type`` for a finite float with an optional lower bound."""
    def convert(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{name} must be finite, got {text!r}")
        if minimum is not None and (v <= minimum if strict else v < minimum):
            raise argparse.ArgumentTypeError(
                f"{name} must be {'>' if strict else '>='} {minimum}, got {text!r}")
        return v
    return convert


def int_at_least(name: str, lo: int):
    """An argparse ``type`` for an integer >= ``lo``."""
    def convert(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"{name} must be >= {lo}, got {v}")
        return v
    return convert


# ------------------------------------------------------------------------ games
def add_game_arguments(p: argparse.ArgumentParser, default: str = "bilinear",
                       aliases: Optional[Dict[str, str]] = None) -> None:
    """The game flags; ``aliases`` (short name -> catalogue name) are accepted by
    ``--game`` as well (the command resolves them)."""
    g = p.add_argument_group("game")
    names = sorted(set(GAMES) | set(aliases or {}))
    g.add_argument("--game", default=default, choices=names, metavar="NAME",
                   help=f"one of: {', '.join(names)} (default {default})")
    g.add_argument("--A", help="coupling matrix as JSON, e.g. '[[1,0],[0,2]]' (default identity)")
    g.add_argument("--h", type=finite_float("--h"), default=None,
                   help="curvature h of the quadratic game, eq. 13 (default 0)")
    g.add_argument("--gamma", help="gamma: a number (gamma-quadratic) or the diagonal of "
                                   "gamma as JSON (coop-adversarial, eq. 31)")
    g.add_argument("--B1", help="B1 of eq. 31 as JSON (default identity)")
    g.add_argument("--B2", help="B2 of eq. 31 as JSON (default identity)")


_GAME_PARAMS = {
    "bilinear": {"A"}, "quadratic": {"A", "h"}, "coop-adversarial": {"gamma", "A", "B1", "B2"},
    "gamma-quadratic": {"gamma"},
}


def game_from_args(args):
    """Build the game named by ``--game``; parameters it does not take are an error."""
    allowed = _GAME_PARAMS.get(args.game, set())
    given = {k for k in ("A", "h", "gamma", "B1", "B2") if getattr(args, k, None) is not None}
    extra = given - allowed
    if extra:
        raise CLIError(f"game {args.game!r} takes no --{sorted(extra)[0]} "
                       f"(it takes: {', '.join('--' + k for k in sorted(allowed)) or 'nothing'})")
    params = {}
    for k in ("A", "B1", "B2"):
        if k in given:
            params[k] = parse_json_matrix(getattr(args, k), k)
    if "h" in given:
        params["h"] = args.h
    if "gamma" in given:
        gv = parse_vector(args.gamma, "gamma")
        params["gamma"] = float(gv[0]) if args.game == "gamma-quadratic" and gv.size == 1 else gv
        if args.game == "gamma-quadratic" and gv.size != 1:
            raise CLIError("--gamma of gamma-quadratic must be one number")
    try:
        return make_game(args.game, **params)
    except ValueError as err:
        raise CLIError(str(err)) from None


# ----------------------------------------------------------------------- forces
def add_force_arguments(p: argparse.ArgumentParser, q_auto: bool = False) -> None:
    g = p.add_argument_group("forces")
    g.add_argument("--forces", default="curl,magnetic,friction",
                   help="comma-separated subset of curl,magnetic,friction,consensus "
                        "(or any registered force; default curl,magnetic,friction)")
    g.add_argument("--mu", type=finite_float("--mu", minimum=0.0), default=0.5,
                   help="friction coefficient mu >= 0 (default 0.5)")
    g.add_argument("--q", default="auto" if q_auto else "1.0",
                   help="magnetic charge q, or 'auto' for q = 2/mu + mu (Thm. 1) "
                        f"(default {'auto' if q_auto else '1'})")
    g.add_argument("--mass", type=finite_float("--mass", minimum=0.0, strict=True), default=1.0,
                   help="particle mass m > 0 (default 1, as in the papers)")
    g.add_argument("--consensus-gamma", type=finite_float("--consensus-gamma", minimum=0.0),
                   default=0.1, help="consensus force weight gamma >= 0 (default 0.1; "
                   "--gamma is the game's here)")
    g.add_argument("--charge-convention", choices=["eq7", "slides"], default="eq7",
                   help="magnetic force q grad_xy f (eq. 7, default) or 2q (slides)")


def resolve_q(args) -> float:
    """``--q`` as a number; ``auto`` means q = 2/mu + mu (needs mu > 0)."""
    if isinstance(args.q, (int, float)):
        return float(args.q)
    if str(args.q).lower() == "auto":
        if args.mu <= 0:
            raise CLIError("--q auto means q = 2/mu + mu and needs --mu > 0")
        return 2.0 / args.mu + args.mu
    return finite_float("--q")(args.q)


def forces_from_args(args):
    try:
        return forces_from_names(args.forces.split(","), mu=args.mu, q=resolve_q(args),
                                 convention=args.charge_convention,
                                 gamma=getattr(args, "consensus_gamma", None))
    except (ValueError, argparse.ArgumentTypeError) as err:
        raise CLIError(str(err)) from None


# ------------------------------------------------------------------------ files
def check_writable(path, what: str = "output file") -> Path:
    """Fail early (before any long computation) if ``path`` cannot be written:
    the nearest existing ancestor must be a writable directory, and ``path`` no directory."""
    reason = unwritable_reason(path, what)
    if reason is not None:
        raise CLIError(reason)
    return Path(path)


def _existing_ancestor(path: Path) -> Path:
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def check_output_file(path, flag: str) -> Path:
    """Refuse (before any work) an output file that cannot be written: ``path`` a
    directory, a file where a folder should be, or no write permission. A missing folder is
    fine: :func:`make_parent` creates it when the file is written, and says so."""
    path = Path(path)
    if path.is_dir():
        raise CLIError(f"{flag} {path} is a directory; give a file name")
    _check_writable(_existing_ancestor(path.parent), f"cannot write {flag} {path}", "directory ")
    return path


def _check_writable(base: Path, what: str, kind: str) -> None:
    """Refuse ``base`` (the nearest existing folder of an output) unless it is a writable
    directory; ``what`` opens the message, ``kind`` names ``base`` in it."""
    if not base.is_dir():
        raise CLIError(f"{what}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise CLIError(f"{what}: {kind}{base} is not writable")


def make_parent(path) -> None:
    """Create the missing folders of an output file, on purpose and out loud."""
    folder = Path(path).parent
    if not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise WriteError(f"cannot create directory {folder}: {err.strerror or err}") from None
        print(f"created directory {folder}", file=sys.stderr, flush=True)


def check_output_dir(path, flag: str = "--out") -> Path:
    """Refuse (before any work) an output directory that cannot be made or written. A
    missing directory (and its missing parents) is created when the first file is written,
    on purpose: the command names it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CLIError(f"{flag} {path} exists and is not a directory")
    _check_writable(_existing_ancestor(path), f"cannot create {flag} {path}", "")
    return path


def wrote(path) -> None:
    """Tell the user about a file written (on stderr, so stdout stays parseable)."""
    print(f"wrote {path}", file=sys.stderr, flush=True)


def write_plot(fig, path) -> None:
    """:func:`save_figure` into ``path``, creating its folder out loud, then ``wrote``."""
    make_parent(path)
    save_figure(fig, path)
    wrote(path)


def gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"
