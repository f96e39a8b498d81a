"""Forces on the game particle (LEAD Sec. 3, eq. 6-10), each carrying its discrete term.

A force is any callable ``force(game, state) -> (F_x, F_y)`` of the game and the phase
state ``(x, y, vx, vy)``. The built-in forces are frozen dataclasses and compose with
``+`` into a flat :class:`ForceSum` (like diffrax's ``MultiTerm``)::

    Curl() + Magnetic(q=0.5) + Friction(mu=0.1) + Consensus(gamma=0.1)

For a general-sum game each player feels the forces built from its *own* loss: with
losses ``L_x, L_y`` the curl force is ``(-grad_x L_x, -grad_y L_y)``; for a zero-sum
game (``L_x = f, L_y = -f``) this is eq. 6's ``(-grad_x f, grad_y f)``.

**A force declares what the derivation needs** (docs/DERIVATION.md): its
:meth:`Force.terms`, each ``coefficient * operator(z) [velocity]`` with a sympy
coefficient in the force's own parameters (:meth:`Force.parameters`). The operator is
a primitive of :class:`~mechanics.derivatives.GameDerivatives` (``"vector_field"``,
``"mixed"``, ``"jvp"``, ``"vjp"``, ``"position"``) or one the force implements in
:meth:`Force.operator`; the velocity is none (a field), the player's ``"own"`` or the
``"opponent"``'s; ``knob`` names the :class:`~integrators.schemes.Scheme` field that
says whether the term is taken at step k or k+1. From the terms come the force's value
(:meth:`Force.__call__`, used by the ODE), its discrete term in any scheme
(``integrators.derive``) and its evaluation in the iteration and the torch optimizers,
so a force written outside the package is simulated, derived and run without editing
the library. :func:`register_force` gives it a name for ``forces_from_names`` and the CLI.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import sympy as sp
import torch

from ._validate import finite_real
from .derivatives import GameDerivatives

Pair = Tuple[torch.Tensor, torch.Tensor]

#: Charge conventions for the magnetic force: eq. 7 of the paper writes q, the slides 2q.
CHARGE_CONVENTIONS = {"eq7": 1.0, "slides": 2.0}

#: operators every derivative oracle provides (mechanics.derivatives, optimizers.rule).
PRIMITIVES = ("vector_field", "mixed", "jvp", "vjp", "position")
VECTORS = (None, "own", "opponent")


def symbol(name: str) -> sp.Symbol:
    """The sympy symbol of a physical parameter (``mu``, ``q``, ``gamma``, ...). All
    parameters are positive symbols, so equal names give equal symbols everywhere."""
    return sp.Symbol(name, positive=True)


class PhaseState(NamedTuple):
    """A point in phase space: positions ``x, y`` and velocities ``vx, vy``."""
    x: torch.Tensor
    y: torch.Tensor
    vx: torch.Tensor
    vy: torch.Tensor


class Term(NamedTuple):
    """One term of a force on player x: ``coefficient * operator(z) [velocity]``.

    coefficient: a sympy expression in the force's parameter symbols.
    operator: a name in :data:`PRIMITIVES`, one the force implements, or None (the
        identity: the term is ``coefficient * velocity``).
    vector: None (a field, no velocity), ``"own"`` or ``"opponent"``: which velocity the
        operator acts on, as seen from player x (the operator receives the joint
        velocity ``(vx, vy)`` and returns the joint result, e.g. ``"mixed"`` gives
        ``(B_xy vy, B_yx vx)``).
    knob: the Scheme field that sets the level of the term (its velocity at step k or
        k+1, or for a field the point); default ``"curl"`` for fields, ``"friction"``
        for the own velocity, ``"magnetic"`` for the opponent's.
    label: the name of the rule coefficient it becomes (default from the force's name).
    """
    coefficient: sp.Expr
    operator: Optional[str] = None
    vector: Optional[str] = None
    knob: Optional[str] = None
    label: Optional[str] = None

    def level_knob(self) -> str:
        if self.knob is not None:
            return self.knob
        return {None: "curl", "own": "friction", "opponent": "magnetic"}[self.vector]


class Force:
    """Base class of forces: ``+``, and the value of a force from its :meth:`terms`.

    Subclasses set ``name`` and implement :meth:`terms` and :meth:`parameters` (and
    :meth:`operator` for operators that are not primitives). See the module docstring.
    """

    name: str = "force"
    #: True when the force's own operators (:meth:`operator`) are written with the
    #: oracle's primitives and return their results unchanged, so that an oracle that
    #: computes only one player's components (``None`` for the other's, as the
    #: alternating Adam-preconditioned optimizer uses) serves them; otherwise such an
    #: optimizer evaluates them on the joint oracle. The vectors passed to ``mixed``,
    #: ``jvp`` and ``vjp`` inside such an operator must be whole: the operator's ``u``,
    #: ``vector_field()`` or ``position()``, never another product's result (which is
    #: ``None`` for the other player). Subclasses inherit the flag.
    per_player_operators: bool = False

    def terms(self) -> Tuple[Term, ...]:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} declares no terms")

    def parameters(self) -> Dict[str, float]:
        """The force's parameters by symbol name (numbers, e.g. ``{"mu": 0.1}``)."""
        if not _is_dataclass(self):
            return {}
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: float(v) for k, v in values.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def operator(self, name: str, oracle, u):
        """Apply this force's own operator ``name`` at the oracle's point to the joint
        vector ``u`` (None for fields); returns a pair."""
        raise ValueError(f"force {self.name!r} has no operator {name!r}")

    def apply(self, term: Term, oracle, u=None):
        """``operator(z) u`` of one term (without its coefficient), a pair."""
        if term.operator is None:
            return u
        if term.operator in PRIMITIVES:
            op = getattr(oracle, term.operator)
            return op() if term.operator in ("vector_field", "position") else op(*u)
        return self.operator(term.operator, oracle, u)

    def numeric(self, coefficient: sp.Expr) -> float:
        """A coefficient at this force's parameter values (cached: the ODE calls it at
        every evaluation)."""
        return _numeric(sp.sympify(coefficient), tuple(sorted(self.parameters().items())))

    def __call__(self, game, state: PhaseState) -> Pair:
        oracle = GameDerivatives(game, state.x, state.y)
        fx, fy = 0.0, 0.0
        for term in self.terms():
            ax, ay = self.apply(term, oracle, None if term.vector is None
                                else (state.vx, state.vy))
            c = self.numeric(term.coefficient)
            fx, fy = fx + c * ax, fy + c * ay
        return fx, fy

    def __add__(self, other) -> "ForceSum":
        return ForceSum(self, other)

    def __radd__(self, other) -> "ForceSum":
        return ForceSum(other, self)


@lru_cache(maxsize=1024)
def _numeric(coefficient: sp.Expr, params: Tuple[Tuple[str, float], ...]) -> float:
    return float(coefficient.subs({symbol(k): v for k, v in params}))


def _is_dataclass(obj) -> bool:
    return hasattr(type(obj), "__dataclass_fields__")


@dataclass(frozen=True)
class Curl(Force):
    """The curl (vortex) force of eq. 6: ``(-grad_x L_x, -grad_y L_y)``."""

    name = "curl"

    def terms(self):
        return (Term(sp.Integer(-1), "vector_field", label="eta"),)

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
    name = "magnetic"

    def __post_init__(self):
        object.__setattr__(self, "q", finite_real(self.q, "magnetic charge q"))
        if self.convention not in CHARGE_CONVENTIONS:
            raise ValueError(f"unknown charge convention {self.convention!r}; "
                             f"valid: {', '.join(CHARGE_CONVENTIONS)}")

    @property
    def charge(self) -> float:
        """The factor that multiplies the mixed block: q (eq. 7) or 2q (slides)."""
        return CHARGE_CONVENTIONS[self.convention] * self.q

    def terms(self):
        factor = sp.Integer(int(CHARGE_CONVENTIONS[self.convention]))
        return (Term(-factor * symbol("q"), "mixed", "opponent", label="alpha"),)

    def __call__(self, game, state: PhaseState) -> Pair:
        mx, my = game.mixed(state.x, state.y, state.vx, state.vy)
        return -self.charge * mx, -self.charge * my


@dataclass(frozen=True)
class Friction(Force):
    """Friction (eq. 8, acting as eq. 10 uses it): ``(-mu vx, -mu vy)``, mu >= 0."""

    mu: float = 0.1
    name = "friction"

    def __post_init__(self):
        object.__setattr__(self, "mu", finite_real(self.mu, "friction mu", minimum=0.0))

    def terms(self):
        return (Term(-symbol("mu"), None, "own", label="beta"),)

    def __call__(self, game, state: PhaseState) -> Pair:
        return -self.mu * state.vx, -self.mu * state.vy


@dataclass(frozen=True)
class Consensus(Force):
    """The consensus force ``-gamma grad_z 1/2 |v|^2 = -gamma J^T v`` (Mescheder et al.,
    2017; lecture notes eq. 15 as a penalty; LEAD Table 6, row CO), gamma >= 0.

    ``J^T v`` is one double-backward pass (:meth:`GameDerivatives.vjp`). Derived with
    curl and friction ``mu = m / delta`` under the semi-implicit scheme it is consensus
    optimization, ``theta <- theta - eta (v + gamma J^T v)`` with ``eta = delta^2 / m``.
    """

    gamma: float = 0.1
    name = "consensus"
    per_player_operators = True

    def __post_init__(self):
        object.__setattr__(self, "gamma", finite_real(self.gamma, "consensus gamma",
                                                      minimum=0.0))

    def terms(self):
        return (Term(-symbol("gamma"), "consensus", label="consensus"),)

    def operator(self, name, oracle, u):
        if name != "consensus":
            return super().operator(name, oracle, u)
        return oracle.vjp(*oracle.vector_field())


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

    def terms(self):
        raise TypeError("a ForceSum has no terms of its own; iterate over its forces")

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


#: name -> force class, in registration order (the order derive lists forces in).
REGISTRY: Dict[str, type] = {}


def register_force(cls: type, overwrite: bool = False) -> type:
    """Register a :class:`Force` subclass under ``cls.name`` (usable as a decorator), so
    that ``derive("curl,<name>")``, :func:`forces_from_names` and the CLI know it. Its
    constructor's keyword arguments are filled from the options of the same name."""
    if not (isinstance(cls, type) and issubclass(cls, Force)):
        raise TypeError(f"register_force needs a Force subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or "," in name:
        raise ValueError(f"force class {cls.__name__} needs a name without commas")
    if name in REGISTRY and REGISTRY[name] is not cls and not overwrite:
        raise ValueError(f"a force named {name!r} is already registered")
    REGISTRY[name] = cls
    return cls


for _cls in (Curl, Magnetic, Friction, Consensus):
    register_force(_cls)

#: the built-in names (the registry may hold more).
FORCE_NAMES = tuple(REGISTRY)


def force_from_name(name: str, **options) -> Force:
    """An instance of the registered force ``name``, its constructor's keyword arguments
    taken from ``options`` where given (others keep their defaults)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown force {name!r}; valid forces: {', '.join(REGISTRY)}")
    cls = REGISTRY[name]
    accepted = ({f.name for f in fields(cls)} if hasattr(cls, "__dataclass_fields__")
                else set())
    return cls(**{k: v for k, v in options.items() if k in accepted and v is not None})


def forces_from_names(names, mu: float = 0.1, q: float = 1.0, convention: str = "eq7",
                      **options) -> ForceSum:
    """Build ``Curl() + Magnetic(q) + Friction(mu)`` (any registered names, e.g.
    ``consensus`` with ``gamma=``) from names."""
    names = [n.strip() for n in names if n.strip()]
    bad = [n for n in names if n not in REGISTRY]
    if bad:
        raise ValueError(f"unknown force {bad[0]!r}; valid forces: {', '.join(REGISTRY)}")
    if len(set(names)) != len(names):
        raise ValueError(f"force listed twice in {','.join(names)}")
    if not names:
        raise ValueError("at least one force is needed")
    opts = dict(mu=mu, q=q, convention=convention, **options)
    return ForceSum(*(force_from_name(n, **opts) for n in names))
