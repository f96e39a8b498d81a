"""LEAD (Algorithm 1, eq. 12) and the two-step core it shares with GDA, momentum GDA
and derived rules (``from_rule``).

For each player ``i`` with opponent ``j`` (loss-minimisation convention, ``L_x = f``,
``L_y = -f`` in a zero-sum game)::

    theta_i <- theta_i + beta d_i - lr grad_i L_i(p) - alpha grad_ij L_i(p) . d_j      (eq. 12)

with ``d = theta_k - theta_{k-1}``, ``theta_{-1} = theta_0`` and ``p = theta + lookahead d``
(``lookahead = 0`` except for derived rules). Simultaneous by default; with
``alternating=True`` player y's derivatives are taken at ``(x_{k+1}, y_k)`` and its
``d_x = x_{k+1} - x_k``.
"""
from __future__ import annotations

from contextlib import nullcontext

from .autodiff import MIXED_SOURCES, OTHER, PLAYERS
from .base import GameOptimizer, Hyper, momentum, positive, real
from .functional import axpy, difference, lead_update


def _init_prev(p):
    return {"prev": p.detach().clone()}       # theta_{-1} = theta_0


class TwoStepOptimizer(GameOptimizer):
    """Shared core of eq. 12: GDA, momentum GDA, LEAD and ``from_rule`` optimizers.

    Subclasses choose which of ``lr, beta, alpha, lookahead`` they expose in ``hyper``;
    a missing one is 0. State per parameter: ``prev`` (theta_{k-1}) when ``beta`` or
    ``alpha`` is exposed.
    """

    def __init__(self, params_x, params_y, defaults, *, alternating=False, mixed_source="own",
                 mixed_mode=None, nonfinite="raise",
                 max_grad_norm=None, set_grad=True):
        if not isinstance(alternating, bool):
            raise TypeError(f"Invalid alternating: must be True or False, got {alternating!r}")
        if mixed_source not in MIXED_SOURCES:
            raise ValueError(f"Invalid mixed_source: must be one of {MIXED_SOURCES}, "
                             f"got {mixed_source!r}")
        super().__init__(params_x, params_y, defaults,
                         options=dict(alternating=alternating, mixed_source=mixed_source),
                         nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad, mixed_mode=mixed_mode)
        if alternating and any(v != 0 for p in PLAYERS for v in self._coef(p, "lookahead")):
            raise ValueError("Invalid lookahead: alternating updates need lookahead = 0")

    @property
    def _keeps_prev(self) -> bool:
        return "beta" in self.hyper or "alpha" in self.hyper

    def _coef(self, player, name):
        return self.group_values(player, name) if name in self.hyper else [0.0]

    # -------------------------------------------------------------- pieces
    def _displacement(self, player):
        """``d = theta_k - theta_{k-1}`` (None when the method keeps no history)."""
        if not self._keeps_prev:
            return None
        ps = self.player_params(player)
        return difference(ps, [self.state_of(p, _init_prev)["prev"] for p in ps])

    def _derivatives(self, ev, i, d_j):
        """``(grad_i L_i, M_i)``; ``M_i`` only when some alpha of player i is non-zero."""
        if d_j is not None and any(a != 0 for a in self._coef(i, "alpha")):
            return ev.grad_and_mixed(i, d_j, self.options["mixed_source"])
        return ev.grad(i), None

    def _update(self, i, g, m, d):
        ps = self.player_params(i)
        none = [None] * len(ps)

        def core(grp, P, G, D, M):   # D, M hold None only where their coefficient is 0
            return lead_update(P, G, D, M, lr=grp["lr"], beta=grp.get("beta", 0.0),
                               alpha=grp.get("alpha", 0.0))

        new = self.map_groups(i, core, ps, g, d if d is not None else none,
                              m if m is not None else none)
        state = [{"prev": p.detach().clone()} for p in ps] if self._keeps_prev else None
        return ps, new, state

    def _lookahead_point(self, d):
        if all(v == 0 for p in PLAYERS for v in self._coef(p, "lookahead")):
            return nullcontext()
        pts = {i: self.map_groups(i, lambda grp, P, D: axpy(P, grp["lookahead"], D),
                                  self.player_params(i), d[i]) for i in PLAYERS}
        return self.params_at(pts)

    # -------------------------------------------------------------- steps
    def _step(self, closure):
        second = any(a != 0 for p in PLAYERS for a in self._coef(p, "alpha"))
        d = {i: self._displacement(i) for i in PLAYERS}
        if self.options["alternating"]:
            ev = self.evaluation(closure, second_order=second, players=("x",))
            ps, new, st = self._update("x", *self._derivatives(ev, "x", d["y"]), d["x"])
            self._commit(ps, new, st, what="(player x) ",   # prev = x_k doubles as the undo copy
                         current=[d["prev"] for d in st] if st is not None else None)
            ev2 = self.evaluation(closure, second_order=second, players=("y",))
            d_x = self._displacement("x")                     # x_{k+1} - x_k
            ps, new, st = self._update("y", *self._derivatives(ev2, "y", d_x), d["y"])
            self._commit(ps, new, st, what="(player y) ", final=True)
            return ev.losses_detached()[0], ev2.losses_detached()[1]
        ev = self.evaluation(closure, second_order=second)
        with self._lookahead_point(d):
            der = {i: self._derivatives(ev, i, d[OTHER[i]]) for i in PLAYERS}
        (px, nx, sx), (py, ny, sy) = (self._update(i, *der[i], d[i]) for i in PLAYERS)
        self._commit(px + py, nx + ny, (sx + sy) if sx is not None else None, final=True)
        return ev.losses_detached()


