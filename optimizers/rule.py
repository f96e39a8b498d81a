"""``from_rule``: any :class:`integrators.rule.UpdateRule` that ``derive(...).to_update_rule``
returns as a torch optimizer, on the same core as LEAD (eq. 12 / eq. 33,
:func:`integrators.updates.lead_update`).

The rule's ``eta`` is the optimizer's ``lr``; ``beta``, ``alpha`` and ``lookahead`` keep
their names (derivatives at ``p = theta + lookahead d``). The rule derived from
curl + magnetic + friction (Prop. 1: ``beta = 1 - mu delta / m``, ``eta = delta^2 / m``,
``alpha = q delta / m`` with eq. 7's charge) gives exactly :class:`~optimizers.LEAD`'s
iterates with those coefficients. Every member of the family runs:

- further force terms (``rule.terms``, e.g. consensus ``- eta gamma J^T v``): each
  force's operator evaluated on the closure's derivatives
  (:class:`EvaluationDerivatives`, Hessian-vector products by autograd);
- implicit coupling (``alpha_implicit``, terms on ``dz[k+1]``; the implicit magnetic,
  CGD-like member): the new step solves ``(I + K) s = r`` matrix-free by GMRES
  (:func:`optimizers.krylov.gmres`), one ``K`` product (two Hessian-block products for
  the magnetic force) per iteration, to relative residual ``tol`` within ``max_iter``;
- ``proximal`` rules (implicit curl: every derivative at the new point): the step is the
  fixed point ``w = theta + r(w)``, found by fixed-point iteration to relative change
  ``tol`` (or to the rounding level ``4 eps |w|`` of the parameters, whichever is larger)
  within ``max_iter`` iterations (one evaluation of the closure each). It
  converges when ``w -> r(w)`` is a contraction: for the gradient term when
  ``eta L < 1`` with ``L`` the Lipschitz constant of the vector field (for a bilinear
  game ``eta ||A|| < 1``), with the coupling and other terms adding their own
  Lipschitz constants. If it does not converge within ``max_iter`` the step raises
  ``ValueError`` naming the residual and the parameters stay at the last step.

The inner iterations and residual of the last step are in :attr:`RuleOptimizer.last_solve`
and summed in ``inner_iterations``. ``precondition="adam"`` returns a
:class:`RuleAdam` (LEAD Algorithm 2 for any explicit rule).
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple, Optional

import torch

from integrators.rule import UpdateRule

from .autodiff import OTHER, PLAYERS, dot, grads
from .base import Hyper, positive, real
from .functional import axpy, lead_update
from .krylov import gmres
from .lead import TwoStepOptimizer
from .lead_adam import LEADAdam

#: UpdateRule fields an optimizer takes per player (from a pair of rules).
_PER_PLAYER = ("eta", "beta", "alpha", "lookahead")
PRECONDITIONERS = (None, "adam")


class EvaluationDerivatives:
    """The derivative oracle of forces (:mod:`mechanics.derivatives`) on an optimizer's
    :class:`~optimizers.autodiff.Evaluation`: pairs of parameter lists ``(u_x, u_y)``."""

    def __init__(self, ev, params):
        self.ev, self.params = ev, params

    def position(self):
        return tuple([p.detach() for p in self.params[i]] for i in PLAYERS)

    def vector_field(self):
        return self.ev.grad("x"), self.ev.grad("y")

    def mixed(self, ux, uy):
        return self.ev.hvp("x", "x", "y", uy), self.ev.hvp("y", "y", "x", ux)

    def jvp(self, ux, uy):
        """``J u``: ``(J u)_i = grad_ii L_i u_i + grad_ij L_i u_j``."""
        h = self.ev.hvp
        return ([a + b for a, b in zip(h("x", "x", "x", ux), h("x", "x", "y", uy))],
                [a + b for a, b in zip(h("y", "y", "x", ux), h("y", "y", "y", uy))])

    def vjp(self, ux, uy):
        """``J^T u = grad <v, u>``: one reverse pass through the gradients' graphs."""
        gx = self.ev.grad_wrt("x", "x", graph=True)
        gy = self.ev.grad_wrt("y", "y", graph=True)
        out = grads(dot(gx, ux) + dot(gy, uy), self.params["x"] + self.params["y"],
                    retain_graph=True)
        n = len(self.params["x"])
        return [t.detach() for t in out[:n]], [t.detach() for t in out[n:]]


class SolveStats(NamedTuple):
    """The inner solve of the last step: ``kind`` (``"gmres"`` or ``"fixed_point"``),
    its iterations and final relative residual."""

    kind: str
    iterations: int
    residual: float


