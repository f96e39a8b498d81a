"""``UpdateRule``: a discrete two-step update rule in positions (LEAD eq. 12 / eq. 33).

This is the hand-off between the derivation (``integrators``: a force set and a
discretization scheme give a rule) and the optimizers (``optimizers.from_rule`` turns a
rule into a torch optimizer). For each player ``i`` with opponent ``j``::

    theta_i[k+1] = theta_i[k] + beta * d_i
                   - eta   * grad_i L_i(p)
                   - alpha * grad_ij L_i(p) . d_j
    with d_i = theta_i[k] - theta_i[k-1]  and  p = theta[k] + lookahead * d

``lookahead = 0`` evaluates the derivatives at the current iterate (LEAD, GDA,
heavy ball); ``lookahead > 0`` at an extrapolated point (Nesterov-like).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class UpdateRule:
    """Numeric coefficients of a two-step rule (see the module docstring)."""

    beta: float
    eta: float
    alpha: float = 0.0
    lookahead: float = 0.0
    name: str = "rule"

    def __post_init__(self):
        for k in ("beta", "eta", "alpha", "lookahead"):
            v = getattr(self, k)
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"rule coefficient {k} must be a real number, got {v!r}") from None
            if not math.isfinite(v):
                raise ValueError(f"rule coefficient {k} must be finite, got {v}")
            object.__setattr__(self, k, v)
        if self.eta <= 0:
            raise ValueError(f"rule coefficient eta must be > 0, got {self.eta}")
