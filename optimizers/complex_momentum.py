"""Complex momentum (Lorraine, Acuna, Vicol & Duvenaud, 2022), simultaneous form.

Each player keeps a complex momentum buffer ``mu`` and, with a complex momentum
coefficient ``beta`` and a real step size ``alpha`` (``lr``)::

    mu    <- beta * mu - g          (g = grad_i L_i, the player's own gradient)
    theta <- theta + Re(alpha * mu)

Real ``beta`` in (-1, 1) gives Polyak momentum (negative: Gidel et al.'s negative
momentum). The buffer is stored as two real tensors (``mu_re``, ``mu_im``), so
checkpoints cast to the parameters' dtype without losing the imaginary part.
"""
from __future__ import annotations

import cmath
import math
import torch

from .base import GameOptimizer, Hyper, positive
from .cgd import per_param
from .functional import complex_momentum_update


def complex_coefficient(name: str, v) -> complex:
    """A complex momentum coefficient with ``|beta| < 1``."""
    if isinstance(v, bool) or not isinstance(v, (int, float, complex)):
        raise ValueError(f"Invalid {name}: expected a real or complex number, got {v!r}")
    v = complex(v)
    if not (math.isfinite(v.real) and math.isfinite(v.imag)):
        raise ValueError(f"Invalid {name}: must be finite, got {v}")
    if abs(v) >= 1.0:
        raise ValueError(f"Invalid {name}: |beta| must be < 1, got |{v}| = {abs(v):.6g}")
    return v


def beta_polar(magnitude: float, phase: float) -> complex:
    """``magnitude * exp(i phase)``: the parametrisation Lorraine et al. tune."""
    return cmath.rect(magnitude, phase)


class ComplexMomentum(GameOptimizer):
    """Simultaneous complex momentum: ``mu <- beta mu - g``, ``theta += Re(lr mu)``.

    Parameters
    ----------
    lr: real step size alpha > 0 (scalar or pair).
    beta: complex momentum coefficient with ``|beta| < 1`` (scalar or pair), e.g.
        ``beta_polar(0.9, math.pi / 8)``.
    """

    hyper = {"lr": Hyper(positive), "beta": Hyper(complex_coefficient)}

    def __init__(self, params_x, params_y, lr, beta, *, nonfinite: str = "raise",
                 max_grad_norm=None, set_grad: bool = True):
        super().__init__(params_x, params_y, dict(lr=lr, beta=beta), options=dict(),
                         nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)

    @staticmethod
    def _init(p):
        return {"mu_re": torch.zeros_like(p), "mu_im": torch.zeros_like(p)}

    def _step(self, closure):
        ev = self.evaluation(closure)
        ps, grads, lr, beta = [], [], [], []
        for i in ("x", "y"):
            ps += self.player_params(i)
            grads += ev.grad(i)
            lr += per_param(self, i, "lr")
            beta += per_param(self, i, "beta")
        states = [self.state_of(p, self._init) for p in ps]
        new_p, re, im = complex_momentum_update(
            [p.detach() for p in ps], grads, [s["mu_re"] for s in states],
            [s["mu_im"] for s in states], lr=lr, beta=beta)
        self._commit(ps, new_p, [{"mu_re": a, "mu_im": b} for a, b in zip(re, im)], final=True)
        return ev.losses_detached()