def _apply(term, oracle, u):
    """A rule term's operator at the oracle's point on the joint vector ``u`` (a pair)."""
    return term.force.apply(term.term, oracle, u)


class RuleOptimizer(TwoStepOptimizer):
    """Two-step rule ``theta_i += beta d_i - lr grad_i L_i(p) - alpha grad_ij L_i(p) d_j
    - sum_t c_t O_t(p)[d]``, implicit and proximal members included (module docstring).

    ``beta`` may be any real number here (a rule derived without friction has
    ``beta = 1``); built by :func:`from_rule`.
    """

    hyper = {"lr": Hyper(positive), "beta": Hyper(real), "alpha": Hyper(real),
             "lookahead": Hyper(real)}

    def __init__(self, params_x, params_y, lr, beta, alpha=0.0, lookahead=0.0, *,
                 name="rule", rule: Optional[UpdateRule] = None, tol: Optional[float] = None,
                 max_iter: int = 100, alternating=False, mixed_source="own", mixed_mode=None,
                 nonfinite="raise", max_grad_norm=None, set_grad=True):
        self.name, self.rule = name, rule
        general = rule is not None and (bool(rule.terms) or not rule.is_explicit)
        if general and alternating:
            raise ValueError(f"rule {name!r}: alternating updates are implemented for explicit "
                             "rules without further force terms only")
        if general and mixed_source != "own":
            raise ValueError("mixed_source='opponent' is implemented for explicit rules only")
        if tol is not None:
            positive("tol", tol)
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"Invalid max_iter: expected an integer >= 1, got {max_iter!r}")
        super().__init__(params_x, params_y,
                         dict(lr=lr, beta=beta, alpha=alpha, lookahead=lookahead),
                         alternating=alternating, mixed_source=mixed_source,
                         mixed_mode=mixed_mode, nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)
        self._general, self.tol, self.max_iter = general, tol, max_iter
        self.last_solve: Optional[SolveStats] = None
        self.inner_iterations = 0

    # -------------------------------------------------------------- general path
    def _tol(self) -> float:
        """``tol``, or by default 1e-10 in float64 (10 eps in lower precisions)."""
        if self.tol is not None:
            return self.tol
        dtype = self.player_params("x")[0].dtype
        return max(1e-10, 10 * torch.finfo(dtype).eps)

    def _new_point(self, oracle, theta, d, d_next=None):
        """``theta + beta d - lr g - alpha C d - sum_t c_t O_t(p)[.]`` per player (the one
        core, group by group); ``d_next`` adds the implicit terms on that step."""
        rule = self.rule
        dj = (d["x"], d["y"]) if d is not None else None
        mixed = oracle.mixed(*dj) if any(a != 0 for i in PLAYERS
                                         for a in self.group_values(i, "alpha")) else None
        terms = [(t.coefficient, _apply(t, oracle, None if t.vector is None else dj))
                 for t in rule.terms if t.vector != "d_next"]
        if d_next is not None:
            if rule.alpha_implicit != 0.0:
                terms.append((rule.alpha_implicit, oracle.mixed(*d_next)))
            terms += [(t.coefficient, _apply(t, oracle, d_next)) for t in rule.terms
                      if t.vector == "d_next"]
        g = oracle.vector_field()
        out = {}
        for k, i in enumerate(PLAYERS):
            cs = [c for c, _ in terms]

            def core(grp, P, G, D, M, *T):
                return lead_update(P, G, D, M, lr=grp["lr"], beta=grp["beta"],
                                   alpha=grp["alpha"], terms=list(zip(cs, T)))

            none = [None] * len(theta[i])
            out[i] = self.map_groups(i, core, theta[i], g[k], d[i] if d is not None else none,
                                     mixed[k] if mixed is not None else none,
                                     *[t[k] for _, t in terms])
        return out

    def _coupled_solve(self, oracle, theta, new):
        """``s`` with ``(I + K) s = new - theta`` by GMRES (implicit terms)."""
        rule, nx = self.rule, len(theta["x"])
        r = [a - b for i in PLAYERS for a, b in zip(new[i], theta[i])]

        def matvec(s):
            pair = (s[:nx], s[nx:])
            out = list(s)
            if rule.alpha_implicit != 0.0:
                mx, my = oracle.mixed(*pair)
                out = [a + rule.alpha_implicit * b for a, b in zip(out, mx + my)]
            for t in rule.terms:
                if t.vector == "d_next":
                    tx, ty = _apply(t, oracle, pair)
                    out = [a + t.coefficient * b for a, b in zip(out, list(tx) + list(ty))]
            return out

        res = gmres(matvec, r, tol=self._tol(), max_iter=self.max_iter)
        self._record("gmres", res.iterations, res.residual)
        s = res.x
        return {"x": [a + b for a, b in zip(theta["x"], s[:nx])],
                "y": [a + b for a, b in zip(theta["y"], s[nx:])]}

    def _record(self, kind, iterations, residual):
        self.last_solve = SolveStats(kind, iterations, residual)
        self.inner_iterations += iterations

    def _oracle(self, closure):
        """An evaluation and its derivative oracle; second order (graphs kept for
        Hessian-vector products) only when the rule has a term that needs them."""
        rule = self.rule
        second = bool(rule.terms) or rule.alpha_implicit != 0.0 or any(
            a != 0 for i in PLAYERS for a in self.group_values(i, "alpha"))
        ev = self.evaluation(closure, second_order=second)
        return ev, EvaluationDerivatives(ev, {i: self.player_params(i) for i in PLAYERS})

    def _proximal(self, closure, theta, d):
        """Fixed-point iteration ``w <- theta + r(w)`` (module docstring)."""
        ev0, oracle = self._oracle(closure)
        zero = {i: [torch.zeros_like(t) for t in theta[i]] for i in PLAYERS}
        w = self._new_point(oracle, theta, d, (zero["x"], zero["y"]))
        tol, res = self._tol(), math.inf
        for it in range(1, self.max_iter + 1):
            with self.params_at(w):
                _, oracle = self._oracle(closure)
                step = {i: [a - b for a, b in zip(w[i], theta[i])] for i in PLAYERS}
                new = self._new_point(oracle, theta, d, (step["x"], step["y"]))
            change = math.sqrt(sum(float(dot([a - b for a, b in zip(new[i], w[i])],
                                              [a - b for a, b in zip(new[i], w[i])]))
                                   for i in PLAYERS))
            size = math.sqrt(sum(float(dot(s, s)) for s in
                                 ([a - b for a, b in zip(new[i], theta[i])] for i in PLAYERS)))
            finfo = torch.finfo(theta["x"][0].dtype)
            res = change / max(size, finfo.tiny)
            w = new
            # converged: the change is below tol of the step, or at the rounding level of
            # the parameters themselves (a small step on large weights in float32)
            if res <= tol or change <= 4 * finfo.eps * math.sqrt(
                    sum(float(dot(w[i], w[i])) for i in PLAYERS)):
                self._record("fixed_point", it, res)
                return ev0, w
            if not math.isfinite(res):
                break
        self._record("fixed_point", self.max_iter, res)
        raise ValueError(f"{self.name}: the proximal (implicit curl) step did not converge: "
                         f"relative change {res:.3g} > tol {tol:.3g} after {self.max_iter} "
                         f"fixed-point iterations (converges when eta times the vector "
                         f"field's Lipschitz constant is < 1: lower delta, or raise max_iter)")

    @property
    def _keeps_prev(self) -> bool:
        """Is ``theta_{k-1}`` needed: some beta, alpha or lookahead non-zero, or a term on
        ``dz[k]``? (A rule with none of them, e.g. GDA's or CO's, keeps no state.)"""
        coupled = any(v != 0 for i in PLAYERS for k in ("beta", "alpha", "lookahead")
                      for v in self._coef(i, k))
        return coupled or (self.rule is not None and any(t.vector == "d"
                                                         for t in self.rule.terms))

    def _general_step(self, closure):
        keep = self._keeps_prev
        d = {i: [t.detach() for t in self._displacement(i)] for i in PLAYERS} if keep else None
        ps = {i: self.player_params(i) for i in PLAYERS}
        moved = self.rule.proximal or any(v != 0 for i in PLAYERS
                                          for v in self._coef(i, "lookahead"))
        theta = {i: [p.detach().clone() if keep or moved else p.detach() for p in ps[i]]
                 for i in PLAYERS}     # a copy where the parameters move before the commit
        if self.rule.proximal:
            ev, new = self._proximal(closure, theta, d)
        else:
            ev, oracle = self._oracle(closure)
            with self._lookahead_point(d):
                new = self._new_point(oracle, theta, d)
                if not self.rule.is_linear_explicit:
                    new = self._coupled_solve(oracle, theta, new)
        state = [{"prev": t} for i in PLAYERS for t in theta[i]] if keep else None
        self._commit(ps["x"] + ps["y"], new["x"] + new["y"], state, final=True)
        return ev.losses_detached()

    def _step(self, closure):
        if self._general:
            return self._general_step(closure)
        return super()._step(closure)


