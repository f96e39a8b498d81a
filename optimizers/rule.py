"""``from_rule``: any explicit two-step :class:`integrators.rule.UpdateRule` as a torch
optimizer, on the same core as LEAD (eq. 12 / eq. 33, :mod:`optimizers.lead`).

The rule's ``eta`` is the optimizer's ``lr``; ``beta``, ``alpha`` and ``lookahead`` keep
their names (derivatives at ``p = theta + lookahead d``). The rule derived from
curl + magnetic + friction (Prop. 1: ``beta = 1 - mu delta / m``, ``eta = delta^2 / m``,
``alpha = q delta / m`` with eq. 7's charge) gives exactly :class:`~optimizers.LEAD`'s
iterates with those coefficients.
"""
from __future__ import annotations

import dataclasses

from integrators.rule import UpdateRule

from .base import Hyper, positive, real
from .lead import TwoStepOptimizer

#: UpdateRule fields this optimizer implements; any other field must keep its default.
_SUPPORTED = ("beta", "eta", "alpha", "lookahead", "name")


class RuleOptimizer(TwoStepOptimizer):
    """Two-step rule ``theta_i += beta d_i - lr grad_i L_i(p) - alpha grad_ij L_i(p) d_j``.

    ``beta`` may be any real number here (a rule derived without friction has
    ``beta = 1``); built by :func:`from_rule`.
    """

    hyper = {"lr": Hyper(positive), "beta": Hyper(real), "alpha": Hyper(real),
             "lookahead": Hyper(real)}

    def __init__(self, params_x, params_y, lr, beta, alpha=0.0, lookahead=0.0, *,
                 name="rule", alternating=False, mixed_source="own", mixed_mode=None,
                 nonfinite="raise", max_grad_norm=None, set_grad=True):
        self.name = name
        super().__init__(params_x, params_y,
                         dict(lr=lr, beta=beta, alpha=alpha, lookahead=lookahead),
                         alternating=alternating, mixed_source=mixed_source,
                         mixed_mode=mixed_mode, nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)


def _check_rule(rule, label: str) -> UpdateRule:
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"{label} must be an integrators.rule.UpdateRule, "
                        f"got {type(rule).__name__}")
    for f in dataclasses.fields(rule):
        if f.name in _SUPPORTED:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        value = getattr(rule, f.name)
        if value != default:
            extra = (" (an implicit magnetic force needs a linear solve per step, the "
                     "CGD-like form; from_rule implements explicit rules only)"
                     if f.name == "alpha_implicit" else "")
            raise ValueError(f"{label}.{f.name} = {value!r} is not supported by from_rule: "
                             f"only {', '.join(_SUPPORTED[:4])} are implemented{extra}")
    return rule


def from_rule(rule, params_x, params_y, *, alternating=False, mixed_source="own",
              mixed_mode=None, nonfinite="raise", max_grad_norm=None,
              set_grad=True) -> RuleOptimizer:
    """An optimizer that iterates ``rule`` (an ``UpdateRule``, or a pair ``(rule_x, rule_y)``
    giving each player its own coefficients). Options as for :class:`~optimizers.LEAD`."""
    if isinstance(rule, (tuple, list)):
        if len(rule) != 2:
            raise ValueError(f"expected one UpdateRule or a pair (rule_x, rule_y), "
                             f"got {len(rule)} rules")
        rules = tuple(_check_rule(r, f"rule_{p}") for r, p in zip(rule, "xy"))
        coef = {k: tuple(getattr(r, k) for r in rules) for k in ("eta", "beta", "alpha",
                                                                   "lookahead")}
        name = "/".join(r.name for r in rules)
    else:
        r = _check_rule(rule, "rule")
        coef = {k: getattr(r, k) for k in ("eta", "beta", "alpha", "lookahead")}
        name = r.name
    return RuleOptimizer(params_x, params_y, coef["eta"], coef["beta"], coef["alpha"],
                         coef["lookahead"], name=name, alternating=alternating,
                         mixed_source=mixed_source, mixed_mode=mixed_mode,
                         nonfinite=nonfinite, max_grad_norm=max_grad_norm,
                         set_grad=set_grad)