class LEAD(TwoStepOptimizer):
    """Least Action Dynamics, LEAD Algorithm 1 / eq. 12 (simultaneous).

    ``theta_i += beta d(theta_i) - lr grad_i L_i - alpha grad_ij L_i d(theta_j)`` with
    ``d(theta) = theta_k - theta_{k-1}``, ``theta_{-1} = theta_0``.

    Parameters
    ----------
    lr, beta, alpha:
        eta, beta, alpha of eq. 12; each a scalar or a pair (x value, y value).
        From the physics (Prop. 1): ``beta = 1 - mu delta``, ``eta = delta^2`` and
        ``alpha = 2 q delta`` with the slides' magnetic force ``2q`` (``q delta`` with
        eq. 7 as written); see ``integrators.rule``.
    alternating:
        y's derivatives at ``(x_{k+1}, y_k)`` and its ``d(x) = x_{k+1} - x_k``.
    mixed_source:
        ``"own"`` (default): the coupling term of player i is ``grad_ij L_i . d_j``,
        from its own loss, as in eq. 12. ``"opponent"``: ``-grad_ij L_j . d_j``, from
        the opponent's negated loss -- what the paper's official code does in its
        non-zero-sum (non-saturating GAN) mode. Identical for zero-sum games.
    mixed_mode:
        ``"double_backward"`` or ``"forward"``: how the one Jacobian-vector product per
        player is computed (same value; see docs/OPTIMIZERS.md for the speed ratio).
    nonfinite:
        ``"raise"`` or ``"flag"`` (see :class:`~optimizers.base.GameOptimizer`).
    """

    hyper = {"lr": Hyper(positive), "beta": Hyper(momentum), "alpha": Hyper(real)}

    def __init__(self, params_x, params_y, lr, beta, alpha, *, alternating=False,
                 mixed_source="own", mixed_mode=None, nonfinite="raise",
                 max_grad_norm=None, set_grad=True):
        super().__init__(params_x, params_y, dict(lr=lr, beta=beta, alpha=alpha),
                         alternating=alternating, mixed_source=mixed_source,
                         mixed_mode=mixed_mode, nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)
