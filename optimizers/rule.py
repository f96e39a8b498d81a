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
  ``ValueError`` naming the residual and the parameters stay at the last step (under
  the default ``unconverged="raise"``, below). On a network with kinks (ReLU) the map is
  discontinuous and need not have a fixed point: the iteration can cycle between two
  activation patterns (seen on a small ReLU GAN under Adam preconditioning), and the
  step raises.

An inner solve that ends above ``tol`` (GMRES or the fixed point at ``max_iter``; the
fixed point also at a non-finite change, while GMRES's non-finite residual, which comes
with a non-finite iterate, is left to ``nonfinite``) is *unconverged*; the option
``unconverged`` decides: ``"raise"`` (default) raises ``ValueError`` naming the residual, ``tol`` and
``max_iter`` with the parameters left at the last step; ``"accept"`` takes the last
iterate as the step and counts the solve. The inner iterations and residual of the last
step and the count of unconverged solves are in each parameter's ``state``
(``solve_iterations``, ``solve_residual``, ``solve_total_iterations``,
``solve_unconverged``: they survive ``state_dict()`` / ``load_state_dict()``);
:attr:`RuleOptimizer.last_solve`, ``inner_iterations`` and ``unconverged_solves`` are
read-only views of them. ``precondition="adam"`` returns a
:class:`RuleAdam` (LEAD Algorithm 2 for any rule: the direction of the rule's own
step without its momentum, per unit eta, through Adam).

A rule without the gradient term (``eta = 0``, a member without the curl force) runs
when a field term moves it (consensus alone: Hamiltonian gradient descent,
``theta <- theta - gamma delta^2/m J^T v``).
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from typing import NamedTuple, Optional

import torch

from integrators.rule import UpdateRule
from mechanics.forces import PRIMITIVES

from .autodiff import OTHER, PLAYERS, dot, grads
from .base import Hyper, nonnegative, positive, real
from .functional import axpy, lead_update
from .krylov import gmres
from .lead import TwoStepOptimizer
from .lead_adam import LEADAdam

#: UpdateRule fields an optimizer takes per player (from a pair of rules).
_PER_PLAYER = ("eta", "beta", "alpha", "lookahead")
PRECONDITIONERS = (None, "adam")


class EvaluationDerivatives:
    """The derivative oracle of forces (:mod:`mechanics.derivatives`) on an optimizer's
    :class:`~optimizers.autodiff.Evaluation`: pairs of parameter lists ``(u_x, u_y)``.

    ``players``: the players whose components of each product are wanted (both by
    default). For one player ``i`` the products return ``None`` for the other player's
    component and compute only what player i needs (its own Hessian-block product, a
    reverse pass with player i's parameters alone as inputs); :meth:`vector_field` stays
    whole, since other operators take it as their vector (consensus' ``J^T v``)."""

    def __init__(self, ev, params, players=PLAYERS):
        unknown = set(players) - set(PLAYERS)
        if unknown or not players:
            raise ValueError(f"players must be a non-empty subset of {PLAYERS}, got {players!r}")
        self.ev, self.params = ev, params
        self.players = tuple(i for i in PLAYERS if i in players)    # in PLAYERS order

    def _each(self, fn):
        """``(fn("x"), fn("y"))``, ``None`` in place of a player not wanted."""
        return tuple(fn(i) if i in self.players else None for i in PLAYERS)

    def joint(self) -> "EvaluationDerivatives":
        """This oracle with both players' components (on the same evaluation)."""
        return self if self.players == PLAYERS else EvaluationDerivatives(self.ev, self.params)

    def position(self):
        """Both players' parameters (whole for every oracle: no cost to compute)."""
        return tuple([p.detach() for p in self.params[i]] for i in PLAYERS)

    def vector_field(self):
        return self.ev.grad("x"), self.ev.grad("y")

    def own_gradients(self):
        """The wanted components of the vector field, ``grad_i L_i``."""
        return self._each(self.ev.grad)

    def mixed(self, ux, uy):
        u = {"x": ux, "y": uy}
        return self._each(lambda i: self.ev.hvp(i, i, OTHER[i], u[OTHER[i]]))

    def jvp(self, ux, uy):
        """``J u``: ``(J u)_i = grad_ii L_i u_i + grad_ij L_i u_j``."""
        h = self.ev.hvp
        return self._each(lambda i: [a + b for a, b in zip(h(i, i, "x", ux), h(i, i, "y", uy))])

    def vjp(self, ux, uy):
        """``J^T u = grad <v, u>``: one reverse pass through the gradients' graphs, with the
        wanted players' parameters as its inputs."""
        gx = self.ev.grad_wrt("x", "x", graph=True)
        gy = self.ev.grad_wrt("y", "y", graph=True)
        inputs = [p for i in self.players for p in self.params[i]]
        out = [t.detach() for t in grads(dot(gx, ux) + dot(gy, uy), inputs, retain_graph=True)]
        if self.players == PLAYERS:
            n = len(self.params["x"])
            return out[:n], out[n:]
        return self._each(lambda i: out)


