"""Symbolic derivation of optimizers from the equations of motion (LEAD Prop. 1, App. B).

:func:`derive` writes one step of a :class:`~integrators.schemes.Scheme` applied to
eq. 10 (``m v' = -grad L - q' B v_opp - mu v``, ``x' = v``) as sympy equations,
eliminates the velocities with the position relation (eq. 32a-b: ``delta v = x[k+1] -
x[k]`` for the implicit relation, one step earlier for the explicit one) and solves for
the new position. The result is the two-step rule of eq. 12 / eq. 33::

    x[k+1] = x[k] + beta dx[k] - eta grad_x L_x(p) - alpha grad_xy L_x(p) dy[k]
             - alpha_implicit grad_xy L_x(p) dy[k+1]

(and the same for ``y``), with ``beta, eta, alpha, alpha_implicit`` exact sympy
expressions of ``delta, m, mu, q`` and ``p = z[k] + lookahead dz[k]``. For a zero-sum
game (``L_x = f, L_y = -f``) the y rule reads ``y[k+1] = y[k] + beta dy[k] + eta grad_y f
+ alpha grad_yx f dx[k] + ...``, which is eq. 12.

The forces are not known here by name: each :class:`mechanics.Force` declares its
terms (``Force.terms``: coefficient, operator, velocity, scheme knob), and every term
that is not the gradient (``eta``), the mixed block on the opponent's step (``alpha``,
``alpha_implicit``) or the own step (``beta``) becomes one more entry of the rule's
``terms`` (e.g. :class:`~mechanics.Consensus`: ``- eta gamma J^T v(p)``). A force
written outside the package derives the same way (docs/DERIVATION.md).

The elimination is symbolic: positions, velocities, the gradient at the evaluation point
and the mixed block are sympy symbols (scalar surrogates of the vectors and of the
matrix ``grad_xy L_x``; every term is linear in them, so the coefficients are the
same for vectors). Charge: ``Magnetic(q, convention="eq7")`` puts ``q`` in front of
the mixed block (eq. 7) and Prop. 1's scheme gives ``alpha = q delta / m``; the slides'
``2q`` gives ``alpha = 2 q delta / m`` (Prop. 1's printed ``alpha = 2 q delta``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Iterable, NamedTuple, Optional, Tuple, Union

import sympy as sp

from mechanics.forces import (CHARGE_CONVENTIONS, REGISTRY, Force, ForceSum, Term,
                              force_from_name, symbol)

from .rule import RuleTerm, UpdateRule
from .schemes import Scheme, get_scheme

#: the physical parameters every coefficient is an expression of (forces add their own).
delta, m = sp.symbols("delta m", positive=True)
mu, q = symbol("mu"), symbol("q")
PARAMETERS = {"delta": delta, "m": m, "mu": mu, "q": q}
COEFFICIENTS = ("beta", "eta", "alpha", "alpha_implicit", "lookahead")


class DerivedTerm(NamedTuple):
    """A term of the rule beyond ``beta, eta, alpha, alpha_implicit``:
    ``- coefficient * operator(p) [d]`` with ``d`` the step ``dz[k]`` (``vector="d"``),
    the new step ``dz[k+1]`` (``"d_next"``) or none (``None``, a field)."""
    label: str
    force: Force
    term: Term
    vector: Optional[str]
    coefficient: sp.Expr


def _with_numbers(force: Force, given: Dict[str, Optional[float]]) -> Force:
    """``force`` with the parameter values given (its operators do not depend on them,
    but a rule's forces then say which numbers made it)."""
    own = {k: float(given[k]) for k in force.parameters() if given.get(k) is not None}
    return replace(force, **own) if own else force


def _force_objects(forces, convention: Optional[str]) -> Tuple[Force, ...]:
    """Force instances of a force set given as names (registered in
    ``mechanics.forces.REGISTRY``), a comma string, or forces; registry order first."""
    if isinstance(forces, str):
        forces = forces.split(",")
    if isinstance(forces, ForceSum):
        forces = tuple(forces)
    elif isinstance(forces, Force):
        forces = (forces,)
    out = []
    for f in forces:
        if isinstance(f, str):
            f = force_from_name(f.strip(), convention=convention)
        elif not isinstance(f, Force):
            raise TypeError(f"a force must be a name or a mechanics.Force, got {f!r}")
        if f.name in [g.name for g in out]:
            raise ValueError(f"force {f.name!r} listed twice")
        out.append(f)
    if not out:
        raise ValueError("at least one force is needed")
    order = list(REGISTRY)
    return tuple(sorted(out, key=lambda f: order.index(f.name) if f.name in order
                        else len(order)))


@dataclass(frozen=True)
class DerivedRule:
    """A two-step rule in positions derived from a scheme (see the module docstring).

    ``beta, eta, alpha, alpha_implicit, lookahead`` are sympy expressions of
    ``delta, m`` and the forces' parameters; ``terms`` the other forces' terms
    (:class:`DerivedTerm`). ``implicit_gradient`` is True when the forces are evaluated
    at the *new* point (an implicit curl force: a proximal-point rule whose step is a
    nonlinear solve). ``position_update`` is the solved x rule ``dx[k+1] = ...`` in the
    scalar surrogate symbols (the derivation's output, kept for inspection).
    """

    scheme: Scheme
    forces: Tuple[str, ...]
    convention: str
    beta: sp.Expr
    eta: sp.Expr
    alpha: sp.Expr
    alpha_implicit: sp.Expr
    lookahead: sp.Expr
    implicit_gradient: bool
    position_update: sp.Expr
    terms: Tuple[DerivedTerm, ...] = ()
    force_objects: Tuple[Force, ...] = ()

    # ----------------------------------------------------------------- numbers
    def coefficients(self) -> Dict[str, sp.Expr]:
        out = {k: getattr(self, k) for k in COEFFICIENTS}
        out.update({t.label: t.coefficient for t in self.terms})
        return out

    @property
    def parameters(self) -> Tuple[str, ...]:
        """Names of the parameters the coefficients depend on (``delta``, ``m``, ...)."""
        names = {str(s) for e in self.coefficients().values() for s in e.free_symbols}
        return tuple(sorted(names))

    def values(self, delta: float, mu: Optional[float] = None, q: Optional[float] = None,
               mass: float = 1.0, **params: Optional[float]) -> Dict[str, float]:
        """The coefficients as floats for given ``delta``, mass ``m`` and force parameters
        (``mu``, ``q``, ``gamma``, ...; each checked by its force's own constructor).

        A parameter may be left out only if no coefficient depends on it.
        """
        given = {"delta": delta, "mu": mu, "q": q, "m": mass, **params}
        subs, numbers = {}, {}
        for name, value in given.items():
            if value is None:
                continue
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a real number, got {value!r}") from None
            if not sp.Float(value).is_finite:
                raise ValueError(f"{name} must be finite, got {value}")
            subs[PARAMETERS.get(name, symbol(name))] = numbers[name] = value
        for name in ("delta", "m"):
            if numbers.get(name, 1.0) <= 0:
                raise ValueError(f"{name} must be > 0, got {numbers[name]}")
        if numbers.get("mu", 0.0) < 0:
            raise ValueError(f"mu must be >= 0, got {numbers['mu']}")
        for force in self.force_objects:     # each force validates its own parameters
            own = {k: numbers[k] for k in force.parameters() if k in numbers}
            if own:
                replace(force, **own)
        out = {}
        for key, expr in self.coefficients().items():
            missing = sorted(str(s) for s in expr.free_symbols if s not in subs)
            if missing:
                raise ValueError(f"coefficient {key} = {expr} needs a value for {missing[0]}")
            out[key] = float(expr.subs(subs))
        return out

    def to_update_rule(self, delta: float, mu: Optional[float] = None,
                       q: Optional[float] = None, mass: float = 1.0,
                       name: Optional[str] = None, **params) -> UpdateRule:
        """The numeric :class:`UpdateRule` (substitutes numbers in the expressions)."""
        v = self.values(delta, mu, q, mass, **params)
        given = {"mu": mu, "q": q, **params}
        terms = tuple(RuleTerm(t.label, v[t.label], _with_numbers(t.force, given), t.term,
                               t.vector) for t in self.terms)
        return UpdateRule(beta=v["beta"], eta=v["eta"], alpha=v["alpha"],
                          lookahead=v["lookahead"], alpha_implicit=v["alpha_implicit"],
                          name=name or f"{self.scheme.name}[{'+'.join(self.forces)}]",
                          terms=terms, proximal=self.implicit_gradient)

    # ---------------------------------------------------------------- printing
    def as_strings(self) -> Dict[str, str]:
        """Coefficients as sympy strings (parseable by ``sympy.sympify``)."""
        return {k: str(v) for k, v in self.coefficients().items()}

    def _point(self, latex: bool) -> str:
        if self.implicit_gradient:
            return "(x_{k+1}, y_{k+1})" if latex else "(x[k+1], y[k+1])"
        la = self.lookahead
        if la == 0:
            return "(x_k, y_k)" if latex else "(x[k], y[k])"
        if la == -1:
            return "(x_{k-1}, y_{k-1})" if latex else "(x[k-1], y[k-1])"
        return (r"(x_k + \gamma \Delta x_k,\ y_k + \gamma \Delta y_k)" if latex
                else "(x[k] + gamma dx[k], y[k] + gamma dy[k])")

    def _equations(self, latex: bool):
        p = "p_k" if latex else "p"
        if latex:
            gx, gy = rf"\nabla_x f({p})", rf"\nabla_y f({p})"
            bxy, byx = rf"\nabla_{{xy}} f({p})", rf"\nabla_{{yx}} f({p})"
            dx, dy, dx1, dy1 = r"\Delta x_k", r"\Delta y_k", r"\Delta x_{k+1}", r"\Delta y_{k+1}"
            a1, b, e, a = r"\alpha'", r"\beta", r"\eta", r"\alpha"
            lx, ly, nx, ny = "x_k", "y_k", "x_{k+1}", "y_{k+1}"
        else:
            gx, gy, bxy, byx = f"grad_x f({p})", f"grad_y f({p})", f"grad_xy f({p})", \
                f"grad_yx f({p})"
            dx, dy, dx1, dy1 = "dx[k]", "dy[k]", "dx[k+1]", "dy[k+1]"
            a1, b, e, a = "alpha_implicit", "beta", "eta", "alpha"
            lx, ly, nx, ny = "x[k]", "y[k]", "x[k+1]", "y[k+1]"
        mul = " " if latex else "*"
        has = {k: getattr(self, k) != 0 for k in ("beta", "eta", "alpha", "alpha_implicit")}
        ex, ey = [f"{nx} = {lx}"], [f"{ny} = {ly}"]
        if has["beta"]:
            ex.append(f"+ {b}{mul}{dx}")
            ey.append(f"+ {b}{mul}{dy}")
        if has["eta"]:
            ex.append(f"- {e}{mul}{gx}")
            ey.append(f"+ {e}{mul}{gy}")
        if has["alpha"]:
            ex.append(f"- {a}{mul}{bxy}{mul}{dy}")
            ey.append(f"+ {a}{mul}{byx}{mul}{dx}")
        if has["alpha_implicit"]:
            ex.append(f"- {a1}{mul}{bxy}{mul}{dy1}")
            ey.append(f"+ {a1}{mul}{byx}{mul}{dx1}")
        for t in self.terms:          # the other forces' terms: - c O(p) [d]
            c = (r"\mathrm{" + t.label.replace("_", r"\_") + "}") if latex else t.label
            op = t.term.operator or "I"
            op_tex = r"\mathrm{" + op.replace("_", r"\_") + "}"
            vec = {None: "", "d": "dz[k]", "d_next": "dz[k+1]"}[t.vector]
            if latex:
                vec = {"": "", "dz[k]": r"\Delta z_k", "dz[k+1]": r"\Delta z_{k+1}"}[vec]
            for side, axis in ((ex, "x"), (ey, "y")):
                o = f"{op_tex}_{axis}({p})" if latex else f"{op}_{axis}({p})"
                side.append(f"- {c}{mul}{o}" + (f"{mul}{vec}" if vec else ""))
        return " ".join(ex), " ".join(ey)

    def _header(self) -> str:
        charge = {"eq7": "q", "slides": "2q"}[self.convention]
        return (f"scheme {self.scheme.name}, forces {' + '.join(self.forces)}, mass m"
                + (f", magnetic force {charge} grad_xy f (convention {self.convention})"
                   if "magnetic" in self.forces else ""))

    def text(self) -> str:
        """The rule and its coefficients as plain text."""
        ex, ey = self._equations(latex=False)
        lines = [self._header(), "  " + ex, "  " + ey, f"  p = {self._point(False)}"]
        if self.lookahead not in (0, -1) and not self.implicit_gradient:
            lines.append(f"  gamma = {self.lookahead}")
        if self.alpha_implicit != 0:
            lines.append("  (dx[k+1], dy[k+1] are coupled: one linear solve per step, "
                         "CGD-like (I - alpha_implicit^2 B_xy B_yx)^-1)")
        for k in ("beta", "eta", "alpha", "alpha_implicit"):
            if getattr(self, k) != 0 or k != "alpha_implicit":
                lines.append(f"  {k} = {getattr(self, k)}")
        lines += [f"  {t.label} = {t.coefficient}" for t in self.terms]
        return "\n".join(lines)

    def latex(self) -> str:
        """The rule and its coefficients as a LaTeX ``aligned`` block."""
        ex, ey = self._equations(latex=True)
        rows = [ex.replace(" = ", " &= ", 1), ey.replace(" = ", " &= ", 1),
                rf"p_k &= {self._point(True)}"]
        if self.lookahead not in (0, -1) and not self.implicit_gradient:
            rows.append(rf"\gamma &= {sp.latex(self.lookahead)}")
        names = {"beta": r"\beta", "eta": r"\eta", "alpha": r"\alpha",
                 "alpha_implicit": r"\alpha'"}
        for k, sym in names.items():
            if getattr(self, k) != 0 or k != "alpha_implicit":
                rows.append(rf"{sym} &= {sp.latex(getattr(self, k))}")
        rows += [r"\mathrm{" + t.label.replace("_", r"\_") + "} &= " + sp.latex(t.coefficient)
                 for t in self.terms]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def __str__(self) -> str:
        return self.text()


def _solve_step(scheme: Scheme, forces: Tuple[Force, ...]):
    """Eliminate the velocities from one step of ``scheme`` and solve for the new x step.

    Scalar surrogates: ``D1x = x[k] - x[k-1]``, ``D2x = x[k+1] - x[k]`` (same for y) and
    one symbol per operator (``O_vector_field`` for the gradient at the force point,
    ``O_mixed`` for the mixed block grad_xy L_x, ``O_<force>_<name>`` for a force's own).
    With the position relation ``x[i+1] - x[i] = delta v[i+s]`` (s = 1 implicit, 0
    explicit), the velocity update of step ``j = k - 1 + s`` involves only
    ``v[j] = D1x / delta`` and ``v[j+1] = D2x / delta``, whatever ``s`` is.

    Returns the coefficients, the extra terms, whether the point is the new one, and
    the solved update.
    """
    D1x, D1y, D2x, D2y = sp.symbols("D1x D1y D2x D2y")
    vx = {0: sp.Symbol("vx_j"), 1: sp.Symbol("vx_j1")}
    vy = {0: sp.Symbol("vy_j"), 1: sp.Symbol("vy_j1")}
    ops, force_sum, field_levels = {}, 0, set()
    for f in forces:
        for t in f.terms():
            if t.vector not in (None, "own", "opponent"):
                raise ValueError(f"force {f.name!r}: a term's vector must be None, 'own' or "
                                 f"'opponent', got {t.vector!r}")
            level = scheme.level(t.level_knob())
            if t.operator is None:
                if t.vector is None:
                    raise ValueError(f"force {f.name!r}: a field term needs an operator")
                o = sp.Integer(1)
            else:
                key = t.operator if t.operator in ("vector_field", "mixed") else (f.name, t.operator)
                if key not in ops:
                    ops[key] = (sp.Symbol("O_" + (key if isinstance(key, str) else "_".join(key))),
                                f, t)
                o = ops[key][0]
            if t.vector is None:
                field_levels.add(level)
                vel = 1
            else:
                vel = (vx if t.vector == "own" else vy)[level]
            force_sum += sp.sympify(t.coefficient) * o * vel
    if len(field_levels) > 1:
        raise ValueError(f"scheme {scheme.name!r}: the fields of these forces are taken at "
                         "different points (one explicit, one implicit)")
    velocity_eq = sp.Eq(m * (vx[1] - vx[0]), delta * force_sum)     # eq. 32c
    position = {vx[0]: D1x / delta, vx[1]: D2x / delta,             # eq. 32a
                vy[0]: D1y / delta, vy[1]: D2y / delta}             # eq. 32b
    solved = sp.solve(velocity_eq.subs(position), D2x, dict=True)
    if len(solved) != 1:
        raise ValueError(f"scheme {scheme.name!r}: the step equation has no unique solution")
    update = sp.expand(solved[0][D2x])
    syms = {v[0]: k for k, v in ops.items()}
    try:
        poly = sp.Poly(update, D1x, D1y, D2y, *syms)
    except sp.PolynomialError:
        raise ValueError(f"scheme {scheme.name!r} does not give a two-step rule: an operator "
                         f"on the player's own new step must be inverted ({update})") from None
    coeffs = {k: sp.Integer(0) for k in ("beta", "eta", "alpha", "alpha_implicit")}
    extra = {}
    for monomial, c in poly.as_dict().items():
        term = sp.Mul(c, *[s**e for s, e in zip(poly.gens, monomial)])
        steps, opx = monomial[:3], monomial[3:]
        if sum(steps) > 1 or sum(opx) > 1 or sum(monomial) == 0:
            raise ValueError(f"scheme {scheme.name!r} does not give a two-step rule: "
                             f"unexpected term {term}")
        vector = {(0, 0, 0): None, (1, 0, 0): "d", (0, 1, 0): "d", (0, 0, 1): "d_next"}[steps]
        if not any(opx):
            if steps != (1, 0, 0):
                raise ValueError(f"scheme {scheme.name!r}: unexpected term {term} (a step "
                                 "of the opponent without an operator)")
            coeffs["beta"] = coeffs["beta"] + c
            continue
        key = list(syms.values())[opx.index(1)]
        _, force, t = ops[key]
        slot = {("vector_field", None): "eta", ("mixed", "d"): "alpha",
                ("mixed", "d_next"): "alpha_implicit"}.get((key, vector))
        if slot is not None and steps[0] == 0:
            coeffs[slot] = coeffs[slot] - c
            continue
        label = t.label or f"{force.name}_{t.operator}"
        label += {None: "", "d": "", "d_next": "_implicit"}[vector]
        if steps[0] == 1 and t.vector != "own":
            label += "_own"
        if label in extra or label in COEFFICIENTS:
            label = f"{force.name}_{label}"
        extra[label] = DerivedTerm(label, force, t, vector, _tidy(-c))
    coeffs = {k: _tidy(v) for k, v in coeffs.items()}
    return coeffs, tuple(extra.values()), field_levels == {1}, sp.Eq(D2x, update)


def _tidy(expr: sp.Expr) -> sp.Expr:
    """The shortest of a few equivalent forms (``1 - delta*mu/m`` rather than ``(m - delta*mu)/m``)."""
    forms = [sp.expand(expr), sp.simplify(expr), sp.factor(expr)]
    return min(forms, key=sp.count_ops)


def derive(forces: Union[str, Iterable] = ("curl", "magnetic", "friction"),
           scheme: Union[str, Scheme] = "semi-implicit",
           convention: Optional[str] = None) -> DerivedRule:
    """Derive the two-step position rule of ``scheme`` applied to eq. 10 with ``forces``.

    Parameters
    ----------
    forces: registered names (``"curl,magnetic,friction,consensus"`` or a list) or
        :class:`mechanics.Force` instances (``Curl() + Magnetic(q) + Friction(mu)``, or a
        force of your own; their numbers are ignored, the derivation is symbolic).
    scheme: a :class:`Scheme` or a name in ``integrators.schemes.SCHEMES``.
    convention: the magnetic charge convention, ``"eq7"`` (q, the default) or
        ``"slides"`` (2q); taken from a given force with a ``convention`` when left out.
    """
    if convention is not None and convention not in CHARGE_CONVENTIONS:
        raise ValueError(f"unknown charge convention {convention!r}; "
                         f"valid: {', '.join(CHARGE_CONVENTIONS)}")
    objs = _force_objects(forces, convention)
    given = {getattr(f, "convention") for f in objs
             if isinstance(getattr(f, "convention", None), str)}
    if convention is None:
        convention = given.pop() if len(given) == 1 else "eq7"
    elif given - {convention}:
        raise ValueError(f"the forces use convention {sorted(given)[0]!r} but convention="
                         f"{convention!r} was asked for")
    scheme = get_scheme(scheme)
    coeffs, extra, at_new_point, update = _solve_step(scheme, objs)
    # where the forces are evaluated, relative to z[k], in units of dz[k] (module doc)
    if scheme.position == "explicit":
        lookahead = sp.Integer(-1)           # the velocity update of step k-1: x[k-1]
    elif scheme.extrapolation == "momentum":
        lookahead = coeffs["beta"]
    else:
        lookahead = sp.nsimplify(scheme.extrapolation or 0)
    implicit_gradient = at_new_point
    if implicit_gradient and scheme.position == "explicit":
        lookahead, implicit_gradient = sp.Integer(0), False  # field at x[k]: step k's point
    return DerivedRule(scheme=scheme, forces=tuple(f.name for f in objs), convention=convention,
                       lookahead=_tidy(lookahead), implicit_gradient=implicit_gradient,
                       position_update=update, terms=extra, force_objects=objs, **coeffs)
