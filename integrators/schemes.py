"""Discretization schemes of the equations of motion (LEAD eq. 10, eq. 11, App. B eq. 32).

A :class:`Scheme` is a value. For a particle of mass ``m`` under
``m v' = F_curl + F_mag + F_fric`` with ``x' = v``, one step of size ``delta`` is::

    x[k+1] - x[k] = delta * v[k+s]                                   (position, eq. 11)
    m (v[j+1] - v[j]) = delta * ( -grad L(x[j + c])                   (curl, eq. 6)
                                  - q' B(x[j + c]) v_opp[j + g]        (magnetic, eq. 7)
                                  - mu v[j + r] )                      (friction, eq. 8)

where each of ``s, c, g, r`` is 0 for an *explicit* term (taken at step ``j``) and 1 for
an *implicit* one (taken at ``j + 1``), ``q'`` is the charge factor (q under eq. 7,
2q under the slides) and ``B`` the mixed block, evaluated where the gradient is. The
velocity update used is the one of step ``j = k`` for the implicit position relation
and ``j = k - 1`` for the explicit one (where ``x[k+1]`` depends on ``v[k]``). Prop. 1 / eq. 32 is ``position``
implicit and every force explicit (:data:`SEMI_IMPLICIT`).

``extrapolation`` evaluates the force at ``x[j] + gamma (x[j] - x[j-1])`` instead of
``x[j]``: a number gamma, or ``"momentum"`` for gamma = beta, the position the particle
would reach coasting under friction alone (Nesterov's look-ahead).

The derivation (``integrators.derive``) turns a scheme and a force set into the
two-step rule in positions; ``SCHEMES`` names the family and :func:`get_scheme` looks
a name up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Union

EXPLICIT, IMPLICIT = "explicit", "implicit"
_LEVELS = (EXPLICIT, IMPLICIT)


@dataclass(frozen=True)
class Scheme:
    """Which terms of eq. 10 a discretization takes at step k (explicit) or k+1 (implicit).

    Parameters
    ----------
    name: a label.
    position: the relation ``x[k+1] - x[k] = delta v`` uses ``v[k+1]`` (``"implicit"``,
        eq. 32a) or ``v[k]`` (``"explicit"``).
    curl: the gradient force at ``x[k]`` or at ``x[k+1]`` (a proximal-point step).
    magnetic: the magnetic force uses the opponent's velocity ``v[k]`` or ``v[k+1]``
        (the latter couples the players' new steps through a linear solve).
    friction: friction uses ``v[k]`` or ``v[k+1]``.
    extrapolation: ``None``, a finite number gamma, or ``"momentum"`` (gamma = beta):
        forces are evaluated at ``x[k] + gamma (x[k] - x[k-1])``; needs an implicit
        position relation and an explicit curl.
    description: one line for listings.
    """

    name: str = "custom"
    position: str = IMPLICIT
    curl: str = EXPLICIT
    magnetic: str = EXPLICIT
    friction: str = EXPLICIT
    extrapolation: Optional[Union[float, str]] = None
    description: str = ""

    def __post_init__(self):
        for term in ("position", "curl", "magnetic", "friction"):
            level = getattr(self, term)
            if level not in _LEVELS:
                raise ValueError(f"scheme {self.name!r}: {term} must be 'explicit' or "
                                 f"'implicit', got {level!r}")
        ext = self.extrapolation
        if ext is not None:
            if isinstance(ext, str):
                if ext != "momentum":
                    raise ValueError(f"scheme {self.name!r}: extrapolation must be None, a "
                                     f"number or 'momentum', got {ext!r}")
            else:
                try:
                    ext = float(ext)
                except (TypeError, ValueError):
                    raise ValueError(f"scheme {self.name!r}: extrapolation must be None, a "
                                     f"number or 'momentum', got {ext!r}") from None
                if not math.isfinite(ext):
                    raise ValueError(f"scheme {self.name!r}: extrapolation must be finite")
                object.__setattr__(self, "extrapolation", ext)
            if self.position != IMPLICIT or self.curl != EXPLICIT:
                raise ValueError(f"scheme {self.name!r}: extrapolation needs an implicit "
                                 "position relation and an explicit curl force")

    def level(self, term: str) -> int:
        """0 for a term taken at step k (explicit), 1 at step k+1 (implicit)."""
        return _LEVELS.index(getattr(self, term))

    def replace(self, **changes) -> "Scheme":
        """A copy with some fields changed (the scheme is frozen)."""
        from dataclasses import replace
        return replace(self, **changes)


SEMI_IMPLICIT = Scheme(
    "semi-implicit", description="Prop. 1 / eq. 32: positions implicit in velocity, "
    "forces explicit (LEAD)")
EXPLICIT_EULER = Scheme(
    "explicit", position=EXPLICIT, description="fully explicit Euler: x[k+1] = x[k] + "
    "delta v[k]; forces at step k (gradient delayed by one step in positions)")
IMPLICIT_FRICTION = Scheme(
    "implicit-friction", friction=IMPLICIT, description="as Prop. 1 but friction on "
    "v[k+1]: beta = m/(m + mu delta)")
IMPLICIT_MAGNETIC = Scheme(
    "implicit-magnetic", magnetic=IMPLICIT, description="as Prop. 1 but the magnetic force "
    "on v[k+1]: a linear solve, CGD-like (I + a^2 D_xy D_yx)^-1 preconditioning")
NESTEROV = Scheme(
    "nesterov", extrapolation="momentum", description="as Prop. 1 but forces at the "
    "extrapolated point x[k] + beta (x[k] - x[k-1])")
IMPLICIT_CURL = Scheme(
    "implicit-curl", curl=IMPLICIT, description="gradient at x[k+1] (proximal point with "
    "momentum): a nonlinear solve per step")

#: the named family; users can build their own :class:`Scheme`.
SCHEMES: Dict[str, Scheme] = {s.name: s for s in (
    SEMI_IMPLICIT, EXPLICIT_EULER, IMPLICIT_FRICTION, IMPLICIT_MAGNETIC, NESTEROV,
    IMPLICIT_CURL)}


def get_scheme(scheme: Union[str, Scheme]) -> Scheme:
    """A :class:`Scheme` or the name of one in :data:`SCHEMES`."""
    if isinstance(scheme, Scheme):
        return scheme
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; valid schemes: {', '.join(SCHEMES)}")
    return SCHEMES[scheme]