class SolveStats(NamedTuple):
    """The inner solve of the last step: ``kind`` (``"gmres"`` or ``"fixed_point"``),
    its iterations and final relative residual."""

    kind: str
    iterations: int
    residual: float


#: per-parameter state the inner solve of implicit and proximal rules leaves (numbers, so
#: they travel in ``state_dict()``): the last step's iterations and relative residual, the
#: iterations summed over all steps, and the number of solves that ended above ``tol``
#: (accepted under ``unconverged="accept"``; for Adam preconditioning: this player's solves).
SOLVE_KEYS = ("solve_iterations", "solve_residual", "solve_total_iterations",
              "solve_unconverged")

#: what an inner solve ending above ``tol`` does (module docstring).
UNCONVERGED_POLICIES = ("raise", "accept")


def _apply(term, oracle, u):
    """A rule term's operator at the oracle's point on the joint vector ``u`` (a pair): the
    oracle's players' components (a force's own operator gets the joint oracle unless
    the force declares ``per_player_operators``)."""
    op = term.term.operator
    if op is not None and op not in PRIMITIVES and not getattr(term.force,
                                                               "per_player_operators", False):
        oracle = oracle.joint()
    return term.force.apply(term.term, oracle, u)


def _norm(v) -> float:
    return math.sqrt(sum(float(dot(t, t)) for t in v.values()))


def _joint(fn, a, b):
    """``{player: [fn(a_k, b_k)]}`` over both players' tensor lists."""
    return {i: [fn(u, v) for u, v in zip(a[i], b[i])] for i in PLAYERS}


