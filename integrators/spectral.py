"""Spectral analysis of game optimizers' step maps (LEAD Sec. 4.2, App. D; lecture notes Sec. 5).

An optimizer is a fixed-point map ``F`` on a state ``s``; near an equilibrium it converges
linearly iff the spectral radius of ``grad F`` is below one (Prop. 2, Bertsekas Prop.
4.4.1). Methods with memory act on an augmented state (lecture notes eq. 17, LEAD
eq. 50): ``s = (z[k], z[k-1])``.

:data:`METHODS` maps names to :class:`Method` values (hyperparameter names, default values
and tuning bounds, state size and the step map). The step maps are the implemented
updates: LEAD and heavy ball run :func:`integrators.discrete.rule_step`, the others the
cores of their torch optimizers (:mod:`integrators.updates`) on ``Game.vector_field``:
one copy of each rule. :func:`step_jacobian` differentiates the step map by
autograd (one reverse pass: the state is batched into ``D`` copies and the ``b``-th
output coordinate of copy ``b`` is differentiated, games being batch-per-sample).

Closed forms beside them: :func:`lead_formula_eigenvalues` (Thm. 2, eq. 23 / eq. 54, the
eigenvalues of eq. 52: the coupling acts through the off-diagonal block of ``grad v``
only) and :func:`gda_formula_eigenvalues` (eq. 20).

Registered methods (``z = (x, y)``, ``v`` the game's vector field, eq. 14):

- ``gda``: ``z - lr v(z)`` (eq. 19).
- ``eg`` (extragradient): ``z - lr v(z - lr v(z))``.
- ``ogda`` (optimistic GDA, FR App. D.1): ``z - 2 lr v(z[k]) + lr v(z[k-1])``.
- ``momentum`` (heavy ball, lecture notes eq. 16-17): ``z + beta dz - lr v(z)``;
  ``positive-momentum`` / ``negative-momentum``: the same map with beta's tuning bounds
  restricted to ``[0, 1)`` / ``(-1, 0]`` (Gidel et al., 2019).
- ``lead`` (eq. 12): ``z + beta dz - lr v(z) - alpha C(z) dz``.
- ``complex-momentum`` (Lorraine & Duvenaud, 2022, simultaneous form): a complex buffer
  ``b[k+1] = beta b[k] - v(z[k])`` with ``beta = beta_abs exp(i beta_arg)`` and
  ``z[k+1] = z[k] + lr Re(b[k+1])``; state ``(z, Re b, Im b)``, real arithmetic.

:func:`register_method` adds a method (for example another momentum variant).
"""
from __future__ import annotations

import cmath
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from mechanics._validate import finite_real
from mechanics.game import Game

from .discrete import rule_step
from .rule import UpdateRule
from .updates import complex_momentum_update, extrapolate, optimistic_update

StepFn = Callable[[Game, torch.Tensor, Mapping[str, float]], torch.Tensor]


@dataclass(frozen=True)
class Method:
    """A game optimizer as a step map on its state.

    Attributes
    ----------
    name: registry key.
    params: hyperparameter names, in the order tuning uses.
    defaults: a default value for each hyperparameter.
    bounds: tuning bounds ``(low, high)`` for each hyperparameter.
    copies: the state is ``copies`` blocks of size ``n + m`` (1 for ``z``, 2 for
        ``(z[k], z[k-1])``, 3 for complex momentum's ``(z, Re b, Im b)``).
    step: ``step(game, state, hp) -> next state``; states are ``(..., copies (n+m))``.
    init: builds the state of a point ``z`` (default: ``z`` then zeros for momentum
        buffers, ``z`` repeated for past iterates).
    description: one line.
    """

    name: str
    params: Tuple[str, ...]
    defaults: Mapping[str, float]
    bounds: Mapping[str, Tuple[float, float]]
    copies: int
    step: StepFn
    init: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    description: str = ""

    def __post_init__(self):
        for p in self.params:
            if p not in self.defaults or p not in self.bounds:
                raise ValueError(f"method {self.name!r}: hyperparameter {p!r} needs a default "
                                 "and bounds")
            lo, hi = self.bounds[p]
            if not lo < hi:
                raise ValueError(f"method {self.name!r}: bounds of {p!r} must satisfy low < high")
        if self.copies < 1:
            raise ValueError(f"method {self.name!r}: copies must be >= 1")

    def hyperparameters(self, given: Optional[Mapping[str, float]] = None) -> Dict[str, float]:
        """Defaults overridden by ``given``; unknown or non-finite values raise ValueError."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise ValueError(f"method {self.name!r} takes no hyperparameter {unknown[0]!r} "
                             f"(it takes: {', '.join(self.params)})")
        hp = dict(self.defaults)
        for k, v in given.items():
            v = finite_real(v, f"hyperparameter {k}")
            hp[k] = v
        return hp

    def state(self, z: torch.Tensor) -> torch.Tensor:
        if self.init is not None:
            return self.init(z)
        return torch.cat([z] * self.copies, dim=-1)


# ------------------------------------------------------------------ step maps
def _v(game: Game, z: torch.Tensor) -> torch.Tensor:
    return torch.cat(game.vector_field(z[..., : game.n], z[..., game.n:]), dim=-1)


def _halves(s: torch.Tensor, k: int):
    d = s.shape[-1] // k
    return [s[..., i * d:(i + 1) * d] for i in range(k)]


def gda_step(game, s, hp):
    """Eq. 19's map ``F(z) = z - lr v(z)`` (the core of :func:`integrators.updates.extrapolate`)."""
    return extrapolate([s], [_v(game, s)], lr=hp["lr"])[0]


