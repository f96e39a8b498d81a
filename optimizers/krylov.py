"""GMRES on lists of tensors: the matrix-free linear solve of implicit derived rules.

An implicit magnetic force couples the players' new steps, ``(I + K) s = r`` with ``K``
applied by Hessian-vector products (``optimizers.rule``). ``K`` need not be symmetric
(general-sum games, user forces), so the solver is GMRES (Saad & Schultz, 1986): Arnoldi
with modified Gram-Schmidt, the small least-squares problem solved by numpy at each
iteration. One ``matvec`` per iteration; no restarts (the cap bounds the memory:
``max_iter`` vectors of the parameters' size).
"""
from __future__ import annotations

import math
from typing import Callable, List, NamedTuple, Sequence

import numpy as np
import torch

from .autodiff import dot

Tensors = Sequence[torch.Tensor]


class KrylovResult(NamedTuple):
    """The solution, the iterations (matrix-vector products) run and the final relative
    residual ``|b - A x| / |b|``."""

    x: List[torch.Tensor]
    iterations: int
    residual: float


def _norm(v: Tensors) -> float:
    return math.sqrt(max(float(dot(v, v)), 0.0)) if v else 0.0


def gmres(matvec: Callable[[List[torch.Tensor]], List[torch.Tensor]], b: Tensors, *,
          tol: float = 1e-10, max_iter: int = 50) -> KrylovResult:
    """Solve ``A x = b`` (``A`` given by ``matvec`` on lists of tensors) from ``x = 0``;
    stops when the relative residual is at most ``tol`` or after ``max_iter``
    iterations (the caller decides what a non-converged result means)."""
    b = [t.detach() for t in b]
    beta = _norm(b)
    if beta == 0.0:
        return KrylovResult([torch.zeros_like(t) for t in b], 0, 0.0)
    V = [[t / beta for t in b]]
    H = np.zeros((max_iter + 1, max_iter))
    y, res, k = np.zeros(0), 1.0, 0
    for k in range(1, max_iter + 1):
        w = [t.detach() for t in matvec(V[-1])]
        for j, v in enumerate(V):                       # modified Gram-Schmidt
            H[j, k - 1] = float(dot(w, v))
            w = [a - H[j, k - 1] * c for a, c in zip(w, v)]
        H[k, k - 1] = _norm(w)
        e1 = np.zeros(k + 1)
        e1[0] = beta
        y = np.linalg.lstsq(H[:k + 1, :k], e1, rcond=None)[0]
        res = float(np.linalg.norm(e1 - H[:k + 1, :k] @ y)) / beta
        if res <= tol or H[k, k - 1] <= 1e-300 or not math.isfinite(res):
            break
        V.append([t / H[k, k - 1] for t in w])
    x = [torch.zeros_like(t) for t in b]
    for c, v in zip(y, V):
        x = [a + float(c) * t for a, t in zip(x, v)]
    return KrylovResult(x, k, res)
