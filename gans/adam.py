"""Adam baselines with the game-optimizer contract (issue 6), built on ``torch.optim.Adam``.

* :class:`SimultaneousAdam`: both players' gradients at ``(x_t, y_t)``, then both Adam steps.
  (``fused=True`` passes through to ``torch.optim.Adam``: its one-kernel update.)
* :class:`AlternatingAdam`: ``x`` (generator) steps first; ``y``'s gradient is taken at
  ``(x_{t+1}, y_t)`` -- the order of LEAD-Adam's Algorithm 2, so that LEAD-Adam with
  ``alpha = 0`` is this baseline.

``step(closure)``: ``closure(player)`` returns that player's loss (``"x"`` or ``"y"``); a
closure that takes no argument returns ``(loss_x, loss_y)`` and is called the same way.
:meth:`step_player` steps one player only (the trainer's extra discriminator steps).
"""
from __future__ import annotations

import inspect

import torch

from optimizers.autodiff import PLAYERS
from optimizers.base import per_player


def player_loss(closure, player: str) -> torch.Tensor:
    """One player's loss from either closure form."""
    if len(inspect.signature(closure).parameters) == 0:
        return closure()[PLAYERS.index(player)]
    return closure(player)


class _TwoAdams:
    def __init__(self, params_x, params_y, lr=2e-4, betas=(0.5, 0.999), eps=1e-8, fused=None):
        lrs, bs, es = per_player(lr), per_player(betas, True), per_player(eps)
        px, py = list(params_x), list(params_y)
        if not px or not py:
            raise ValueError("both players need at least one parameter")
        if {id(p) for p in px} & {id(p) for p in py}:
            raise ValueError("a parameter is shared by both players")
        self.params = {"x": px, "y": py}
        self.adams = {p: torch.optim.Adam(self.params[p], lr=lrs[i], betas=tuple(bs[i]), eps=es[i],
                                          fused=fused)
                      for i, p in enumerate(PLAYERS)}

    def _grad(self, closure, player):
        with torch.enable_grad():
            loss = player_loss(closure, player)
            grads = torch.autograd.grad(loss, self.params[player])
        return loss.detach(), grads

    def _apply(self, player, grads):
        for p, g in zip(self.params[player], grads):
            p.grad = g
        self.adams[player].step()
        for p in self.params[player]:
            p.grad = None

    def step_player(self, player: str, closure):
        """One Adam step of ``player`` alone."""
        loss, g = self._grad(closure, player)
        self._apply(player, g)
        return loss

    def state_dict(self) -> dict:
        return {p: a.state_dict() for p, a in self.adams.items()}

    def load_state_dict(self, state: dict) -> None:
        for p, a in self.adams.items():
            a.load_state_dict(state[p])


class SimultaneousAdam(_TwoAdams):
    """Simultaneous Adam: ``g_x, g_y`` at ``(x_t, y_t)``, then both players step."""

    def step(self, closure):
        lx, gx = self._grad(closure, "x")
        ly, gy = self._grad(closure, "y")
        self._apply("x", gx)
        self._apply("y", gy)
        return lx, ly


class AlternatingAdam(_TwoAdams):
    """Alternating Adam: ``x`` steps, then ``y`` with its gradient at ``(x_{t+1}, y_t)``."""

    def step(self, closure):
        lx = self.step_player("x", closure)
        ly = self.step_player("y", closure)
        return lx, ly
