"""Consensus optimization (Mescheder, Nowozin & Geiger, 2017; lecture notes Sec. 4, eq. 15).

Each player descends its own gradient plus gamma times the gradient of the consensus
penalty ``L = 1/2 |xi|^2``, with ``xi = (grad_x L_x, grad_y L_y)`` the game's vector field
(LEAD eq. 14)::

    theta_i <- theta_i - lr_i * (xi_i + gamma_i * grad_i 1/2 |xi|^2)
             = theta_i - lr_i * (xi_i + gamma_i * (J^T xi)_i).

``J^T xi`` is one reverse pass through the (graph-carrying) gradients; no Jacobian is
formed. FR App. D.1 writes the penalty as ``gamma eta grad |grad f|^2``, i.e. twice ours:
its gamma equals ``gamma / 2`` here. LEAD Table 6 (row CO) is the zero-sum case.
"""
from __future__ import annotations


from .autodiff import dot, grads
from .base import GameOptimizer, Hyper, nonnegative, positive
from .cgd import per_param


def consensus_grad(ev, params_all):
    """``(xi, J^T xi)`` as flat lists over x's then y's parameters (Mescheder eq. 6)."""
    xi = ev.grad_wrt("x", "x", graph=True) + ev.grad_wrt("y", "y", graph=True)
    penalty = 0.5 * dot(xi, xi)
    return [t.detach() for t in xi], [t.detach() for t in grads(penalty, params_all,
                                                                  retain_graph=True)]


class CO(GameOptimizer):
    """Consensus optimization: simultaneous descent on ``xi + gamma * J^T xi``.

    Parameters
    ----------
    lr: learning rate > 0 (scalar or pair).
    gamma: consensus weight >= 0 (scalar or pair); ``gamma = 0`` is simultaneous GDA.

    One step costs one evaluation of both losses and one extra reverse pass. The
    penalty's derivative is taken by double backward whatever ``mixed_mode`` says.
    """

    hyper = {"lr": Hyper(positive), "gamma": Hyper(nonnegative)}

    def __init__(self, params_x, params_y, lr, gamma=0.1, *, nonfinite: str = "raise",
                 max_grad_norm=None, set_grad: bool = True):
        super().__init__(params_x, params_y, dict(lr=lr, gamma=gamma), options=dict(),
                         nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)

    def _step(self, closure):
        ev = self.evaluation(closure, second_order=True)
        ps = self.player_params("x") + self.player_params("y")
        _, jtxi = consensus_grad(ev, ps)
        xi = ev.grad("x") + ev.grad("y")       # the same xi, clipped under max_grad_norm
        lr = per_param(self, "x", "lr") + per_param(self, "y", "lr")
        gam = per_param(self, "x", "gamma") + per_param(self, "y", "gamma")
        new = [p.detach() - e * (v + c * w) for p, e, c, v, w in zip(ps, lr, gam, xi, jtxi)]
        self._commit(ps, new, final=True)
        return ev.losses_detached()