def eg_step(game, s, hp):
    """Extragradient: ``z - lr v(z - lr v(z))``, the two
    :func:`integrators.updates.extrapolate` steps of :class:`optimizers.ExtraGradient`."""
    half = extrapolate([s], [_v(game, s)], lr=hp["lr"])[0]
    return extrapolate([s], [_v(game, half)], lr=hp["lr"])[0]


def ogda_step(game, s, hp):
    """Optimistic GDA (FR App. D.1, eq. OGDA) on ``(z[k], z[k-1])``: the core of
    :class:`optimizers.OGDA`, :func:`integrators.updates.optimistic_update`."""
    z, zp = _halves(s, 2)
    new = optimistic_update([z], [_v(game, z)], [_v(game, zp)], lr=hp["lr"])[0]
    return torch.cat([new, z], dim=-1)


def _rule_map(rule_of: Callable[[Mapping[str, float]], UpdateRule]) -> StepFn:
    def step(game, s, hp):
        z, zp = _halves(s, 2)
        return torch.cat([rule_step(rule_of(hp), game, z, zp), z], dim=-1)
    return step


def _lead_rule(hp) -> UpdateRule:
    return UpdateRule(beta=hp["beta"], eta=hp["lr"], alpha=hp["alpha"], name="lead")


def _momentum_rule(hp) -> UpdateRule:
    return UpdateRule(beta=hp["beta"], eta=hp["lr"], name="momentum")


lead_step = _rule_map(_lead_rule)
lead_step.__doc__ = "LEAD (eq. 12) on ``(z[k], z[k-1])``: eq. 50, through ``rule_step``."
momentum_step = _rule_map(_momentum_rule)
momentum_step.__doc__ = "Heavy ball (lecture notes eq. 17) on ``(z[k], z[k-1])``, through ``rule_step``."


def complex_momentum_step(game, s, hp):
    """Complex momentum (Lorraine & Duvenaud) on ``(z, Re b, Im b)``, simultaneous form:
    the core of :class:`optimizers.ComplexMomentum`,
    :func:`integrators.updates.complex_momentum_update`."""
    z, br, bi = _halves(s, 3)
    beta = cmath.rect(hp["beta_abs"], hp["beta_arg"])
    (new,), (nr,), (ni,) = complex_momentum_update([z], [_v(game, z)], [br], [bi],
                                                    lr=[hp["lr"]], beta=[beta])
    return torch.cat([new, nr, ni], dim=-1)


def _buffers_zero(z):
    return torch.cat([z, torch.zeros_like(z), torch.zeros_like(z)], dim=-1)


LR_BOUNDS = (1e-4, 2.0)
METHODS: Dict[str, Method] = {}


