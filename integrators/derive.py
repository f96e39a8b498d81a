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

The elimination is symbolic: positions, velocities, the gradient at the evaluation point
and the mixed block are sympy symbols (scalar surrogates of the vectors and of the
matrix ``grad_xy L_x``; every term is linear in them, so the coefficients are the
same for vectors). Charge: ``Magnetic(q, convention="eq7")`` puts ``q`` in front of
the mixed block (eq. 7) and Prop. 1's scheme gives ``alpha = q delta / m``; the slides'
``2q`` gives ``alpha = 2 q delta / m`` (Prop. 1's printed ``alpha = 2 q delta``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple, Union

import sympy as sp

from mechanics.forces import CHARGE_CONVENTIONS, Curl, ForceSum, Friction, Magnetic

from .rule import UpdateRule
from .schemes import Scheme, get_scheme

#: the physical parameters every coefficient is an expression of.
delta, m, mu, q = sp.symbols("delta m mu q", positive=True)
PARAMETERS = {"delta": delta, "m": m, "mu": mu, "q": q}
FORCES = ("curl", "magnetic", "friction")
COEFFICIENTS = ("beta", "eta", "alpha", "alpha_implicit", "lookahead")


def _force_names(forces) -> Tuple[Tuple[str, ...], Optional[str]]:
    """Names of a force set given as names, a comma string, or mechanics forces.

    Returns the names and the charge convention of a given :class:`Magnetic` (or None).
    """
    if isinstance(forces, str):
        forces = forces.split(",")
    if isinstance(forces, ForceSum):
        forces = tuple(forces)
    elif isinstance(forces, (Curl, Magnetic, Friction)):
        forces = (forces,)
    names, convention = [], None
    for f in forces:
        if isinstance(f, str):
            name = f.strip()
        elif isinstance(f, (Curl, Magnetic, Friction)):
            name = type(f).__name__.lower()
            if isinstance(f, Magnetic):
                convention = f.convention
        else:
            raise TypeError(f"a force must be a name or Curl/Magnetic/Friction, got {f!r}")
        if name not in FORCES:
            raise ValueError(f"unknown force {name!r}; valid forces: {', '.join(FORCES)}")
        if name in names:
            raise ValueError(f"force {name!r} listed twice")
        names.append(name)
    if not names:
        raise ValueError("at least one force is needed")
    return tuple(n for n in FORCES if n in names), convention


@dataclass(frozen=True)
class DerivedRule:
    """A two-step rule in positions derived from a scheme (see the module docstring).

    ``beta, eta, alpha, alpha_implicit, lookahead`` are sympy expressions of
    ``delta, m, mu, q``. ``implicit_gradient`` is True when the gradient is taken at
    the *new* point (an implicit curl force: a proximal-point rule that needs a
    nonlinear solve and has no :class:`UpdateRule`). ``position_update`` is the solved
    x rule ``dx[k+1] = ...`` in the scalar surrogate symbols (the derivation's output,
    kept for inspection).
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

    # ----------------------------------------------------------------- numbers
    def coefficients(self) -> Dict[str, sp.Expr]:
        return {k: getattr(self, k) for k in COEFFICIENTS}

    def values(self, delta: float, mu: Optional[float] = None, q: Optional[float] = None,
               mass: float = 1.0) -> Dict[str, float]:
        """The coefficients as floats for given ``delta, mu, q`` and mass ``m``.

        A parameter may be left out only if no coefficient depends on it.
        """
        given = {"delta": delta, "mu": mu, "q": q, "m": mass}
        subs = {}
        for name, value in given.items():
            if value is None:
                continue
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a real number, got {value!r}") from None
            if not sp.Float(value).is_finite:
                raise ValueError(f"{name} must be finite, got {value}")
            subs[PARAMETERS[name]] = value
        for name in ("delta", "m"):
            if subs.get(PARAMETERS[name], 1.0) <= 0:
                raise ValueError(f"{name} must be > 0, got {subs[PARAMETERS[name]]}")
        if subs.get(PARAMETERS["mu"], 0.0) < 0:
            raise ValueError(f"mu must be >= 0, got {subs[PARAMETERS['mu']]}")
        out = {}
        for key, expr in self.coefficients().items():
            missing = sorted(str(s) for s in expr.free_symbols if s not in subs)
            if missing:
                raise ValueError(f"coefficient {key} = {expr} needs a value for {missing[0]}")
            out[key] = float(expr.subs(subs))
        return out

    def to_update_rule(self, delta: float, mu: Optional[float] = None,
                       q: Optional[float] = None, mass: float = 1.0,
                       name: Optional[str] = None) -> UpdateRule:
        """The numeric :class:`UpdateRule` (substitutes numbers in the expressions)."""
        if self.implicit_gradient:
            raise ValueError(f"scheme {self.scheme.name!r} takes the gradient at the new point "
                             "(implicit curl): a proximal-point rule, not an UpdateRule")
        if "curl" not in self.forces:
            raise ValueError("without the curl force the rule has no gradient term (eta = 0)")
        v = self.values(delta, mu, q, mass)
        return UpdateRule(beta=v["beta"], eta=v["eta"], alpha=v["alpha"],
                          lookahead=v["lookahead"], alpha_implicit=v["alpha_implicit"],
                          name=name or f"{self.scheme.name}[{'+'.join(self.forces)}]")

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
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def __str__(self) -> str:
        return self.text()


def _solve_step(scheme: Scheme, forces: Tuple[str, ...], charge: sp.Expr):
    """Eliminate the velocities from one step of ``scheme`` and solve for the new x step.

    Scalar surrogates: ``D1x = x[k] - x[k-1]``, ``D2x = x[k+1] - x[k]`` (same for y),
    ``G`` the gradient of L_x at the force point, ``B`` the mixed block grad_xy L_x.
    With the position relation ``x[i+1] - x[i] = delta v[i+s]`` (s = 1 implicit, 0
    explicit), the velocity update of step ``j = k - 1 + s`` involves only
    ``v[j] = D1x / delta`` and ``v[j+1] = D2x / delta``, whatever ``s`` is.
    """
    D1x, D1y, D2x, D2y, G, B = sp.symbols("D1x D1y D2x D2y G B")
    vx = {0: sp.Symbol("vx_j"), 1: sp.Symbol("vx_j1")}
    vy = {0: sp.Symbol("vy_j"), 1: sp.Symbol("vy_j1")}
    force = 0
    if "curl" in forces:
        force += -G
    if "magnetic" in forces:
        force += -charge * B * vy[scheme.level("magnetic")]
    if "friction" in forces:
        force += -mu * vx[scheme.level("friction")]
    velocity_eq = sp.Eq(m * (vx[1] - vx[0]), delta * force)          # eq. 32c
    position = {vx[0]: D1x / delta, vx[1]: D2x / delta,             # eq. 32a
                vy[0]: D1y / delta, vy[1]: D2y / delta}             # eq. 32b
    solved = sp.solve(velocity_eq.subs(position), D2x, dict=True)
    if len(solved) != 1:
        raise ValueError(f"scheme {scheme.name!r}: the step equation has no unique solution")
    update = sp.expand(solved[0][D2x])
    poly = sp.Poly(update, D1x, D1y, D2y, G, B)
    slots = {(1, 0, 0, 0, 0): "beta", (0, 0, 0, 1, 0): "eta", (0, 1, 0, 0, 1): "alpha",
             (0, 0, 1, 0, 1): "alpha_implicit"}
    coeffs = {k: sp.Integer(0) for k in slots.values()}
    for monomial, c in poly.as_dict().items():
        if monomial not in slots:
            raise ValueError(f"scheme {scheme.name!r} does not give a two-step rule: "
                             f"unexpected term {sp.Mul(c, *[s**e for s, e in zip(poly.gens, monomial)])}")
        coeffs[slots[monomial]] = c
    signs = {"beta": 1, "eta": -1, "alpha": -1, "alpha_implicit": -1}
    coeffs = {k: _tidy(signs[k] * v) for k, v in coeffs.items()}
    return coeffs, sp.Eq(D2x, update)


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
    forces: names (``"curl,magnetic,friction"`` or a list) or mechanics forces
        (``Curl() + Magnetic(q) + Friction(mu)``; their numbers are ignored, the
        derivation is symbolic in ``q, mu``).
    scheme: a :class:`Scheme` or a name in ``integrators.schemes.SCHEMES``.
    convention: the magnetic charge convention, ``"eq7"`` (q, the default) or
        ``"slides"`` (2q); taken from a given :class:`Magnetic` when left out.
    """
    names, given = _force_names(forces)
    if convention is None:
        convention = given or "eq7"
    if convention not in CHARGE_CONVENTIONS:
        raise ValueError(f"unknown charge convention {convention!r}; "
                         f"valid: {', '.join(CHARGE_CONVENTIONS)}")
    if given is not None and given != convention:
        raise ValueError(f"the Magnetic force uses convention {given!r} but convention="
                         f"{convention!r} was asked for")
    scheme = get_scheme(scheme)
    charge = sp.Integer(int(CHARGE_CONVENTIONS[convention])) * q
    coeffs, update = _solve_step(scheme, names, charge)
    # where the forces are evaluated, relative to z[k], in units of dz[k] (module doc)
    if scheme.position == "explicit":
        lookahead = sp.Integer(-1)           # the velocity update of step k-1: x[k-1]
    elif scheme.extrapolation == "momentum":
        lookahead = coeffs["beta"]
    else:
        lookahead = sp.nsimplify(scheme.extrapolation or 0)
    implicit_gradient = "curl" in names and scheme.curl == "implicit"
    if implicit_gradient and scheme.position == "explicit":
        lookahead, implicit_gradient = sp.Integer(0), False  # curl at x[k]: step k's point
    return DerivedRule(scheme=scheme, forces=names, convention=convention,
                       lookahead=_tidy(lookahead), implicit_gradient=implicit_gradient,
                       position_update=update, **coeffs)