class _RuleSolver:
    """The step of a derived rule at the closure's derivatives, the one implementation that
    :class:`RuleOptimizer` (the rule's own step) and :class:`RuleAdam` (the step of the rule
    without its momentum, per unit: Adam's direction) share.

    In units of ``self._unit`` (1 for the plain rule, :attr:`UpdateRule.unit` for Adam), the
    step ``s`` of one iteration is ``s / unit = lead_update(None, g, d, C d, lr, beta,
    alpha, terms)`` (:func:`integrators.updates.lead_update`, coefficients from
    :meth:`_core_coefficients`) plus the implicit terms: ``(I + K) s = r`` (GMRES) for
    implicit coupling, the fixed point ``s = r(theta + s)`` for proximal rules.
    """

    rule: UpdateRule
    _unit: float = 1.0

    def _init_solver(self, tol, max_iter, unconverged):
        if tol is not None:
            positive("tol", tol)
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"Invalid max_iter: expected an integer >= 1, got {max_iter!r}")
        if unconverged not in UNCONVERGED_POLICIES:
            raise ValueError(f"Invalid unconverged: must be one of {UNCONVERGED_POLICIES}, "
                             f"got {unconverged!r}")
        self.tol, self.max_iter, self.unconverged = tol, max_iter, unconverged

    def _unconverged(self, what, iterations, residual, tol, hint):
        """An inner solve ended above ``tol``: raise (``unconverged="raise"``) or go on."""
        if self.unconverged == "raise":
            raise ValueError(f"{self.name}: the {what} did not converge at step "
                             f"{self.game_step + 1}: relative residual {residual:.3g} > tol "
                             f"{tol:.3g} after {iterations} iterations (max_iter "
                             f"{self.max_iter}). {hint}, or pass unconverged='accept' to "
                             f"take the last iterate as the step and count the solve. "
                             f"Parameters left at step {self.game_step}")

    def _core_coefficients(self, grp):
        """``(lr, beta, alpha)`` of the core for a param group, over the unit."""
        raise NotImplementedError

    def _tol(self) -> float:
        """``tol``, or by default 1e-10 in float64 (10 eps in lower precisions)."""
        if self.tol is not None:
            return self.tol
        dtype = self.player_params("x")[0].dtype
        return max(1e-10, 10 * torch.finfo(dtype).eps)

    @property
    def solve_kind(self) -> Optional[str]:
        """``"gmres"`` (implicit coupling), ``"fixed_point"`` (proximal) or None."""
        if self.rule is None or self.rule.is_explicit:
            return None
        return "fixed_point" if self.rule.proximal else "gmres"

    def _nonzero(self, *names) -> bool:
        """Is any of hyperparameters ``names`` non-zero in some group of either player?
        (One pass over the groups: this runs every step.)"""
        return any(g.get(k, 0) != 0 for g in self.param_groups for k in names)

    def _alpha_nonzero(self) -> bool:
        return self._nonzero("alpha")

    def _oracle(self, closure, players=PLAYERS):
        """An evaluation and its derivative oracle for ``players`` (whose components it
        computes, and whose ``.grad`` the evaluation may set); second order (graphs kept
        for Hessian-vector products) only when the rule has a term that needs them."""
        rule = self.rule
        second = bool(rule.terms) or rule.alpha_implicit != 0.0 or self._alpha_nonzero()
        ev = self.evaluation(closure, second_order=second, players=players)
        return ev, EvaluationDerivatives(ev, {i: self.player_params(i) for i in PLAYERS},
                                         players)

    def _step_core(self, oracle, d, s_next=None):
        """``s / unit`` for each of the oracle's players (``{player: tensors}``; both for
        the joint oracle), ``beta d - lr g - alpha C d - sum_t c_t O_t(p)[.]``
        over the unit (the one core, group by group); ``s_next`` (the new step, a
        ``{player: tensors}``) adds the implicit terms on it."""
        rule, unit = self.rule, self._unit
        dj = (d["x"], d["y"]) if d is not None else None
        # the terms first: a term on the whole field (consensus' v) takes both losses'
        # derivatives in player order, x then y, whichever player's step this is, so
        # the reverse passes through both graphs add up in the joint step's order
        terms = [(t.coefficient / unit, _apply(t, oracle, None if t.vector is None else dj))
                 for t in rule.terms if t.vector != "d_next"]
        mixed = oracle.mixed(*dj) if dj is not None and self._alpha_nonzero() else None
        if s_next is not None:
            sn = (s_next["x"], s_next["y"])
            if rule.alpha_implicit != 0.0:
                terms.append((rule.alpha_implicit / unit, oracle.mixed(*sn)))
            terms += [(t.coefficient / unit, _apply(t, oracle, sn)) for t in rule.terms
                      if t.vector == "d_next"]
        g = oracle.own_gradients()
        cs = [c for c, _ in terms]
        out = {}
        for k, i in enumerate(PLAYERS):
            if i not in oracle.players:
                continue
            def core(grp, G, D, M, *T):
                lr, beta, alpha = self._core_coefficients(grp)
                return lead_update(None, G, D, M, lr=lr, beta=beta, alpha=alpha,
                                   terms=list(zip(cs, T)))

            none = [None] * len(g[k])
            out[i] = self.map_groups(i, core, g[k], d[i] if d is not None else none,
                                     mixed[k] if mixed is not None else none,
                                     *[t[k] for _, t in terms])
        return out

    def _coupled_solve(self, oracle, r):
        """``x`` with ``(I + K) x = r`` by GMRES, ``K x = alpha_implicit C(p) x + sum_t c_t
        O_t(p) x`` (the implicit terms; linear, so the unit cancels)."""
        rule, nx = self.rule, len(r["x"])

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

        tol = self._tol()
        res = gmres(matvec, r["x"] + r["y"], tol=tol, max_iter=self.max_iter)
        converged = res.residual <= tol
        # a non-finite residual comes with a non-finite iterate: the nonfinite policy's case
        # (NonFiniteError at the commit, e.g. a rollback in training), not this one's
        if not converged and math.isfinite(res.residual):
            self._unconverged("implicit coupling solve (I + K) u = r (GMRES)", res.iterations,
                              res.residual, tol, "Raise max_iter or tol, or lower the implicit "
                              "coupling")
        return {"x": res.x[:nx], "y": res.x[nx:]}, ("gmres", res.iterations, res.residual,
                                                    converged)

    def _proximal(self, closure, theta, d):
        """Fixed-point iteration ``s <- r(theta + s)`` with every derivative at the new
        point ``w = theta + s`` (module docstring); ``(evaluation at theta, s / unit,
        stats)``."""
        unit = self._unit
        ev0, oracle = self._oracle(closure)
        zero = {i: [torch.zeros_like(t) for t in theta[i]] for i in PLAYERS}
        out = self._step_core(oracle, d, zero)                    # the explicit predictor
        tol, res = self._tol(), math.inf
        finfo = torch.finfo(theta["x"][0].dtype)
        for it in range(1, self.max_iter + 1):
            s = out if unit == 1.0 else {i: [unit * t for t in out[i]] for i in PLAYERS}
            with self.params_at(_joint(torch.add, theta, s)):
                _, oracle = self._oracle(closure)
                new = self._step_core(oracle, d, s)
            change = unit * _norm(_joint(torch.sub, new, out))
            size = unit * _norm(new)
            res = change / max(size, finfo.tiny)
            out = new
            # converged: the change is below tol of the step, or at the rounding level of
            # the parameters themselves (a small step on large weights in float32)
            if res <= tol or change <= 4 * finfo.eps * _norm(
                    _joint(lambda a, b: a + unit * b, theta, out)):
                return ev0, out, ("fixed_point", it, res, True)
            if not math.isfinite(res):
                break
        self._unconverged("proximal (implicit curl) step's fixed-point iteration", it, res,
                          tol, "It converges when eta times the vector field's Lipschitz "
                          "constant is < 1: lower delta, raise max_iter")
        return ev0, out, ("fixed_point", it, res, False)

    def _rule_solve(self, closure, theta, d, players=PLAYERS):
        """``(evaluation, s / unit, stats)``: the rule's step from ``theta`` with
        ``d = dz[k]`` (``None`` if no term needs it), its derivatives at the rule's
        point (lookahead, or the new point of a proximal rule). ``stats``: the inner
        solve's ``(kind, iterations, residual, converged)``, or None for an explicit rule.
        ``players``: whose steps to compute; one player only for an explicit rule (an
        implicit or proximal step couples both players' steps)."""
        if tuple(players) != PLAYERS and not self.rule.is_explicit:
            raise ValueError(f"{self.name}: one player's step alone is defined for explicit "
                             "rules only")
        if self.rule.proximal:
            return self._proximal(closure, theta, d)
        ev, oracle = self._oracle(closure, players)
        stats = None
        with self._lookahead_point(d):              # (the evaluation is lazy: taken here)
            out = self._step_core(oracle, d)
            if not self.rule.is_linear_explicit:
                out, stats = self._coupled_solve(oracle, out)
        return ev, out, stats

    def _solve_state(self, p, stats) -> dict:
        """The :data:`SOLVE_KEYS` state of parameter ``p`` after a solve ``stats``."""
        _, iterations, residual, converged = stats
        st = self.state.get(p, {})
        return {"solve_iterations": int(iterations), "solve_residual": float(residual),
                "solve_total_iterations": int(st.get("solve_total_iterations", 0))
                + int(iterations),
                "solve_unconverged": int(st.get("solve_unconverged", 0)) + (not converged)}

    def _solve_total(self, key, players) -> int:
        """``state[key]`` (a running count) summed over ``players``' first parameters."""
        return sum(int(self.state.get(self.player_params(i)[0], {}).get(key, 0))
                   for i in players)

    def _solve_stats(self, player) -> Optional[SolveStats]:
        st = self.state.get(self.player_params(player)[0], {})
        if self.solve_kind is None or "solve_iterations" not in st:
            return None
        return SolveStats(self.solve_kind, st["solve_iterations"], st["solve_residual"])


