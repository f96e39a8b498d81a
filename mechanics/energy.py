"""Energies: scalar functions ``E(game, state)`` of the game and the phase state.

An energy is any callable ``energy(game, state) -> tensor`` with ``state`` a
:class:`~mechanics.forces.PhaseState` ``(x, y, vx, vy)`` whose parts have shape
``(..., n)`` / ``(..., m)``; it returns shape ``(...)`` and is written in torch, so its
gradient along the dynamics comes from autograd (see :mod:`mechanics.lyapunov`).
Plain functions work; :class:`FunctionEnergy` only adds a name.

Built in:

- :class:`LeadEnergy`: the Lyapunov function of LEAD Thm. 1 for the quadratic game
  (eq. 13), in its consistent form eq. 37 (``form="eq37"``, the default) or with the
  typo of eq. 16 (``form="eq16"``: the second product has ``X'`` where ``Y'`` belongs;
  kept so that tests can show the tool catching a false claim).
- :class:`KineticEnergy`: ``m/2 (|x'|^2 + |y'|^2)``.
- :class:`HamiltonianEnergy`: ``1/2 |v(x, y)|^2`` of the game's vector field (eq. 14).

Eq. 37 assumes: the quadratic game of eq. 13 (``f = h/2|X|^2 - h/2|Y|^2 + X^T A Y``
with A square), moving under eq. 36 = Curl + Magnetic(q) + Friction(mu) with the charge
convention of eq. 7 (magnetic force ``q grad_xy f``) and unit mass. Evaluating E needs
only the game (h, A) and mu; :func:`mechanics.lyapunov.thm1_setting` checks the
dynamics side (and raises a ``ValueError`` naming what does not fit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Tuple

import torch

from .forces import PhaseState

LEAD_FORMS = ("eq37", "eq16")


def _sq(t: torch.Tensor) -> torch.Tensor:
    return (t * t).sum(-1)


def quadratic_parameters(game) -> Tuple[float, torch.Tensor]:
    """``(h, A)`` of a quadratic game of eq. 13 (float64 A), or a ``ValueError``.

    Accepted: games built by :func:`mechanics.quadratic` (``h``, ``A``) and by
    :func:`mechanics.bilinear` with square A (``h = 0``).
    """
    A = getattr(game, "A", None)
    if getattr(game, "zero_sum", False) and A is not None and game.name in ("quadratic", "bilinear"):
        A = torch.as_tensor(A, dtype=torch.float64)
        if A.ndim == 2 and A.shape[0] == A.shape[1]:
            return float(getattr(game, "h", 0.0)), A
    raise ValueError(
        f"the LEAD energy (Thm. 1, eq. 37) is defined for the quadratic game of eq. 13, "
        f"f = h/2 |x|^2 - h/2 |y|^2 + x^T A y with square A (mechanics.quadratic or "
        f"mechanics.bilinear); game {getattr(game, 'name', game)!r} is not one")


class Energy:
    """Base class of the built-in energies (callables ``(game, state) -> tensor``)."""

    name = "energy"

    def __call__(self, game, state: PhaseState) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class LeadEnergy(Energy):
    """LEAD Thm. 1's Lyapunov function of the quadratic game, eq. 37 (or eq. 16's typo)::

        E = 1/2 |X' + mu X + mu A Y|^2 + 1/2 |Y' + mu Y - mu A^T X|^2
            + 1/2 (|X'|^2 + |Y'|^2) + X^T (h + A A^T) X + Y^T (h + A^T A) Y

    With ``q = 2/mu + mu`` its derivative along eq. 36 is eq. 39,
    ``-mu (X^T (h + A A^T) X + Y^T (h + A^T A) Y) - mu (|X'|^2 + |Y'|^2)``, for any
    square A. ``form="eq16"`` replaces the second product by
    ``(Y' + mu Y - mu A^T X)^T (X' + mu Y - mu A^T X)``, as eq. 16 prints it.
    Raises ``ValueError`` on a game that is not the quadratic game of eq. 13.
    """

    mu: float
    form: str = "eq37"

    def __post_init__(self):
        try:
            mu = float(self.mu)
        except (TypeError, ValueError):
            raise ValueError(f"friction mu of the LEAD energy must be a number, got {self.mu!r}") from None
        if not math.isfinite(mu):
            raise ValueError(f"friction mu of the LEAD energy must be finite, got {mu}")
        object.__setattr__(self, "mu", mu)
        if self.form not in LEAD_FORMS:
            raise ValueError(f"unknown LEAD energy form {self.form!r}; valid: {', '.join(LEAD_FORMS)}")

    @property
    def name(self) -> str:
        return f"lead-{self.form}"

    def __call__(self, game, state: PhaseState) -> torch.Tensor:
        h, A = quadratic_parameters(game)
        x, y, vx, vy = state
        A = A.to(x)
        mu = self.mu
        Ay = torch.einsum("ij,...j->...i", A, y)
        Atx = torch.einsum("ji,...j->...i", A, x)
        a = vx + mu * x + mu * Ay
        b = vy + mu * y - mu * Atx
        b2 = b if self.form == "eq37" else vx + mu * y - mu * Atx
        potential = h * _sq(x) + _sq(Atx) + h * _sq(y) + _sq(Ay)  # X^T(h+AA^T)X + Y^T(h+A^TA)Y
        return 0.5 * _sq(a) + 0.5 * (b * b2).sum(-1) + 0.5 * (_sq(vx) + _sq(vy)) + potential


@dataclass(frozen=True)
class KineticEnergy(Energy):
    """``m/2 (|x'|^2 + |y'|^2)``, the particle's kinetic energy (mass m, default 1)."""

    mass: float = 1.0
    name = "kinetic"

    def __call__(self, game, state: PhaseState) -> torch.Tensor:
        return 0.5 * self.mass * (_sq(state.vx) + _sq(state.vy))


