"""Extragradient (Korpelevich 1976; FR App. D.1 "EG") and Extra-Adam (Gidel et al. 2019,
"A variational inequality perspective on GANs", Alg. 4).

EG:  theta' = theta - lr_e g(theta);   theta <- theta - lr g(theta')  (both players at once).
Extra-Adam: the same two evaluations, each feeding Adam's moments; the bias correction
counts half steps (exponents 2t-1 at the extrapolation, 2t at the update), and the
update starts from theta, not theta'.
"""
from __future__ import annotations

import torch

from .autodiff import PLAYERS
from .base import AdamGameOptimizer, GameOptimizer, Hyper, positive
from .functional import axpy, extrapolate, scale_by_adam


class ExtraGradient(GameOptimizer):
    """Extragradient; ``lr_extrapolation`` defaults to ``lr`` (FR App. D.1)."""

    hyper = {"lr": Hyper(positive), "lr_extrapolation": Hyper(positive)}

    def __init__(self, params_x, params_y, lr, lr_extrapolation=None, *, nonfinite="raise",
                 max_grad_norm=None, set_grad=True):
        super().__init__(params_x, params_y,
                         dict(lr=lr, lr_extrapolation=lr if lr_extrapolation is None
                              else lr_extrapolation), nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)

    def _step(self, closure):
        ev = self.evaluation(closure)
        ps = {i: self.player_params(i) for i in PLAYERS}
        half = {i: self.map_groups(i, lambda grp, P, G: extrapolate(P, G, lr=grp["lr_extrapolation"]),
                                   ps[i], ev.grad(i)) for i in PLAYERS}
        with self.params_at(half):
            ev2 = self.evaluation(closure)
            g2 = {i: ev2.grad(i) for i in PLAYERS}
        new = {i: self.map_groups(i, lambda grp, P, G: extrapolate(P, G, lr=grp["lr"]), ps[i], g2[i])
               for i in PLAYERS}
        self._commit(ps["x"] + ps["y"], new["x"] + new["y"], final=True)
        return ev.losses_detached()


def _init_adam(p):
    z = torch.zeros_like(p, memory_format=torch.preserve_format)
    return {"exp_avg": z, "exp_avg_sq": z.clone()}


class ExtraAdam(AdamGameOptimizer):
    """Extra-Adam (Gidel et al. 2019, Alg. 4); simultaneous, per-player hyperparameters."""

    def _adam(self, i, base, grads, m, v, t):
        """``(base - lr * adam_direction, m', v')`` group by group."""
        def core(grp, P, G, M, V):
            b1, b2 = grp["betas"]
            u, m1, v1 = scale_by_adam(G, M, V, t, b1=b1, b2=b2, eps=grp["eps"])
            return axpy(P, -grp["lr"], u), m1, v1
        return self.map_groups(i, core, base, grads, m, v)

    def _step(self, closure):
        t = self.game_step + 1
        ev = self.evaluation(closure)
        ps = {i: self.player_params(i) for i in PLAYERS}
        st = {i: [self.state_of(p, _init_adam) for p in ps[i]] for i in PLAYERS}
        half = {i: self._adam(i, ps[i], ev.grad(i), [s["exp_avg"] for s in st[i]],
                              [s["exp_avg_sq"] for s in st[i]], 2 * t - 1) for i in PLAYERS}
        with self.params_at({i: half[i][0] for i in PLAYERS}):
            ev2 = self.evaluation(closure)
            g2 = {i: ev2.grad(i) for i in PLAYERS}
        new = {i: self._adam(i, ps[i], g2[i], half[i][1], half[i][2], 2 * t) for i in PLAYERS}
        states = [{"exp_avg": a, "exp_avg_sq": b} for i in PLAYERS
                  for a, b in zip(new[i][1], new[i][2])]
        self._commit(ps["x"] + ps["y"], new["x"][0] + new["y"][0], states, final=True)
        return ev.losses_detached()