class RuleOptimizer(_RuleSolver, TwoStepOptimizer):
    """Two-step rule ``theta_i += beta d_i - lr grad_i L_i(p) - alpha grad_ij L_i(p) d_j
    - sum_t c_t O_t(p)[d]``, implicit and proximal members included (module docstring).

    ``beta`` may be any real number here (a rule derived without friction has
    ``beta = 1``), and ``lr`` may be 0 for a rule whose field terms move it (a member
    without curl, e.g. Hamiltonian gradient descent); built by :func:`from_rule`.

    Implicit and proximal rules keep their inner solve in each parameter's ``state``
    (:data:`SOLVE_KEYS`, saved by ``state_dict()``); :attr:`last_solve`,
    :attr:`inner_iterations` and :attr:`unconverged_solves` read it. ``tol``, ``max_iter``
    and ``unconverged`` (``"raise"`` or ``"accept"``): the inner solve's bounds and what a
    solve ending above ``tol`` does (module docstring).
    """

    hyper = {"lr": Hyper(nonnegative), "beta": Hyper(real), "alpha": Hyper(real),
             "lookahead": Hyper(real)}

    def __init__(self, params_x, params_y, lr, beta, alpha=0.0, lookahead=0.0, *,
                 name="rule", rule: Optional[UpdateRule] = None, tol: Optional[float] = None,
                 max_iter: int = 100, unconverged="raise", alternating=False,
                 mixed_source="own", mixed_mode=None, nonfinite="raise", max_grad_norm=None,
                 set_grad=True):
        self.name, self.rule = name, rule
        general = rule is not None and (bool(rule.terms) or not rule.is_explicit
                                        or rule.eta == 0)
        if general and alternating:
            raise ValueError(f"rule {name!r}: alternating updates are implemented for explicit "
                             "rules without further force terms only")
        if general and mixed_source != "own":
            raise ValueError("mixed_source='opponent' is implemented for explicit rules only")
        self._init_solver(tol, max_iter, unconverged)
        super().__init__(params_x, params_y,
                         dict(lr=lr, beta=beta, alpha=alpha, lookahead=lookahead),
                         alternating=alternating, mixed_source=mixed_source,
                         mixed_mode=mixed_mode, nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)
        if rule is None and any(v == 0 for i in PLAYERS for v in self.group_values(i, "lr")):
            raise ValueError("Invalid lr: must be > 0 (0 only for a derived rule whose field "
                             "terms move it)")
        self._general = general

    @property
    def last_solve(self) -> Optional[SolveStats]:
        """The inner solve of the last completed step (read from ``state``), or None."""
        return self._solve_stats("x")

    @property
    def inner_iterations(self) -> int:
        """Inner iterations summed over all steps (read from ``state``)."""
        return self._solve_total("solve_total_iterations", "x")

    @property
    def unconverged_solves(self) -> int:
        """Inner solves that ended above ``tol``, over all steps (read from ``state``; > 0
        only under ``unconverged="accept"``)."""
        return self._solve_total("solve_unconverged", "x")

    def _core_coefficients(self, grp):
        return grp["lr"], grp["beta"], grp["alpha"]

    @property
    def _keeps_prev(self) -> bool:
        """Is ``theta_{k-1}`` needed: some beta, alpha or lookahead non-zero, or a term on
        ``dz[k]``? (A rule with none of them, e.g. GDA's or CO's, keeps no state.)"""
        coupled = self._nonzero("beta", "alpha", "lookahead")
        return coupled or (self.rule is not None and any(t.vector == "d"
                                                         for t in self.rule.terms))

    def _general_step(self, closure):
        keep = self._keeps_prev
        d = {i: [t.detach() for t in self._displacement(i)] for i in PLAYERS} if keep else None
        ps = {i: self.player_params(i) for i in PLAYERS}
        moved = self.rule.proximal or self._nonzero("lookahead")
        theta = {i: [p.detach().clone() if keep or moved else p.detach() for p in ps[i]]
                 for i in PLAYERS}     # a copy where the parameters move before the commit
        ev, step, stats = self._rule_solve(closure, theta, d)
        new = _joint(torch.add, theta, step)
        state = [{"prev": t} if keep else {} for i in PLAYERS for t in theta[i]]
        if stats is not None:
            for p, st in zip(ps["x"] + ps["y"], state):
                st.update(self._solve_state(p, stats))
        self._commit(ps["x"] + ps["y"], new["x"] + new["y"],
                     state if keep or stats is not None else None, final=True)
        return ev.losses_detached()

    def _step(self, closure):
        if self._general:
            return self._general_step(closure)
        return super()._step(closure)


