"""Small helpers shared by the checks: number formatting, the example scripts, random games,
and running an optimizer of :mod:`optimizers` on a :class:`mechanics.ZeroSumGame`."""
from __future__ import annotations

import importlib.util
import math
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

import optimizers as O

ROOT = Path(__file__).resolve().parents[2]


def g(x, digits: int = 4) -> str:
    """A number with ``digits`` significant digits (``None`` -> 'none')."""
    if x is None:
        return "none"
    if isinstance(x, complex):
        return f"{x.real:.{digits}g}{x.imag:+.{digits}g}i"
    return f"{float(x):.{digits}g}"


@lru_cache(maxsize=None)
def example(name: str):
    """The module ``examples/<name>.py`` of this checkout (the experiments reuse its
    functions). Raises ``FileNotFoundError`` when the examples are not present."""
    path = ROOT / "examples" / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: this check reuses the example script")
    spec = importlib.util.spec_from_file_location(f"_claims_example_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def random_matrix(rng: np.random.Generator, n: int) -> np.ndarray:
    """An ``n x n`` matrix with i.i.d. N(0, 1) entries (non-symmetric)."""
    return rng.normal(size=(n, n))


def run_optimizer(make: Callable, game, start: Sequence[Sequence[float]], steps: int,
                  blowup: float = 1e8) -> np.ndarray:
    """Distances ``|z_k - z*|`` along ``steps`` steps of ``make(px, py)`` on ``game`` from
    ``start = (x0, y0)`` (float64); stops early past ``blowup`` or on a non-finite step."""
    x = torch.tensor(np.atleast_1d(start[0]), dtype=torch.float64, requires_grad=True)
    y = torch.tensor(np.atleast_1d(start[1]), dtype=torch.float64, requires_grad=True)
    xs, ys = game.equilibrium_tensors()
    opt = make([x], [y])

    def dist():
        return math.sqrt(float(((x.detach() - xs) ** 2).sum() + ((y.detach() - ys) ** 2).sum()))

    out = [dist()]
    for _ in range(steps):
        try:
            opt.step(lambda: (game.f(x, y).sum(), -game.f(x, y).sum()))
        except O.NonFiniteError:
            out.append(math.inf)
            break
        out.append(dist())
        if not out[-1] < blowup:
            break
    return np.array(out)
