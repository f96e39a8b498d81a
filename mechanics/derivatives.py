"""The derivatives a force may ask for at one point of a game (the "oracle" of forces).

A force (``mechanics.forces``) is written once against this small interface and then
serves the ODE (``Particle``), the discrete iteration (``integrators.discrete``) and the
torch optimizers (``optimizers.rule``), which each supply their own implementation with
the same method names. Vectors come in pairs ``(u_x, u_y)``; here each is a tensor of
shape ``(..., n)`` / ``(..., m)`` (batched like the game's losses), in the optimizers a
list of parameter-shaped tensors.

With ``v = (grad_x L_x, grad_y L_y)`` the game's vector field (LEAD eq. 14) and
``J = dv/dz`` its Jacobian:

- :meth:`vector_field`: ``v``;
- :meth:`mixed`: ``(grad_xy L_x u_y, grad_yx L_y u_x)``, the off-diagonal blocks of ``J``
  applied to ``u`` (the magnetic force's operator, eq. 7);
- :meth:`jvp`: ``J u``; :meth:`vjp`: ``J^T u`` (e.g. consensus, ``J^T v``);
- :meth:`position`: ``(x, y)`` itself (forces that pull on positions).

Every product is one autograd pass; no Jacobian is formed.
"""
from __future__ import annotations

from typing import Tuple

import torch

from ._autodiff import grad

Pair = Tuple[torch.Tensor, torch.Tensor]


def _keep(*ts) -> bool:
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad
                                           for t in ts)


class GameDerivatives:
    """Derivatives of ``game`` at ``(x, y)`` (batched tensors); see the module docstring.

    Results stay differentiable when an input is part of a graph (the spectral analysis
    differentiates through them), as for :meth:`mechanics.Game.vector_field`.
    """

    def __init__(self, game, x: torch.Tensor, y: torch.Tensor):
        self.game, self.x, self.y = game, x, y
        self._v = None

    def position(self) -> Pair:
        return self.x, self.y

    def vector_field(self) -> Pair:
        if self._v is None:
            self._v = self.game.vector_field(self.x, self.y)
        return self._v

    def mixed(self, ux: torch.Tensor, uy: torch.Tensor) -> Pair:
        return self.game.mixed(self.x, self.y, ux, uy)

    def jvp(self, ux: torch.Tensor, uy: torch.Tensor) -> Pair:
        return self.game.hvp(self.x, self.y, ux, uy)

    def vjp(self, ux: torch.Tensor, uy: torch.Tensor) -> Pair:
        """``J^T u = grad_e <v(z + e), u>`` at ``e = 0``: the shift ``e`` keeps ``u``
        constant even when it depends on ``z`` (consensus' ``u = v(z)``), while the result
        stays differentiable in ``z`` and ``u`` (one double-backward pass)."""
        keep = _keep(self.x, self.y, ux, uy)
        with torch.enable_grad():
            ex = torch.zeros_like(self.x, requires_grad=True)
            ey = torch.zeros_like(self.y, requires_grad=True)
            x, y = self.x + ex, self.y + ey
            lx, ly = self.game.losses(x, y)
            gx, gy = grad(lx, ex), grad(ly, ey)
            return grad((gx * ux).sum(-1) + (gy * uy).sum(-1), (ex, ey), create_graph=keep)