class RuleAdam(_RuleSolver, LEADAdam):
    """Adam preconditioning of any derived rule (LEAD Algorithm 2), alternating: player x
    at ``(x_t, y_t)``, then player y at ``(x_{t+1}, y_t)``, each moves by Adam
    (lines 8-12 / 16-20) on its part of the rule's direction per unit ``u``, the
    rule's momentum ``beta`` replaced by Adam's first moment:

    ``u = -s0 / unit`` with ``s0`` the step of the rule with ``beta = 0`` (everything
    else as the plain rule computes it: derivatives at its point, implicit coupling
    solved by GMRES, proximal step by fixed point) and ``unit`` = :attr:`UpdateRule.unit`
    (``eta``, or for a member without curl its largest field coefficient). So:

    - explicit rules: ``u = g(p) + (alpha/eta) C(p) d + sum_t (c_t/eta) O_t(p)[d]``,
      ``p = theta + lookahead d``; for LEAD's rule this is :class:`~optimizers.LEADAdam`
      with ``alpha = rule.alpha / rule.eta`` (its own code path);
    - implicit coupling (``implicit-magnetic``): ``(I + K(p)) u = g + (alpha/eta) C d +
      ...``, ``K = alpha_implicit C + ...``: for CGD's rule, Adam on CGD's direction
      ``(I + eta C)^-1 g``;
    - proximal (``implicit-curl``): ``u = v(w) + (alpha/eta) C(w) d + ...`` at
      ``w = theta - eta u`` (the proximal point of the momentum-free step), solved by
      fixed point.

    ``d = theta - theta_prev`` per player at the evaluation (for y, ``d_x = x_{t+1} -
    x_t``), as in Algorithm 2. For an explicit rule each player's direction computes only
    that player's part of the step (its gradient, its own mixed-block product, its
    component of each term); an implicit or proximal rule's takes one solve of the joint
    step (two per game step). The inner solves are in each parameter's ``state``
    (:data:`SOLVE_KEYS`; a player's parameters hold that player's solve); ``tol``,
    ``max_iter`` and ``unconverged`` as for :class:`RuleOptimizer`.
    Built by ``from_rule(rule, ..., precondition="adam", lr=..., betas=..., eps=...)``.
    """

    def __init__(self, params_x, params_y, rule: UpdateRule, lr, betas=(0.9, 0.999),
                 eps=1e-8, *, tol=None, max_iter=100, unconverged="raise", mixed_source="own",
                 mixed_mode=None, nonfinite="raise", max_grad_norm=None, set_grad=True):
        self.rule, self.name = rule, rule.name
        self._unit = rule.unit
        self._general = (bool(rule.terms) or not rule.is_explicit or rule.lookahead != 0.0
                         or rule.eta == 0)
        if self._general and mixed_source != "own":
            raise ValueError("mixed_source='opponent' is implemented for LEAD-like rules only "
                             "(explicit, no further terms, lookahead 0)")
        self._init_solver(tol, max_iter, unconverged)
        self._pending = None          # the solve of the player being stepped (into state)
        super().__init__(params_x, params_y, lr=lr, alpha=rule.alpha / self._unit,
                         betas=betas, eps=eps, mixed_source=mixed_source,
                         mixed_mode=mixed_mode, nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)

    @property
    def last_solve(self) -> Optional[SolveStats]:
        """The last inner solve of the last completed step (player y's), or None."""
        return self._solve_stats("y")

    @property
    def inner_iterations(self) -> int:
        """Inner iterations summed over all steps and both players (from ``state``)."""
        return self._solve_total("solve_total_iterations", PLAYERS)

    @property
    def unconverged_solves(self) -> int:
        """Inner solves that ended above ``tol``, over all steps and both players (from
        ``state``; > 0 only under ``unconverged="accept"``)."""
        return self._solve_total("solve_unconverged", PLAYERS)

    def _core_coefficients(self, grp):
        return self.rule.eta / self._unit, 0.0, grp["alpha"]

    def _lookahead_point(self, d):
        la = self.rule.lookahead
        if la == 0.0:
            return nullcontext()
        return self.params_at({i: axpy([p.detach() for p in self.player_params(i)], la, d[i])
                               for i in PLAYERS})

    def _timed_direction(self, closure, i):
        """LEAD-like rules: LEAD-Adam's direction. Otherwise ``(evaluation, (u_i, None))``
        from the rule's solve (class docstring)."""
        self._pending = None
        if not self._general:
            return super()._timed_direction(closure, i)
        if i == "y":                # y's .grad: at (x_{t+1}, y_t), where its loss is taken
            self._grads_set.discard("y")
        prox = self.rule.proximal       # (theta: the start of the proximal iteration)
        theta = {j: [p.detach().clone() if prox else p.detach()
                     for p in self.player_params(j)] for j in PLAYERS}
        d = {j: [t.detach() for t in self._displacement(j)] for j in PLAYERS}
        # an explicit rule: player i's step alone; otherwise the joint solve's part i
        ev, step, stats = self._rule_solve(closure, theta, d,
                                           (i,) if self.rule.is_explicit else PLAYERS)
        self._pending = stats
        return ev, ([-t for t in step[i]], None)

    def _extra_state(self, p) -> dict:
        """The player's solve (:data:`SOLVE_KEYS`) into ``p``'s new state, if this step
        solved one (LEAD-Adam's hook)."""
        return {} if self._pending is None else self._solve_state(p, self._pending)


