"""Small helpers shared by the checks: number formatting, the experiment modules, random games,
and running an optimizer of :mod:`optimizers` on a :class:`mechanics.ZeroSumGame`."""
from __future__ import annotations

import importlib
import math
from typing import Callable, Sequence

import numpy as np
import torch

import optimizers as O


def g(x, digits: int = 4) -> str:
    """A number with ``digits`` significant digits (``None`` -> 'none')."""
    if x is None:
        return "none"
    if isinstance(x, complex):
        return f"{x.real:.{digits}g}{x.imag:+.{digits}g}i"
    return f"{float(x):.{digits}g}"


def example(name: str):
    """The experiment module :mod:`gamemech.experiments.<name>` (the checks reuse its
    ``run`` functions; installed with the package, so no checkout is needed)."""
    return importlib.import_module(f"gamemech.experiments.{name}")


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
