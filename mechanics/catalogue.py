"""A catalogue of games from the papers, each with its equilibrium.

All are zero-sum ``min_x max_y f(x, y)`` except where noted. Matrices are stored in
float64 and cast to the dtype and device of the players at every call, so the same
game runs in float32 or float64, on CPU or CUDA.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ._validate import finite_real
from .game import ZeroSumGame


def _matrix(a, name: str, shape=None) -> torch.Tensor:
    try:
        t = torch.as_tensor(np.asarray(a, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric matrix: {err}") from None
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(t.shape)}")
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} has non-finite entries")
    return t


def _bilinear_form(x, M, y):
    return torch.einsum("...i,ij,...j->...", x, M.to(x), y)


def _sq(z):
    return (z * z).sum(-1)


def bilinear(A=None) -> ZeroSumGame:
    """``f(x, y) = x^T A y``; equilibrium (0, 0). ``A`` defaults to the 1x1 identity (f = xy)."""
    A = _matrix([[1.0]] if A is None else A, "A")
    g = ZeroSumGame(lambda x, y: _bilinear_form(x, A, y), A.shape[0], A.shape[1],
                    equilibrium=(np.zeros(A.shape[0]), np.zeros(A.shape[1])), name="bilinear")
    g.A, g.constant_hessian = A, True
    return g


def quadratic(h: float = 0.0, A=None) -> ZeroSumGame:
    """LEAD eq. 13: ``f = h/2 |x|^2 - h/2 |y|^2 + x^T A y``, A square; equilibrium (0, 0)."""
    h = finite_real(h, "h")
    A = _matrix([[1.0]] if A is None else A, "A")
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A of the quadratic game (eq. 13) must be square, got {tuple(A.shape)}")
    n = A.shape[0]
    g = ZeroSumGame(lambda x, y: 0.5 * h * (_sq(x) - _sq(y)) + _bilinear_form(x, A, y), n, n,
                    equilibrium=(np.zeros(n), np.zeros(n)), name="quadratic")
    g.h, g.A, g.constant_hessian = h, A, True
    return g


def coop_adversarial(gamma=0.5, A=None, B1=None, B2=None) -> ZeroSumGame:
    """LEAD eq. 31: ``x^T (gamma A) y + x^T ((I - gamma) B1) x - y^T ((I - gamma) B2) y``.

    ``gamma`` is the diagonal of the diagonal matrix gamma (a list, or a scalar for all
    directions); A, B1, B2 default to the identity. gamma = 0 is a cooperative
    (minimisation) game, gamma = I the bilinear game. Equilibrium (0, 0).
    """
    gam = np.atleast_1d(np.asarray(gamma, dtype=np.float64))
    if gam.ndim != 1 or not np.isfinite(gam).all():
        raise ValueError(f"gamma must be a finite scalar or vector, got {gamma!r}")
    n = gam.shape[0] if A is None else _matrix(A, "A").shape[0]
    if gam.shape[0] == 1:
        gam = np.full(n, gam[0])
    eye = np.eye(n)
    A = _matrix(eye if A is None else A, "A", (n, n))
    B1 = _matrix(eye if B1 is None else B1, "B1", (n, n))
    B2 = _matrix(eye if B2 is None else B2, "B2", (n, n))
    if gam.shape[0] != n:
        raise ValueError(f"gamma has {gam.shape[0]} entries but A is {n} x {n}")
    G = torch.diag(torch.as_tensor(gam))
    GA, C1, C2 = G @ A, (torch.eye(n, dtype=torch.float64) - G) @ B1, \
        (torch.eye(n, dtype=torch.float64) - G) @ B2
    g = ZeroSumGame(lambda x, y: _bilinear_form(x, GA, y) + _bilinear_form(x, C1, x)
                    - _bilinear_form(y, C2, y), n, n,
                    equilibrium=(np.zeros(n), np.zeros(n)), name="coop-adversarial")
    g.gamma, g.A, g.B1, g.B2, g.constant_hessian = gam, A, B1, B2, True
    return g


def gamma_quadratic(gamma: float = 1.0, n: int = 1) -> ZeroSumGame:
    """LEAD App. J, Fig. 9: ``f = gamma (|x|^2 - |y|^2)``; equilibrium (0, 0)."""
    gamma = finite_real(gamma, "gamma")
    g = ZeroSumGame(lambda x, y: gamma * (_sq(x) - _sq(y)), n, n,
                    equilibrium=(np.zeros(n), np.zeros(n)), name="gamma-quadratic")
    g.gamma, g.constant_hessian = gamma, True
    return g


def _scalar_game(fn, name: str, constant_hessian: bool = False) -> ZeroSumGame:
    g = ZeroSumGame(lambda x, y: fn(x[..., 0], y[..., 0]), 1, 1,
                    equilibrium=(np.zeros(1), np.zeros(1)), name=name)
    g.constant_hessian = constant_hessian
    return g


def fr_g1() -> ZeroSumGame:
    """FR Sec. 6.1: ``g1 = -3x^2 - y^2 + 4xy``; (0, 0) is a local (global) minimax."""
    return _scalar_game(lambda x, y: -3 * x**2 - y**2 + 4 * x * y, "fr-g1", True)


def fr_g2() -> ZeroSumGame:
    """FR Sec. 6.1: ``g2 = 3x^2 + y^2 + 4xy``; (0, 0) is stationary but NOT local minimax."""
    return _scalar_game(lambda x, y: 3 * x**2 + y**2 + 4 * x * y, "fr-g2", True)


def fr_g3() -> ZeroSumGame:
    """FR Sec. 6.1: ``g3 = (4x^2 - (y - 3x + 0.05x^3)^2 - 0.1y^4) exp(-0.01(x^2 + y^2))``."""
    return _scalar_game(
        lambda x, y: (4 * x**2 - (y - 3 * x + 0.05 * x**3) ** 2 - 0.1 * y**4)
        * torch.exp(-0.01 * (x**2 + y**2)), "fr-g3")


def fr_momentum_quadratic() -> ZeroSumGame:
    """FR App. E.2: ``-0.45x1^2 - 0.5x2^2 - 0.5y1^2 - 0.05y2^2 + x1 y2 + x2 y2``."""
    def f(x, y):
        x1, x2, y1, y2 = x[..., 0], x[..., 1], y[..., 0], y[..., 1]
        return -0.45 * x1**2 - 0.5 * x2**2 - 0.5 * y1**2 - 0.05 * y2**2 + x1 * y2 + x2 * y2
    g = ZeroSumGame(f, 2, 2, equilibrium=(np.zeros(2), np.zeros(2)), name="fr-e2-quadratic")
    g.constant_hessian = True
    return g


def dirac_gan() -> ZeroSumGame:
    """A Dirac-GAN (Mescheder et al., 2018): data at 0, generator a point mass at ``x``,
    linear discriminator ``D(t) = sigmoid(y t)``.

    ``f(x, y) = log sigmoid(0) + log(1 - sigmoid(y x)) = -log 2 - softplus(x y)``, the
    saturating GAN value; the generator x minimises, the discriminator y maximises.
    Equilibrium (0, 0), where the Jacobian of the vector field is a pure rotation.
    """
    return _scalar_game(lambda x, y: -math.log(2.0) - torch.nn.functional.softplus(x * y),
                        "dirac-gan")


#: name -> constructor; the CLI and the examples look games up here.
GAMES = {
    "bilinear": bilinear,
    "quadratic": quadratic,
    "coop-adversarial": coop_adversarial,
    "gamma-quadratic": gamma_quadratic,
    "fr-g1": fr_g1,
    "fr-g2": fr_g2,
    "fr-g3": fr_g3,
    "fr-e2-quadratic": fr_momentum_quadratic,
    "dirac-gan": dirac_gan,
}


def make_game(name: str, **params) -> ZeroSumGame:
    """Build a catalogue game by name; unknown names raise a ValueError listing the valid ones."""
    if name not in GAMES:
        raise ValueError(f"unknown game {name!r}; valid games: {', '.join(sorted(GAMES))}")
    return GAMES[name](**params)