@dataclass(frozen=True)
class HamiltonianEnergy(Energy):
    """``1/2 |v(x, y)|^2`` with v the game's vector field (eq. 14), by autograd."""

    name = "hamiltonian"

    def __call__(self, game, state: PhaseState) -> torch.Tensor:
        gx, gy = game.vector_field(state.x, state.y)
        return 0.5 * (_sq(gx) + _sq(gy))


class FunctionEnergy(Energy):
    """A user's energy ``fn(game, state) -> tensor`` with a name for reports."""

    def __init__(self, fn: Callable, name: str = "user"):
        if not callable(fn):
            raise TypeError(f"an energy must be callable (game, state) -> tensor, got {fn!r}")
        self.fn, self.name = fn, name

    def __call__(self, game, state: PhaseState) -> torch.Tensor:
        return self.fn(game, state)

    def __repr__(self) -> str:
        return f"FunctionEnergy({self.name!r})"


def energy_name(energy) -> str:
    """A label for an energy: its ``name`` attribute, else the function's name."""
    return str(getattr(energy, "name", None) or getattr(energy, "__name__", "energy"))


#: names accepted by the CLI's ``--energy``.
ENERGY_NAMES = ("lead", "kinetic", "hamiltonian")


def energy_from_name(name: str, mu: float = None, mass: float = 1.0, form: str = "eq37") -> Energy:
    """``lead`` (needs mu), ``kinetic`` or ``hamiltonian``; unknown names raise ValueError."""
    if name == "lead":
        if mu is None:
            raise ValueError("the lead energy (eq. 37) needs the friction mu")
        return LeadEnergy(mu, form)
    if name == "kinetic":
        return KineticEnergy(mass)
    if name == "hamiltonian":
        return HamiltonianEnergy()
    raise ValueError(f"unknown energy {name!r}; valid: {', '.join(ENERGY_NAMES)}")


