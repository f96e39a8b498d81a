"""Forces on the game particle (LEAD Sec. 3, eq. 6-10).

A force is any callable ``force(game, state) -> (F_x, F_y)`` of the game and the phase
state ``(x, y, vx, vy)``. The built-in forces are frozen dataclasses and compose with
``+`` into a flat :class:`ForceSum` (like diffrax's ``MultiTerm``)::

    Curl() + Magnetic(q=0.5) + Friction(mu=0.1)

For a general-sum game each player feels the forces built from its *own* loss: with
losses ``L_x, L_y`` the curl force is ``(-grad_x L_x, -grad_y L_y)``; for a zero-sum
game (``L_x = f, L_y = -f``) this is eq. 6's ``(-grad_x f, grad_y f)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Tuple

import torch

from ._validate import finite_real

Pair = Tuple[torch.Tensor, torch.Tensor]

#: Charge conventions for the magnetic force: eq. 7 of the paper writes q, the slides 2q.
CHARGE_CONVENTIONS = {"eq7": 1.0, "slides": 2.0}


class PhaseState(NamedTuple):
    """A point in phase space: positions ``x, y`` and velocities ``vx, vy``."""
    x: torch.Tensor
    y: torch.Tensor
    vx: torch.Tensor
    vy: torch.Tensor


class Force:
    """Base class of the built-in forces; gives them ``+``."""

    def __call__(self, game, state: PhaseState) -> Pair:  # pragma: no cover - abstract
        raise NotImplementedError

    def __add__(self, other) -> "ForceSum":
        return ForceSum(self, other)

    def __radd__(self, other) -> "ForceSum":
        return ForceSum(other, self)


@dataclass(frozen=True)
class Curl(Force):
    """The curl (vortex) force of eq. 6: ``(-grad_x L_x, -grad_y L_y)``."""

    def __call__(self, game, state: PhaseState) -> Pair:
        gx, gy = game.vector_field(state.x, state.y)
        return -gx, -gy


@dataclass(frozen=True)
class Magnetic(Force):
    """The magnetic force of eq. 7: ``(-c grad_xy L_x vy, -c grad_yx L_y vx)``.

    For a zero-sum game this is ``(-c grad_xy f vy, +c grad_yx f vx)``. The charge
    factor ``c`` is ``q`` under eq. 7's convention (``"eq7"``, the default) and ``2q``
    under the slides' convention (``"slides"``), which is the one Prop. 1's
    ``alpha = 2 q delta`` follows from.
    """

    q: float = 1.0
    convention: str = "eq7"

    def __post_init__(self):
        object.__setattr__(self, "q", finite_real(self.q, "magnetic charge q"))
        if self.convention not in CHARGE_CONVENTIONS:
            raise ValueError(f"unknown charge convention {self.convention!r}; "
                             f"valid: {', '.join(CHARGE_CONVENTIONS)}")

    @property
    def charge(self) -> float:
        """The factor that multiplies the mixed block: q (eq. 7) or 2q (slides)."""
        return CHARGE_CONVENTIONS[self.convention] * self.q

    def __call__(self, game, state: PhaseState) -> Pair:
        mx, my = game.mixed(state.x, state.y, state.vx, state.vy)
        return -self.charge * mx, -self.charge * my


@dataclass(frozen=True)
class Friction(Force):
    """Friction (eq. 8, acting as eq. 10 uses it): ``(-mu vx, -mu vy)``, mu >= 0."""

    mu: float = 0.1

    def __post_init__(self):
        object.__setattr__(self, "mu", finite_real(self.mu, "friction mu", minimum=0.0))

    def __call__(self, game, state: PhaseState) -> Pair:
        return -self.mu * state.vx, -self.mu * state.vy


class ForceSum(Force):
    """The sum of several forces; nested sums are flattened."""

    def __init__(self, *forces: Callable):
        flat = []
        for f in forces:
            if isinstance(f, ForceSum):
                flat.extend(f.forces)
            elif callable(f):
                flat.append(f)
            else:
                raise TypeError(f"a force must be callable (game, state) -> (F_x, F_y), got {f!r}")
        if not flat:
            raise ValueError("a ForceSum needs at least one force")
        self.forces = tuple(flat)

    def __call__(self, game, state: PhaseState) -> Pair:
        fx, fy = 0.0, 0.0
        for force in self.forces:
            ax, ay = force(game, state)
            fx, fy = fx + ax, fy + ay
        return fx, fy

    def __iter__(self):
        return iter(self.forces)

    def __repr__(self) -> str:
        return " + ".join(repr(f) for f in self.forces)


#: name -> constructor taking (mu, q, convention); used by the CLI.
FORCE_NAMES = ("curl", "magnetic", "friction")


def forces_from_names(names, mu: float = 0.1, q: float = 1.0, convention: str = "eq7") -> ForceSum:
    """Build ``Curl() + Magnetic(q) + Friction(mu)`` (any subset) from names."""
    names = [n.strip() for n in names if n.strip()]
    bad = [n for n in names if n not in FORCE_NAMES]
    if bad:
        raise ValueError(f"unknown force {bad[0]!r}; valid forces: {', '.join(FORCE_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"force listed twice in {','.join(names)}")
    if not names:
        raise ValueError("at least one force is needed")
    build = {"curl": lambda: Curl(), "magnetic": lambda: Magnetic(q, convention),
             "friction": lambda: Friction(mu)}
    return ForceSum(*(build[n]() for n in names))