def _check_rule(rule, label: str) -> UpdateRule:
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"{label} must be an integrators.rule.UpdateRule, "
                        f"got {type(rule).__name__}")
    return rule


def from_rule(rule, params_x, params_y, *, precondition=None, lr=None, betas=(0.9, 0.999),
              eps=1e-8, tol=None, max_iter=100, unconverged="raise", alternating=False,
              mixed_source="own", mixed_mode=None, nonfinite="raise", max_grad_norm=None,
              set_grad=True):
    """An optimizer that iterates ``rule`` (an ``UpdateRule``, or a pair ``(rule_x, rule_y)``
    of explicit rules giving each player its own coefficients). Options as for
    :class:`~optimizers.LEAD`; ``tol`` (default 1e-10 in float64) and ``max_iter`` bound
    the inner solve of implicit and proximal rules, and ``unconverged`` says what a solve
    ending above ``tol`` does: ``"raise"`` (default, ``ValueError``, parameters unchanged)
    or ``"accept"`` (the last iterate is the step; counted in the state's
    ``solve_unconverged``) (module docstring).

    ``precondition="adam"``: a :class:`RuleAdam` with Adam's ``lr``, ``betas``, ``eps``
    (the rule's own ``eta`` only sets the scale of its other terms), for every rule;
    ``tol`` and ``max_iter`` bound its inner solves as for the plain rule. Adam
    preconditioning is alternating (Algorithm 2), so ``alternating`` does not apply.
    """
    if precondition not in PRECONDITIONERS:
        raise ValueError(f"Invalid precondition: must be None or 'adam', got {precondition!r}")
    if precondition == "adam":
        if lr is None:
            raise ValueError("precondition='adam' needs Adam's learning rate lr")
        if alternating:
            raise ValueError("precondition='adam' is alternating already (LEAD Algorithm 2); "
                             "alternating=True does not apply")
        return RuleAdam(params_x, params_y, _check_rule(rule, "rule"), lr, betas, eps,
                        tol=tol, max_iter=max_iter, unconverged=unconverged,
                        mixed_source=mixed_source,
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
                         unconverged=unconverged, alternating=alternating,
                         mixed_source=mixed_source, mixed_mode=mixed_mode, nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)
