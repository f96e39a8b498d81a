"""Tuning to optimality: minimise the spectral radius of a method's step map over its
hyperparameters for one game (the rate of Prop. 2; used for LEAD Fig. 3).

:func:`tune` runs ``scipy.optimize.differential_evolution`` inside the bounds (the
radius is a non-smooth, multi-modal function of the hyperparameters), then refines the
best point with bounded Nelder-Mead. ``strategy="nelder-mead"`` instead starts
Nelder-Mead from ``starts`` Sobol points. Every evaluation is
:func:`integrators.spectral.step_jacobian` (autograd through the implemented update).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import scipy.optimize
import scipy.stats

from mechanics.game import Game

from .spectral import get_method, spectral_radius, step_jacobian

STRATEGIES = ("differential_evolution", "nelder-mead")
_PENALTY = 1e6


@dataclass
class TuningResult:
    """Best hyperparameters (tuned and fixed together) and their spectral radius."""

    method: str
    params: Dict[str, float]
    spectral_radius: float
    tuned: Tuple[str, ...]
    nfev: int
    strategy: str

    def as_dict(self) -> Dict:
        return {"method": self.method, "params": dict(self.params),
                "spectral_radius": self.spectral_radius, "tuned": list(self.tuned),
                "nfev": self.nfev, "strategy": self.strategy}


def _check_bounds(method, bounds, free) -> Dict[str, Tuple[float, float]]:
    out = {}
    for p in free:
        lo, hi = bounds.get(p, method.bounds[p])
        lo, hi = float(lo), float(hi)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"bounds of {p} must be finite with low < high, got ({lo}, {hi})")
        out[p] = (lo, hi)
    return out


def tune(method, game: Game, *, bounds: Optional[Mapping[str, Tuple[float, float]]] = None,
         fixed: Optional[Mapping[str, float]] = None, strategy: str = "differential_evolution",
         seed: int = 0, maxiter: int = 200, popsize: int = 15, starts: int = 16,
         point=None, polish_maxiter: int = 4000) -> TuningResult:
    """Minimise the spectral radius of ``method`` on ``game`` over its hyperparameters.

    Parameters
    ----------
    method: a name in ``integrators.spectral.METHODS`` or a ``Method``.
    bounds: per-hyperparameter ``(low, high)``; defaults from the method.
    fixed: hyperparameters held at given values (not tuned).
    strategy: ``"differential_evolution"`` (then Nelder-Mead polish) or ``"nelder-mead"``
        (multistart from Sobol points).
    seed: makes the search reproducible.
    maxiter, popsize: differential evolution's budget; ``starts``: Nelder-Mead starts.
    point: where the Jacobian is taken (default: the game's equilibrium).
    polish_maxiter: iterations of each Nelder-Mead run (a smaller budget for surveys).
    """
    method = get_method(method)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    fixed = dict(fixed or {})
    method.hyperparameters(fixed)                      # validates names and values
    bounds = dict(bounds or {})
    unknown = sorted(set(bounds) - set(method.params))
    if unknown:
        raise ValueError(f"method {method.name!r} has no hyperparameter {unknown[0]!r}")
    free = tuple(p for p in method.params if p not in fixed)
    if not free:
        raise ValueError("every hyperparameter is fixed: nothing to tune")
    box = _check_bounds(method, bounds, free)
    lo, hi = (np.array([box[p][i] for p in free]) for i in (0, 1))
    nfev = 0

    def radius(u) -> float:
        nonlocal nfev
        nfev += 1
        hp = {**fixed, **{p: float(v) for p, v in zip(free, np.clip(u, lo, hi))}}
        try:
            J = step_jacobian(method, game, point, **hp).numpy()
        except (ValueError, RuntimeError):    # an inner solve failed: no rate there
            return _PENALTY
        if not np.isfinite(J).all():
            return _PENALTY
        return spectral_radius(np.linalg.eigvals(J))

    if strategy == "differential_evolution":
        de = scipy.optimize.differential_evolution(
            radius, list(zip(lo, hi)), seed=seed, maxiter=maxiter, popsize=popsize,
            tol=1e-10, atol=0.0, polish=False, init="sobol")
        candidates = [de.x]
    else:
        sobol = scipy.stats.qmc.Sobol(len(free), seed=seed)
        candidates = list(scipy.stats.qmc.scale(sobol.random(starts), lo, hi))
    best_u, best_r = None, np.inf
    for u0 in candidates:
        res = scipy.optimize.minimize(radius, u0, method="Nelder-Mead",
                                      bounds=list(zip(lo, hi)),
                                      options={"xatol": 1e-10, "fatol": 1e-12,
                                               "maxiter": int(polish_maxiter)})
        u, r = (res.x, res.fun) if res.fun <= radius(u0) else (u0, radius(u0))
        if r < best_r:
            best_u, best_r = np.clip(u, lo, hi), float(r)
    params = {**method.hyperparameters(fixed), **{p: float(v) for p, v in zip(free, best_u)}}
    return TuningResult(method.name, params, best_r, free, nfev, strategy)
