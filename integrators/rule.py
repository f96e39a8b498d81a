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

Further forces add ``terms`` (``- c O(p) [dz]``, e.g. consensus ``- eta gamma J^T v(p)``),
and ``proximal`` takes every derivative at the new point ``z[k+1]`` (implicit curl).

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
from typing import Any, Optional, Tuple

from mechanics._validate import finite_real

#: what a term's operator is applied to: nothing (a field), dz[k], or dz[k+1] (implicit).
TERM_VECTORS = (None, "d", "d_next")


@dataclass(frozen=True)
class RuleTerm:
    """A term ``- coefficient * operator(p) [d]`` of a rule, from a force's
    :class:`mechanics.forces.Term` (``force.apply(term, oracle, d)`` evaluates it);
    ``vector`` is None (a field), ``"d"`` (``dz[k]``) or ``"d_next"`` (``dz[k+1]``)."""

    label: str
    coefficient: float
    force: Any
    term: Any
    vector: Optional[str] = None

    def __post_init__(self):
        object.__setattr__(self, "coefficient",
                           finite_real(self.coefficient, f"rule coefficient {self.label}"))
        if self.vector not in TERM_VECTORS:
            raise ValueError(f"rule term {self.label}: vector must be one of {TERM_VECTORS}, "
                             f"got {self.vector!r}")


@dataclass(frozen=True)
class UpdateRule:
    """Numeric coefficients of a two-step rule (see the module docstring).

    ``terms`` are the further forces' terms (:class:`RuleTerm`; e.g. consensus
    ``- eta gamma J^T v(p)``); ``proximal`` is True when the derivatives are taken at the
    new point ``p = z[k+1]`` (implicit curl: each step is a nonlinear solve).
    """

    beta: float
    eta: float
    alpha: float = 0.0
    lookahead: float = 0.0
    name: str = "rule"
    alpha_implicit: float = 0.0
    terms: Tuple[RuleTerm, ...] = ()
    proximal: bool = False

    def __post_init__(self):
        for k in ("beta", "eta", "alpha", "lookahead", "alpha_implicit"):
            v = finite_real(getattr(self, k), f"rule coefficient {k}")
            object.__setattr__(self, k, v)
        if self.eta < 0:
            raise ValueError(f"rule coefficient eta must be > 0 (or 0 when a field term moves "
                             f"the particle), got {self.eta}")
        object.__setattr__(self, "terms", tuple(self.terms))
        for t in self.terms:
            if not isinstance(t, RuleTerm):
                raise TypeError(f"rule terms must be RuleTerm, got {type(t).__name__}")
        if self.eta == 0 and not self.field_terms:
            raise ValueError("the rule has no position-dependent term (eta = 0: no gradient "
                             "term, and no other field term): the particle never moves from "
                             "rest")
        if not isinstance(self.proximal, bool):
            raise TypeError(f"proximal must be True or False, got {self.proximal!r}")
        if self.proximal and self.lookahead != 0.0:
            raise ValueError("a proximal rule evaluates at the new point: lookahead must be 0")

    @property
    def is_explicit(self) -> bool:
        """True when one step needs no solve: no implicit coupling (``alpha_implicit``,
        terms on ``dz[k+1]``) and derivatives at a known point (not ``proximal``)."""
        return self.is_linear_explicit and not self.proximal

    @property
    def is_linear_explicit(self) -> bool:
        """True when the new step is not coupled through a linear solve."""
        return self.alpha_implicit == 0.0 and not any(t.vector == "d_next" for t in self.terms)

    @property
    def field_terms(self) -> Tuple[RuleTerm, ...]:
        """The further terms that act without a velocity (fields, e.g. consensus
        ``J^T v``): besides the gradient term, the forces that move a particle from
        rest."""
        return tuple(t for t in self.terms if t.vector is None)

    @property
    def unit(self) -> float:
        """The scale of the rule's step: ``eta``, or for a rule without the gradient
        term (``eta = 0``, a member without curl) the largest modulus of its field
        terms' coefficients (consensus alone: ``gamma delta^2 / m``; 1 if they are all
        0, a rule that stays where it is). Adam preconditioning takes the rule's
        direction per this unit (``optimizers.rule.RuleAdam``)."""
        if self.eta > 0:
            return self.eta
        return max(abs(t.coefficient) for t in self.field_terms) or 1.0

    def coefficients(self) -> dict:
        """Every coefficient by name (``terms`` by their labels)."""
        out = {k: getattr(self, k) for k in ("beta", "eta", "alpha", "alpha_implicit",
                                              "lookahead")}
        out.update({t.label: t.coefficient for t in self.terms})
        return out
