"""``UpdateRule``: a discrete two-step update rule in positions (LEAD eq. 12 / eq. 33).

This is the hand-off between the derivation (``integrators``: a force set and a
discretization scheme give a rule) and the optimizers (``optimizers.from_rule`` turns a
rule into a torch optimizer). For each player ``i`` with opponent ``j``::

    theta_i[k+1] = theta_i[k] + beta * d_i
                   - eta   * grad_i L_i(p)
                   - alpha * grad_ij L_i(p) . d_j
                   - alpha_implicit * grad_ij L_i(p) . d_j[k+1]
    with d_i = theta_i[k] - theta_i[k-1],  d_j[k+1] = theta_j[k+1] - theta_j[k]
    and  p = theta[k] + lookahead * d

``lookahead = 0`` evaluates the derivatives at the current iterate (LEAD, GDA,
heavy ball); ``lookahead > 0`` at an extrapolated point (Nesterov-like);
``lookahead = -1`` at the previous iterate (fully explicit Euler, see
``integrators.schemes``).

``alpha_implicit`` is zero for every explicit two-step rule (LEAD and its relatives).
It is non-zero only when the magnetic force is taken implicitly: the new steps of
both players are then coupled, and one step solves the linear system
``[[I, a B_xy], [a B_yx, I]] (d_x[k+1], d_y[k+1]) = r`` with ``a = alpha_implicit``,
``B_xy = grad_xy L_x`` and ``B_yx = grad_yx L_y``. Eliminating ``d_y[k+1]`` gives the
inverse ``(I - a^2 B_xy B_yx)^-1``, which for a zero-sum game is
``(I + a^2 grad_xy f grad_yx f)^-1``: the preconditioner of Competitive Gradient
Descent (Schaefer & Anandkumar, 2019). Consumers that only implement the explicit
form must check :attr:`UpdateRule.is_explicit`.
"""
from __future__ import annotations

from dataclasses import dataclass

from mechanics._validate import finite_real


@dataclass(frozen=True)
class UpdateRule:
    """Numeric coefficients of a two-step rule (see the module docstring)."""

    beta: float
    eta: float
    alpha: float = 0.0
    lookahead: float = 0.0
    name: str = "rule"
    alpha_implicit: float = 0.0

    def __post_init__(self):
        for k in ("beta", "eta", "alpha", "lookahead", "alpha_implicit"):
            v = finite_real(getattr(self, k), f"rule coefficient {k}")
            object.__setattr__(self, k, v)
        if self.eta <= 0:
            raise ValueError(f"rule coefficient eta must be > 0, got {self.eta}")

    @property
    def is_explicit(self) -> bool:
        """True when one step needs no linear solve (``alpha_implicit == 0``)."""
        return self.alpha_implicit == 0.0
