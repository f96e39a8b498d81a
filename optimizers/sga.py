"""Symplectic Gradient Adjustment (Balduzzi et al., 2018, Algorithm 1; FR App. D.1).

With ``xi = (grad_x L_x, grad_y L_y)`` and ``J`` its Jacobian, SGA descends the adjusted
field ``xi + lambda A^T xi`` where ``A = (J - J^T)/2`` is the antisymmetric part of J.
The diagonal blocks of J are symmetric Hessians and cancel in A, so per player::

    (A^T xi)_x = 1/2 grad_x < grad_y L_y - grad_y L_x , xi_y >
    (A^T xi)_y = 1/2 grad_y < grad_x L_x - grad_x L_y , xi_x >     (xi held constant)

one reverse pass per player, no Jacobian formed. For a zero-sum game this is
``(grad_xy f grad_y f, grad_yx f grad_x f)``: FR App. D.1's SGA and LEAD Table 6's row.

Sign alignment (``align=True``, Balduzzi et al. Alg. 1): the adjustment's sign is
``sign(<xi, grad H><A^T xi, grad H> / d + eps)``, with ``H = 1/2 |xi|^2``,
``grad H = J^T xi`` and ``d`` the number of parameters; the step uses
``lambda * sign``. It costs one more reverse pass.
"""
from __future__ import annotations

from .autodiff import dot, grads
from .base import GameOptimizer, Hyper, positive, real
from .cgd import per_param
from .consensus import consensus_grad


def antisymmetric_adjustment(ev, params):
    """``A^T xi`` for ``params = {"x": [...], "y": [...]}`` as a flat list (x then y)."""
    out = []
    for i, j in (("x", "y"), ("y", "x")):
        xi_j = ev.grad_wrt(j, j, graph=False)
        diff = [a - b for a, b in zip(ev.grad_wrt(j, j, graph=True),
                                      ev.grad_wrt(i, j, graph=True))]
        out += [0.5 * t.detach() for t in grads(dot(diff, xi_j), params[i], retain_graph=True)]
    return out


class SGA(GameOptimizer):
    """Symplectic gradient adjustment, simultaneous: ``theta -= lr (xi + lambda A^T xi)``.

    Parameters
    ----------
    lr: learning rate > 0 (scalar or pair).
    lam: adjustment weight lambda (scalar or pair; FR App. D.1 uses 1.0).
    align: use Balduzzi et al.'s sign alignment (default False; FR reports no
        qualitative difference on its toy games).
    align_eps: the epsilon of the alignment rule (Balduzzi et al. use 0.1).

    Takes its second derivatives by double backward whatever ``mixed_mode`` says.
    """

    hyper = {"lr": Hyper(positive), "lam": Hyper(real)}

    def __init__(self, params_x, params_y, lr, lam=1.0, *, align: bool = False,
                 align_eps: float = 0.1, nonfinite: str = "raise",
                 max_grad_norm=None, set_grad: bool = True):
        if not isinstance(align, bool):
            raise TypeError(f"Invalid align: expected True or False, got {align!r}")
        align_eps = positive("align_eps", align_eps)
        super().__init__(params_x, params_y, dict(lr=lr, lam=lam),
                         options=dict(align=align, align_eps=align_eps), nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)
        self.last_sign = 1.0

    def _step(self, closure):
        ev = self.evaluation(closure, second_order=True)
        px, py = self.player_params("x"), self.player_params("y")
        adj = antisymmetric_adjustment(ev, {"x": px, "y": py})
        xi = ev.grad("x") + ev.grad("y")
        sign = 1.0
        if self.options["align"]:
            _, grad_h = consensus_grad(ev, px + py)
            d = sum(p.numel() for p in px + py)
            score = float(dot(xi, grad_h) * dot(adj, grad_h)) / d + self.options["align_eps"]
            sign = 1.0 if score >= 0 else -1.0
        self.last_sign = sign
        lr = per_param(self, "x", "lr") + per_param(self, "y", "lr")
        lam = per_param(self, "x", "lam") + per_param(self, "y", "lam")
        new = [p.detach() - e * (v + sign * c * w)
               for p, e, c, v, w in zip(px + py, lr, lam, xi, adj)]
        self._commit(px + py, new, final=True)
        return ev.losses_detached()