def register_method(method: Method, overwrite: bool = False) -> Method:
    """Add ``method`` to :data:`METHODS` (tuning and the CLI look names up there)."""
    if not isinstance(method, Method):
        raise TypeError(f"expected a Method, got {type(method).__name__}")
    if method.name in METHODS and not overwrite:
        raise ValueError(f"method {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


for _m in (
    Method("gda", ("lr",), {"lr": 0.1}, {"lr": LR_BOUNDS}, 1, gda_step,
           description="gradient descent-ascent, eq. 19"),
    Method("eg", ("lr",), {"lr": 0.1}, {"lr": LR_BOUNDS}, 1, eg_step,
           description="extragradient"),
    Method("ogda", ("lr",), {"lr": 0.1}, {"lr": LR_BOUNDS}, 2, ogda_step,
           description="optimistic gradient descent-ascent"),
    Method("momentum", ("lr", "beta"), {"lr": 0.1, "beta": 0.5},
           {"lr": LR_BOUNDS, "beta": (-0.99, 0.99)}, 2, momentum_step,
           description="heavy-ball GDA (simultaneous), lecture notes eq. 17"),
    Method("positive-momentum", ("lr", "beta"), {"lr": 0.1, "beta": 0.5},
           {"lr": LR_BOUNDS, "beta": (0.0, 0.99)}, 2, momentum_step,
           description="heavy-ball GDA with beta >= 0"),
    Method("negative-momentum", ("lr", "beta"), {"lr": 0.1, "beta": -0.5},
           {"lr": LR_BOUNDS, "beta": (-0.99, 0.0)}, 2, momentum_step,
           description="heavy-ball GDA with beta <= 0 (Gidel et al., 2019)"),
    Method("lead", ("lr", "beta", "alpha"), {"lr": 0.1, "beta": 0.5, "alpha": 0.5},
           {"lr": LR_BOUNDS, "beta": (-0.99, 0.99), "alpha": (0.0, 2.0)}, 2, lead_step,
           description="LEAD, eq. 12 (Thm. 2)"),
    Method("complex-momentum", ("lr", "beta_abs", "beta_arg"),
           {"lr": 0.1, "beta_abs": 0.8, "beta_arg": math.pi / 8},
           {"lr": LR_BOUNDS, "beta_abs": (0.0, 0.99), "beta_arg": (0.0, math.pi)}, 3,
           complex_momentum_step, init=_buffers_zero,
           description="complex momentum (Lorraine & Duvenaud), simultaneous"),
):
    register_method(_m)


def get_method(method) -> Method:
    """A :class:`Method` or the name of one in :data:`METHODS`."""
    if isinstance(method, Method):
        return method
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    return METHODS[method]


# ------------------------------------------------------------------- Jacobian
def _point(game: Game, point) -> torch.Tensor:
    if point is None:
        if game.equilibrium is None:
            raise ValueError(f"game {game.name!r} has no known equilibrium; pass point=(x, y)")
        point = game.equilibrium
    x, y = (torch.atleast_1d(torch.as_tensor(np.asarray(p, dtype=np.float64))) for p in point)
    if x.shape != (game.n,) or y.shape != (game.m,):
        raise ValueError(f"point must have shapes ({game.n},), ({game.m},); got "
                         f"{tuple(x.shape)}, {tuple(y.shape)}")
    return torch.cat([x, y])


def step_jacobian(method, game: Game, point=None, **hp) -> torch.Tensor:
    """The Jacobian of ``method``'s step map at the state of ``point`` (default: the
    game's equilibrium), float64, by one reverse-mode autograd pass (module docstring)."""
    method = get_method(method)
    hp = method.hyperparameters(hp)
    s0 = method.state(_point(game, point))
    D = s0.shape[-1]
    S = s0.expand(D, D).clone().requires_grad_(True)
    with torch.enable_grad():
        out = method.step(game, S, hp)
        if out.shape != (D, D):
            raise ValueError(f"method {method.name!r}: step returned shape {tuple(out.shape)}, "
                             f"expected {(D, D)}")
        if not out.requires_grad:          # a step map that is constant in the state
            return torch.zeros(D, D, dtype=S.dtype)
        (J,) = torch.autograd.grad(out.diagonal().sum(), S, allow_unused=True)
    return torch.zeros(D, D, dtype=S.dtype) if J is None else J.detach()


def spectral_radius(eigenvalues) -> float:
    """Largest modulus among ``eigenvalues`` (not its square; cf. Prop. 3's rho)."""
    return float(np.max(np.abs(np.asarray(eigenvalues))))


@dataclass
class Spectrum:
    """Eigenvalues of a step map's Jacobian; ``formula_*`` from a closed form when known."""

    method: str
    params: Dict[str, float]
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    spectral_radius: float
    formula_eigenvalues: Optional[np.ndarray] = None
    formula_spectral_radius: Optional[float] = None
    formula_note: str = ""
    extra: Dict = field(default_factory=dict)

    def as_dict(self) -> Dict:
        """JSON-ready: eigenvalues as ``[re, im]`` pairs."""
        pairs = lambda e: [[float(v.real), float(v.imag)] for v in e]  # noqa: E731
        out = {"method": self.method, "params": dict(self.params),
               "spectral_radius": self.spectral_radius, "eigenvalues": pairs(self.eigenvalues)}
        if self.formula_eigenvalues is not None:
            out["formula_spectral_radius"] = self.formula_spectral_radius
            out["formula_eigenvalues"] = pairs(self.formula_eigenvalues)
        elif self.formula_note:
            out["formula_spectral_radius"] = None
            out["formula_note"] = self.formula_note
        return out


FORMULAS = {}


def spectrum(method, game: Game, point=None, **hp) -> Spectrum:
    """Eigenvalues and spectral radius of ``method``'s step map (autograd Jacobian), with
    the closed form beside them for ``lead`` (Thm. 2) and ``gda`` (eq. 20) when the game
    has eq. 13's structure."""
    method = get_method(method)
    hp = method.hyperparameters(hp)
    J = step_jacobian(method, game, point, **hp).numpy()
    eig = np.linalg.eigvals(J)
    out = Spectrum(method.name, hp, J, eig, spectral_radius(eig))
    formula = FORMULAS.get(method.name)
    if formula is not None and method.step in (lead_step, gda_step):
        try:
            f = formula(game, point=point, **hp)
            out.formula_eigenvalues, out.formula_spectral_radius = f, spectral_radius(f)
        except ValueError as err:
            out.formula_note = str(err)
    return out


# --------------------------------------------------------------- closed forms
def quadratic_structure(game: Game, point=None, atol: float = 1e-12):
    """``(h, off-diag[grad v])`` of a game whose ``grad v`` at ``point`` is
    ``[[h I, C_xy], [C_yx, h I]]`` (eq. 13 / eq. 47); ValueError otherwise."""
    z = _point(game, point)
    J = game.jacobian(z[: game.n], z[game.n:]).detach().numpy()
    n = game.n
    h = J[0, 0]
    diag_blocks = np.zeros_like(J)
    diag_blocks[:n, :n], diag_blocks[n:, n:] = J[:n, :n], J[n:, n:]
    if game.n != game.m or not np.allclose(diag_blocks, h * np.eye(2 * n), rtol=0,
                                           atol=atol * max(1.0, abs(h))):
        raise ValueError("the closed form needs grad v = [[h I, A], [-A^T, h I]] "
                         "(the quadratic game of eq. 13)")
    return float(h), J - diag_blocks


def lead_formula_eigenvalues(game: Game, lr: float, beta: float, alpha: float,
                             point=None) -> np.ndarray:
    """Thm. 2 (eq. 23 / eq. 54): ``mu_pm = (1 - (eta + alpha) lam + beta - eta h
    pm sqrt(Delta)) / 2``, ``Delta = (1 - (eta + alpha) lam + beta - eta h)^2 - 4 (beta -
    alpha lam)``, for every ``lam`` in Sp(off-diag[grad v]) (eq. 52's eigenvalues)."""
    h, off = quadratic_structure(game, point)
    lam = np.linalg.eigvals(off).astype(complex)
    b = 1 - (lr + alpha) * lam + beta - lr * h
    root = np.sqrt(b * b - 4 * (beta - alpha * lam))
    return np.concatenate([(b + root) / 2, (b - root) / 2])


def gda_formula_eigenvalues(game: Game, lr: float, point=None) -> np.ndarray:
    """Eq. 20: ``1 - eta h - eta lam`` for ``lam`` in Sp(off-diag[grad v])."""
    h, off = quadratic_structure(game, point)
    return 1 - lr * h - lr * np.linalg.eigvals(off).astype(complex)


FORMULAS.update({"lead": lead_formula_eigenvalues, "gda": gda_formula_eigenvalues})


def eigenvalue_sweep(method, game: Game, param: str, values: Sequence[float], point=None,
                     **hp) -> np.ndarray:
    """Eigenvalues of the step map for each value of one hyperparameter (Fig. 1):
    an array ``(len(values), D)`` of complex numbers."""
    method = get_method(method)
    if param not in method.params:
        raise ValueError(f"method {method.name!r} has no hyperparameter {param!r} "
                         f"(it has: {', '.join(method.params)})")
    rows = []
    for v in values:
        J = step_jacobian(method, game, point, **{**hp, param: float(v)}).numpy()
        rows.append(np.linalg.eigvals(J))
    return np.array(rows)
