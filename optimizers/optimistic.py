"""Optimistic methods: OGDA (FR App. D.1; Daskalakis et al. 2018) and Optimistic Adam
(Daskalakis et al. 2018, "Training GANs with optimism", Alg. 1).

Both are ``theta <- theta - 2 lr u_t + lr u_{t-1}`` (:func:`functional.optimistic_update`)
with ``u`` the gradient (OGDA) or Adam's bias-corrected direction (Optimistic Adam).
Start: OGDA takes ``g_{-1} = g_0`` (so its first step is a GDA step, consistent with
``theta_{-1} = theta_0``); Optimistic Adam starts from ``m_0 = v_0 = 0`` and
``u_0 = 0`` as in its Algorithm 1.
"""
from __future__ import annotations

import torch

from .autodiff import PLAYERS
from .base import AdamGameOptimizer, GameOptimizer, Hyper, positive
from .functional import optimistic_update, scale_by_adam


class OGDA(GameOptimizer):
    """Optimistic gradient descent-ascent, simultaneous."""

    hyper = {"lr": Hyper(positive)}

    def __init__(self, params_x, params_y, lr, *, nonfinite="raise",
                 max_grad_norm=None, set_grad=True):
        super().__init__(params_x, params_y, dict(lr=lr), nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)

    def _step(self, closure):
        ev = self.evaluation(closure)
        ps_all, new_all, states = [], [], []
        for i in PLAYERS:
            ps, g = self.player_params(i), ev.grad(i)
            prev = [self.state[p].get("prev_grad", gk) for p, gk in zip(ps, g)]
            ps_all += ps
            new_all += self.map_groups(i, lambda grp, P, G, Gp: optimistic_update(
                P, G, Gp, lr=grp["lr"]), ps, g, prev)
            states += [{"prev_grad": gk} for gk in g]
        self._commit(ps_all, new_all, states, final=True)
        return ev.losses_detached()


def _init(p):
    z = torch.zeros_like(p, memory_format=torch.preserve_format)
    return {"exp_avg": z, "exp_avg_sq": z.clone(), "prev_dir": z.clone()}


class OptimisticAdam(AdamGameOptimizer):
    """Optimistic Adam, simultaneous; per-player ``lr``, ``betas``, ``eps``."""

    def _step(self, closure):
        t = self.game_step + 1
        ev = self.evaluation(closure)
        ps_all, new_all, states = [], [], []
        for i in PLAYERS:
            ps = self.player_params(i)
            sts = [self.state_of(p, _init) for p in ps]

            def core(grp, P, G, S):
                b1, b2 = grp["betas"]
                u, m1, v1 = scale_by_adam(G, [s["exp_avg"] for s in S],
                                          [s["exp_avg_sq"] for s in S], t, b1=b1, b2=b2,
                                          eps=grp["eps"])
                return (optimistic_update(P, u, [s["prev_dir"] for s in S], lr=grp["lr"]),
                        u, m1, v1)

            new, u, m1, v1 = self.map_groups(i, core, ps, ev.grad(i), sts)
            ps_all += ps
            new_all += new
            states += [{"exp_avg": a, "exp_avg_sq": b, "prev_dir": c}
                       for a, b, c in zip(m1, v1, u)]
        self._commit(ps_all, new_all, states, final=True)
        return ev.losses_detached()
