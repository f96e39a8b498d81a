"""Dynamics: a game and its forces as a first-order ODE ``dz/dt = F(t, z)``.

:class:`Particle` is LEAD eq. 10 for a particle of mass ``m``; its phase state is laid
out along the last axis as ``z = [x (n), y (m), vx (n), vy (m)]`` and
``dz/dt = [vx, vy, F_x / m, F_y / m]``. :class:`GradientFlow` is the massless flow
``dz/dt = -v(x, y)`` on ``z = [x, y]`` (x' = -grad_x f, y' = +grad_y f in a zero-sum
game). Both accept a batch of states of shape ``(..., dim)`` and serve both
simulation backends through :meth:`vector_field`.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from .forces import ForceSum, PhaseState
from .game import Game


def _check_game(game) -> None:
    if not isinstance(game, Game):
        raise TypeError(f"game must be a mechanics.Game (e.g. mechanics.bilinear()), "
                        f"got {type(game).__name__}")


class Dynamics:
    """Common interface: ``dim``, ``vector_field(t, z)``, ``split(z)``, stability."""

    game: Game
    dim: int

    def vector_field(self, t, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, t, z):
        return self.vector_field(t, z)

    def fast_field(self):
        """This dynamics' vector field in its fastest exact form, built once and cached
        (a :class:`mechanics.fields.FastField`: closed form for constant-Hessian games,
        torch.func composition for other games, this :meth:`vector_field` otherwise)."""
        from .fields import fast_field
        key = (self.game, getattr(self, "force", None), getattr(self, "mass", None))
        cached = self.__dict__.get("_fast_field")
        if cached is None or any(a is not b for a, b in zip(cached[0], key)):
            cached = (key, fast_field(self))
            self.__dict__["_fast_field"] = cached
        return cached[1]

    def split(self, z: torch.Tensor):
        """Views of the named parts of ``z`` (see the class docstring for the layout)."""
        raise NotImplementedError  # pragma: no cover

    def equilibrium_state(self, dtype=torch.float64, device=None) -> torch.Tensor:
        """The phase-space point of the game's equilibrium (velocities zero)."""
        x, y = self.game.equilibrium_tensors(dtype, device)
        z = torch.zeros(self.dim, dtype=dtype, device=device)
        z[: self.game.n], z[self.game.n: self.game.n + self.game.m] = x, y
        return z

    def jacobian(self, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The phase-space Jacobian dF/dz at ``z`` (default: the equilibrium), by autograd."""
        z = self.equilibrium_state() if z is None else torch.as_tensor(z, dtype=torch.float64)
        return torch.autograd.functional.jacobian(lambda s: self.vector_field(0.0, s), z)

    def eigenvalues(self, z: Optional[torch.Tensor] = None) -> np.ndarray:
        """Eigenvalues of :meth:`jacobian` (linear stability: stable iff all real parts < 0)."""
        return np.linalg.eigvals(self.jacobian(z).detach().cpu().numpy())

    def max_real_eigenvalue(self, z: Optional[torch.Tensor] = None) -> float:
        return float(np.max(self.eigenvalues(z).real))

    def check_state(self, z) -> torch.Tensor:
        """Validate an initial state: a finite tensor whose last axis has length ``dim``."""
        try:
            z = torch.as_tensor(z)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"state must be a tensor or an array of numbers, got "
                            f"{type(z).__name__} ({' '.join(str(err).split())[:80]})") from None
        if z.is_complex() or z.dtype == torch.bool:
            raise TypeError(f"state must be real numbers, got dtype {z.dtype}")
        if not torch.is_floating_point(z):
            z = z.to(torch.float64)
        if z.ndim == 0 or z.shape[-1] != self.dim:
            raise ValueError(f"state must have last dimension {self.dim} ({self.layout()}), "
                             f"got shape {tuple(z.shape)}")
        if not torch.isfinite(z).all():
            raise ValueError("initial state has non-finite entries")
        return z

    def layout(self) -> str:  # pragma: no cover - overridden
        return ""


class Particle(Dynamics):
    """LEAD eq. 10: ``m z'' = F(game, z, z')`` with ``F`` a force (or sum of forces).

    Parameters
    ----------
    game: the game whose losses define the forces.
    force: ``Curl() + Magnetic(q) + Friction(mu)`` or any callable
        ``(game, PhaseState) -> (F_x, F_y)``.
    mass: the particle's mass m > 0 (the papers use m = 1).
    """

    def __init__(self, game: Game, force, mass: float = 1.0):
        _check_game(game)
        if not callable(force):
            raise TypeError(f"force must be callable (game, state) -> (F_x, F_y), got {force!r}")
        try:
            mass = float(mass)
        except (TypeError, ValueError):
            raise ValueError(f"mass must be a positive number, got {mass!r}") from None
        if not (math.isfinite(mass) and mass > 0):
            raise ValueError(f"mass must be positive and finite, got {mass}")
        self.game, self.force, self.mass = game, force, mass
        self.dim = 2 * (game.n + game.m)

    @property
    def forces(self):
        return tuple(self.force) if isinstance(self.force, ForceSum) else (self.force,)

    def layout(self) -> str:
        return f"[x ({self.game.n}), y ({self.game.m}), vx ({self.game.n}), vy ({self.game.m})]"

    def split(self, z: torch.Tensor) -> PhaseState:
        n, m = self.game.n, self.game.m
        return PhaseState(z[..., :n], z[..., n:n + m], z[..., n + m:2 * n + m], z[..., 2 * n + m:])

    @staticmethod
    def join(x, y, vx, vy) -> torch.Tensor:
        return torch.cat([x, y, vx, vy], dim=-1)

    def state(self, x, y, vx=None, vy=None, dtype=torch.float64) -> torch.Tensor:
        """Assemble a phase state; missing velocities are zero (the particle starts at rest)."""
        x = torch.atleast_1d(torch.as_tensor(x, dtype=dtype))
        y = torch.atleast_1d(torch.as_tensor(y, dtype=dtype))
        vx = torch.zeros_like(x) if vx is None else torch.atleast_1d(torch.as_tensor(vx, dtype=dtype))
        vy = torch.zeros_like(y) if vy is None else torch.atleast_1d(torch.as_tensor(vy, dtype=dtype))
        try:
            x, vx = torch.broadcast_tensors(x, vx)
            y, vy = torch.broadcast_tensors(y, vy)
            z = self.join(x, y, vx, vy)
        except RuntimeError as err:
            raise ValueError(f"initial positions and velocities do not fit together: {err}") from None
        return self.check_state(z)

    def vector_field(self, t, z: torch.Tensor) -> torch.Tensor:
        s = self.split(z)
        fx, fy = self.force(self.game, s)
        fx, fy = torch.as_tensor(fx).expand_as(s.x), torch.as_tensor(fy).expand_as(s.y)
        return self.join(s.vx, s.vy, fx / self.mass, fy / self.mass)

    def __repr__(self) -> str:
        return f"Particle({self.game!r}, {self.force!r}, mass={self.mass})"


class GradientFlow(Dynamics):
    """The massless gradient flow ``x' = -grad_x L_x, y' = -grad_y L_y`` on ``z = [x, y]``."""

    def __init__(self, game: Game):
        _check_game(game)
        self.game = game
        self.dim = game.n + game.m

    def layout(self) -> str:
        return f"[x ({self.game.n}), y ({self.game.m})]"

    def split(self, z: torch.Tensor):
        return z[..., : self.game.n], z[..., self.game.n:]

    def state(self, x, y, dtype=torch.float64) -> torch.Tensor:
        x = torch.atleast_1d(torch.as_tensor(x, dtype=dtype))
        y = torch.atleast_1d(torch.as_tensor(y, dtype=dtype))
        return self.check_state(torch.cat([x, y], dim=-1))

    def vector_field(self, t, z: torch.Tensor) -> torch.Tensor:
        gx, gy = self.game.vector_field(*self.split(z))
        return -torch.cat([gx, gy], dim=-1)

    def __repr__(self) -> str:
        return f"GradientFlow({self.game!r})"
