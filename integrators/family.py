"""The family of derived optimizers at once: every subset of the registered forces times
every scheme, with its coefficients, the known optimizer it equals, whether it runs, and
its best spectral radius on a game (LEAD Sec. 3-4; Prop. 2's rate).

:func:`family` derives each member (:func:`integrators.derive.derive`), names the known
optimizer it equals (:data:`KNOWN_AS`; each equality is proven by a test that runs both
optimizers and compares iterates, tests/test_family.py) and, for runnable members (a
position-dependent force: curl, or a field such as consensus -- consensus alone is
Hamiltonian gradient descent; magnetic and friction alone never move the particle from
rest, and such members carry a ``reason``), tunes
the physical parameters (``delta``, ``mu``, ``q``, ``gamma``; mass 1) to minimise the
spectral radius of the member's step map at the game's equilibrium
(:func:`integrators.tuning.tune` on :func:`integrators.discrete.rule_step`, the same core
the torch optimizers run). Members whose rules are identical (e.g. an implicit magnetic
scheme without the magnetic force) are tuned once.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import sympy as sp
import torch

from mechanics.forces import REGISTRY
from mechanics.game import Game

from .derive import DerivedRule, derive, symbol
from .derive import delta as DELTA
from .derive import m as MASS
from .discrete import rule_step
from .rule import RuleTerm, UpdateRule
from .schemes import SCHEMES
from .spectral import Method
from .tuning import tune

#: tuning bounds of the physical parameters (mass m = 1).
BOUNDS = {"delta": (0.01, 2.0), "mu": (0.0, 20.0), "q": (0.0, 10.0), "gamma": (0.0, 5.0)}
DEFAULTS = {"delta": 0.1, "mu": 1.0, "q": 1.0, "gamma": 0.1}

#: (forces, scheme) -> (the known optimizer, the condition under which it is that exactly).
KNOWN_AS: Dict[Tuple[frozenset, str], Tuple[str, str]] = {
    (frozenset({"curl", "friction"}), "semi-implicit"):
        ("heavy ball", "beta = 1 - mu delta/m; GDA when mu = m/delta"),
    (frozenset({"curl", "friction"}), "implicit-friction"):
        ("heavy ball", "beta = m/(m + mu delta)"),
    (frozenset({"curl", "friction"}), "nesterov"):
        ("Nesterov", "beta = 1 - mu delta/m, gradient at x + beta dx"),
    (frozenset({"curl", "friction"}), "implicit-curl"):
        ("proximal point", "mu = m/delta (beta = 0); with momentum otherwise"),
    (frozenset({"curl", "magnetic", "friction"}), "semi-implicit"):
        ("LEAD", "Prop. 1: eta = delta^2/m, alpha = q' delta/m"),
    (frozenset({"curl", "magnetic", "friction"}), "implicit-friction"):
        ("LEAD", "beta = m/(m + mu delta), alpha = q' delta/(m + mu delta)"),
    (frozenset({"curl", "magnetic", "friction"}), "implicit-magnetic"):
        ("CGD", "mu = m/delta and q' = delta (alpha_implicit = eta); CGD-like otherwise"),
    (frozenset({"curl", "friction", "consensus"}), "semi-implicit"):
        ("consensus optimization", "mu = m/delta (beta = 0), gamma as CO's"),
    (frozenset({"friction", "consensus"}), "semi-implicit"):
        ("Hamiltonian gradient descent", "mu = m/delta (beta = 0), lr = gamma delta^2/m; "
                                         "heavy ball on H = |v|^2/2 otherwise"),
}


@dataclass
class Member:
    """One member of the family (see the module docstring)."""

    forces: Tuple[str, ...]
    scheme: str
    derived: Optional[DerivedRule]
    known_as: Optional[str] = None
    known_as_when: Optional[str] = None
    runnable: bool = False
    reason: str = ""
    tuned_spectral_radius: Optional[float] = None
    tuned_parameters: Dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> Dict:
        coef = {} if self.derived is None else self.derived.as_strings()
        out = {"forces": list(self.forces), "scheme": self.scheme, "known_as": self.known_as,
               "runnable": self.runnable, "coefficients": coef,
               "tuned_spectral_radius": self.tuned_spectral_radius}
        if self.known_as_when:
            out["known_as_when"] = self.known_as_when
        if self.tuned_parameters:
            out["tuned_parameters"] = dict(self.tuned_parameters)
        if self.reason:
            out["reason"] = self.reason
        return out


def _parameters(derived: DerivedRule) -> Tuple[str, ...]:
    return tuple(p for p in ("delta", "mu", "q", "gamma") if p in derived.parameters)


def rule_factory(derived: DerivedRule):
    """``hp -> UpdateRule`` for the member's physical parameters (mass 1), with the
    coefficients compiled once (``sympy.lambdify``) instead of substituted per call."""
    names = _parameters(derived)
    syms = [DELTA if n == "delta" else symbol(n) for n in names]
    coeffs = derived.coefficients()
    fns = {k: sp.lambdify(syms, sp.sympify(e).subs(MASS, 1), "math") for k, e in coeffs.items()}

    def make(hp: Mapping[str, float]) -> UpdateRule:
        args = [float(hp[n]) for n in names]
        v = {k: float(f(*args)) for k, f in fns.items()}
        terms = tuple(RuleTerm(t.label, v[t.label], t.force, t.term, t.vector)
                      for t in derived.terms)
        return UpdateRule(beta=v["beta"], eta=v["eta"], alpha=v["alpha"],
                          lookahead=v["lookahead"], alpha_implicit=v["alpha_implicit"],
                          terms=terms, proximal=derived.implicit_gradient,
                          name=f"{derived.scheme.name}[{'+'.join(derived.forces)}]")
    return make, names


def member_method(derived: DerivedRule) -> Method:
    """The member as a :class:`~integrators.spectral.Method` on ``(z[k], z[k-1])``, its
    hyperparameters the physical parameters (for :func:`integrators.tuning.tune`)."""
    make, names = rule_factory(derived)

    def step(game, s, hp):
        d = s.shape[-1] // 2
        z, zp = s[..., :d], s[..., d:]
        return torch.cat([rule_step(make(hp), game, z, zp), z], dim=-1)

    return Method(f"{derived.scheme.name}[{'+'.join(derived.forces)}]", names,
                  {n: DEFAULTS[n] for n in names}, {n: BOUNDS[n] for n in names}, 2, step,
                  description="a derived member of the scheme family")


def _signature(derived: DerivedRule):
    """Two members with equal signatures iterate identically (same rule)."""
    return (tuple(sorted(derived.as_strings().items())), derived.implicit_gradient)


def family(game: Optional[Game] = None, *, forces: Optional[Sequence[str]] = None,
           schemes: Optional[Sequence[str]] = None, tune_radius: bool = True, seed: int = 0,
           starts: int = 16, polish_maxiter: int = 100) -> List[Member]:
    """Every member (non-empty subsets of ``forces``, default all registered, times
    ``schemes``, default all named), ranked by tuned spectral radius on ``game`` (members
    without a radius last). ``starts``: Nelder-Mead starts per member (Sobol points), each
    of at most ``polish_maxiter`` iterations: a survey budget, so a radius is an upper
    bound of the member's best within :data:`BOUNDS`."""
    forces = tuple(REGISTRY if forces is None else forces)
    schemes = tuple(SCHEMES if schemes is None else schemes)
    members, cache = [], {}
    for k in range(1, len(forces) + 1):
        for subset in itertools.combinations(forces, k):
            for scheme in schemes:
                members.append(_member(subset, scheme))
    known = {_signature(m.derived): m for m in members if m.known_as and m.derived is not None}
    for mem in members:                 # the same rule under another scheme: same name
        twin = known.get(_signature(mem.derived)) if mem.derived is not None else None
        if mem.known_as is None and twin is not None:
            mem.known_as = twin.known_as
            mem.known_as_when = f"the {twin.scheme} rule: {twin.known_as_when}"
    for mem in members:
        if not (mem.runnable and tune_radius and game is not None):
            continue
        key = _signature(mem.derived)
        if key not in cache:
            method = member_method(mem.derived)
            try:
                res = tune(method, game, strategy="nelder-mead", starts=starts, seed=seed,
                           polish_maxiter=polish_maxiter)
                cache[key] = (res.spectral_radius, res.params)
            except ValueError as err:
                cache[key] = (None, {"error": str(err)})
        radius, params = cache[key]
        mem.tuned_spectral_radius = radius
        mem.tuned_parameters = {k: v for k, v in params.items() if k != "error"}
        if radius is None:
            mem.reason = params.get("error", "")
    members.sort(key=lambda mem: (mem.tuned_spectral_radius is None,
                                  mem.tuned_spectral_radius or 0.0))
    return members


def _member(subset, scheme) -> Member:
    known = KNOWN_AS.get((frozenset(subset), scheme))
    try:
        derived = derive(list(subset), scheme)
    except ValueError as err:
        return Member(tuple(subset), scheme, None, reason=str(err))
    mem = Member(derived.forces, scheme, derived, known_as=known[0] if known else None,
                 known_as_when=known[1] if known else None)
    if derived.eta == 0 and not any(t.vector is None for t in derived.terms):
        mem.reason = ("no position-dependent force: without curl (eta = 0) and without a "
                      "field such as consensus, the forces act on the velocity only, so the "
                      "particle never moves from rest")
    else:
        mem.runnable = True
    return mem