class RuleAdam(LEADAdam):
    """Adam preconditioning of a derived rule (LEAD Algorithm 2 for any explicit rule):
    alternating, each player's direction per unit eta,
    ``g + (alpha / eta) grad_ij L_i d_j + sum_t (c_t / eta) O_t``, goes through Adam;
    the rule's momentum ``beta`` is replaced by Adam's first moment. For LEAD's rule this
    is :class:`~optimizers.LEADAdam` with ``alpha = rule.alpha / rule.eta``.
    Built by ``from_rule(rule, ..., precondition="adam", lr=..., betas=..., eps=...)``.
    """

    def __init__(self, params_x, params_y, rule: UpdateRule, lr, betas=(0.9, 0.999),
                 eps=1e-8, *, mixed_mode=None, nonfinite="raise", max_grad_norm=None,
                 set_grad=True):
        if not rule.is_explicit or rule.lookahead != 0.0:
            raise ValueError(f"rule {rule.name!r}: Adam preconditioning is implemented for "
                             "explicit rules evaluated at the current point (no implicit "
                             "coupling, no proximal step, lookahead 0)")
        if any(t.vector is not None for t in rule.terms):
            raise ValueError(f"rule {rule.name!r}: Adam preconditioning takes field terms "
                             "only (no operator on the step)")
        self.rule = rule
        super().__init__(params_x, params_y, lr=lr, alpha=rule.alpha / rule.eta, betas=betas,
                         eps=eps, mixed_mode=mixed_mode, nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)

    def _coupled(self, i) -> bool:
        return super()._coupled(i) or bool(self.rule.terms)

    def _direction(self, ev, i):
        g, m = super()._direction(ev, i)
        if not self.rule.terms:
            return g, m
        oracle = EvaluationDerivatives(ev, {j: self.player_params(j) for j in PLAYERS})
        k = PLAYERS.index(i)
        extra = [(t.coefficient / self.rule.eta, _apply(t, oracle, None)[k])
                 for t in self.rule.terms]
        for c, T in extra:                                         # g + sum (c_t/eta) O_t
            g = axpy(g, c, T)
        return g, m


