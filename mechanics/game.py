"""Two-player differentiable games with vector players.

Player ``x`` (in R^n) minimises ``loss_x(x, y)``; player ``y`` (in R^m) minimises
``loss_y(x, y)``. A zero-sum game is given by one function ``f``: x minimises f,
y maximises it, so ``loss_x = f`` and ``loss_y = -f``.

The *vector field* of the game (LEAD eq. 14) is ``v(x, y) = (grad_x L_x, grad_y L_y)``,
which for a zero-sum game is ``(grad_x f, -grad_y f)``. Gradient descent on each
player's own loss follows ``-v``.

Losses are torch functions of ``x`` with shape ``(..., n)`` and ``y`` with shape
``(..., m)`` that broadcast over the leading batch dimensions and return shape
``(...)``. Every derivative is taken by ``torch.autograd``.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np
import torch

from ._autodiff import grad, track

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Pair = Tuple[torch.Tensor, torch.Tensor]


def _differentiating(*tensors) -> bool:
    """True when the caller will differentiate the result (an input is in a graph)."""
    return torch.is_grad_enabled() and any(
        isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)


class Game:
    """A general-sum two-player game.

    Parameters
    ----------
    loss_x, loss_y:
        Each player's loss; each player *minimises* its own.
    n, m:
        Dimensions of the two players.
    equilibrium:
        Optional known equilibrium ``(x*, y*)`` (array-likes of length n and m).
    name:
        A label used in plots and reports.
    """

    zero_sum = False
    #: True when both losses are quadratic polynomials, so the vector field (eq. 14) is
    #: affine and its Jacobian constant. The quadratic and bilinear games of the catalogue
    #: set it; simulations then use a closed-form field (``mechanics.fields``). Setting it
    #: on a game that is not quadratic is caught by a one-time check against autograd.
    constant_hessian = False

    def __init__(self, loss_x: Loss, loss_y: Loss, n: int, m: int,
                 equilibrium=None, name: str = "game"):
        for label, d in (("n", n), ("m", m)):
            if not isinstance(d, (int, np.integer)) or d < 1:
                raise ValueError(f"player dimension {label} must be a positive integer, got {d!r}")
        if not callable(loss_x) or not callable(loss_y):
            raise TypeError("loss_x and loss_y must be callables (x, y) -> tensor")
        self._loss_x, self._loss_y = loss_x, loss_y
        self.n, self.m, self.name = int(n), int(m), name
        self._equilibrium = None
        if equilibrium is not None:
            xs, ys = (np.asarray(e, dtype=np.float64).reshape(-1) for e in equilibrium)
            if xs.shape != (self.n,) or ys.shape != (self.m,):
                raise ValueError(f"equilibrium shapes {xs.shape}, {ys.shape} do not match "
                                 f"players of dimension {self.n} and {self.m}")
            self._equilibrium = (xs, ys)

    # ------------------------------------------------------------------ values
    def losses(self, x: torch.Tensor, y: torch.Tensor) -> Pair:
        """``(L_x(x, y), L_y(x, y))``, each of shape ``x.shape[:-1]``."""
        return self._loss_x(x, y), self._loss_y(x, y)

    @property
    def equilibrium(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """The known equilibrium ``(x*, y*)`` as float64 arrays, or ``None``."""
        return self._equilibrium

    def equilibrium_tensors(self, dtype=torch.float64, device=None) -> Pair:
        if self._equilibrium is None:
            raise ValueError(f"game {self.name!r} has no known equilibrium")
        return tuple(torch.as_tensor(e, dtype=dtype, device=device) for e in self._equilibrium)

    # ------------------------------------------------------------ derivatives
    def vector_field(self, x: torch.Tensor, y: torch.Tensor) -> Pair:
        """``v = (grad_x L_x, grad_y L_y)`` (LEAD eq. 14), by autograd.

        The result stays differentiable (``create_graph``) only when an input is part
        of a graph, so plain simulations and optimizers build no graph they never use.
        """
        keep = _differentiating(x, y)
        with torch.enable_grad():
            x, y = track(x), track(y)
            gx = grad(self._loss_x(x, y), x, create_graph=keep)
            gy = grad(self._loss_y(x, y), y, create_graph=keep)
        return gx, gy

    def mixed(self, x: torch.Tensor, y: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> Pair:
        """The mixed-block products ``(grad_xy L_x . dy, grad_yx L_y . dx)``.

        ``grad_xy L_x`` is the n x m block d/dy (grad_x L_x); the product is one
        Jacobian-vector product (double backward), no Jacobian is formed. For a
        zero-sum game this is ``(grad_xy f . dy, -grad_yx f . dx)``.
        """
        keep = _differentiating(x, y, dx, dy)
        with torch.enable_grad():
            x, y = track(x), track(y)
            g_y_of_lx = grad(self._loss_x(x, y), y)
            mx = grad(g_y_of_lx * dy, x, create_graph=keep)
            g_x_of_ly = grad(self._loss_y(x, y), x)
            my = grad(g_x_of_ly * dx, y, create_graph=keep)
        return mx, my

    def hvp(self, x: torch.Tensor, y: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> Pair:
        """``J(x, y) @ (dx, dy)`` with J the Jacobian of the vector field ``v``.

        Computed as a double vector-Jacobian product: ``J^T u = grad <v, u>`` is
        linear in a dummy ``u``, and the gradient of ``<J^T u, w>`` in ``u`` is ``J w``.
        """
        keep = _differentiating(x, y, dx, dy)
        with torch.enable_grad():
            x, y = track(x), track(y)
            gx = grad(self._loss_x(x, y), x)
            gy = grad(self._loss_y(x, y), y)
            ux = torch.zeros_like(gx, requires_grad=True)
            uy = torch.zeros_like(gy, requires_grad=True)
            jtu_x, jtu_y = grad((gx * ux).sum(-1) + (gy * uy).sum(-1), (x, y))
            return grad((jtu_x * dx).sum(-1) + (jtu_y * dy).sum(-1), (ux, uy), create_graph=keep)

    def jacobian(self, x, y) -> torch.Tensor:
        """The (n+m) x (n+m) Jacobian of ``v`` at one point (unbatched), by autograd."""
        x = torch.as_tensor(x, dtype=torch.float64).reshape(self.n)
        y = torch.as_tensor(y, dtype=torch.float64).reshape(self.m)

        def v(z):
            gx, gy = self.vector_field(z[: self.n], z[self.n:])
            return torch.cat([gx, gy])

        return torch.autograd.functional.jacobian(v, torch.cat([x, y]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, n={self.n}, m={self.m})"


class ZeroSumGame(Game):
    """A zero-sum game ``min_x max_y f(x, y)``: ``L_x = f``, ``L_y = -f``."""

    zero_sum = True

    def __init__(self, f: Loss, n: int, m: int, equilibrium=None, name: str = "zero-sum"):
        if not callable(f):
            raise TypeError("f must be a callable (x, y) -> tensor")
        self.f = f
        super().__init__(f, lambda x, y: -f(x, y), n, m, equilibrium=equilibrium, name=name)

    def hessian_blocks(self, x, y):
        """``(H_xx, H_xy, H_yx, H_yy)`` of ``f`` at one point, by autograd (float64)."""
        x = torch.as_tensor(x, dtype=torch.float64).reshape(self.n)
        y = torch.as_tensor(y, dtype=torch.float64).reshape(self.m)
        H = torch.autograd.functional.hessian(
            lambda z: self.f(z[: self.n], z[self.n:]), torch.cat([x, y]))
        n = self.n
        return H[:n, :n], H[:n, n:], H[n:, :n], H[n:, n:]