def _check_rule(rule, label: str) -> UpdateRule:
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"{label} must be an integrators.rule.UpdateRule, "
                        f"got {type(rule).__name__}")
    return rule


def from_rule(rule, params_x, params_y, *, precondition=None, lr=None, betas=(0.9, 0.999),
              eps=1e-8, tol=None, max_iter=100, alternating=False, mixed_source="own",
              mixed_mode=None, nonfinite="raise", max_grad_norm=None, set_grad=True):
    """An optimizer that iterates ``rule`` (an ``UpdateRule``, or a pair ``(rule_x, rule_y)``
    of explicit rules giving each player its own coefficients). Options as for
    :class:`~optimizers.LEAD`; ``tol`` (default 1e-10 in float64) and ``max_iter`` bound
    the inner solve of implicit and proximal rules (module docstring).

    ``precondition="adam"``: a :class:`RuleAdam` with Adam's ``lr``, ``betas``, ``eps``
    (the rule's own ``eta`` only sets the scale of its other terms).
    """
    if precondition not in PRECONDITIONERS:
        raise ValueError(f"Invalid precondition: must be None or 'adam', got {precondition!r}")
    if precondition == "adam":
        if lr is None:
            raise ValueError("precondition='adam' needs Adam's learning rate lr")
        return RuleAdam(params_x, params_y, _check_rule(rule, "rule"), lr, betas, eps,
                        mixed_mode=mixed_mode, nonfinite=nonfinite,
                        max_grad_norm=max_grad_norm, set_grad=set_grad)
    if lr is not None:
        raise ValueError("lr is the rule's eta; pass lr only with precondition='adam'")
    if isinstance(rule, (tuple, list)):
        if len(rule) != 2:
            raise ValueError(f"expected one UpdateRule or a pair (rule_x, rule_y), "
                             f"got {len(rule)} rules")
        rules = tuple(_check_rule(r, f"rule_{p}") for r, p in zip(rule, "xy"))
        for r in rules:
            if r.terms or not r.is_explicit:
                raise ValueError(f"a pair of rules must be explicit without further force "
                                 f"terms; {r.name!r} is not (pass one rule)")
        coef = {k: tuple(getattr(r, k) for r in rules) for k in _PER_PLAYER}
        name, single = "/".join(r.name for r in rules), None
    else:
        single = _check_rule(rule, "rule")
        coef = {k: getattr(single, k) for k in _PER_PLAYER}
        name = single.name
    return RuleOptimizer(params_x, params_y, coef["eta"], coef["beta"], coef["alpha"],
                         coef["lookahead"], name=name, rule=single, tol=tol, max_iter=max_iter,
                         alternating=alternating, mixed_source=mixed_source,
                         mixed_mode=mixed_mode, nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)
