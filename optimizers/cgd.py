"""Competitive Gradient Descent (Schaefer & Anandkumar, 2019) and the conjugate-gradient
solver shared with Follow-the-Ridge.

CGD plays, at every step, the Nash equilibrium of the local *bilinear* approximation of
the game. With per-coordinate learning rates ``E_x``, ``E_y`` (diagonal), own-loss
gradients ``g_i = grad_i L_i`` and mixed blocks ``B_x = grad_xy L_x``, ``B_y = grad_yx L_y``
the equilibrium of the local game satisfies::

    dx = -E_x (g_x + B_x dy),        dy = -E_y (g_y + B_y dx).

Eliminating ``dy`` gives the x step as one linear solve (the "inverse term")::

    (E_x^-1 - B_x E_y B_y) dx = -(g_x - B_x E_y g_y),        then  dy = -E_y (g_y + B_y dx).

For a zero-sum game (``L_y = -L_x``, so ``B_y = -B_x^T``) the operator is
``E_x^-1 + B_x E_y B_x^T``: symmetric positive definite, and conjugate gradient solves it
with two Hessian-block products (JVPs) per iteration; no Jacobian is formed. With a
scalar learning rate eta this is ``(I + eta^2 grad_xy f grad_yx f)^-1`` of LEAD Table 6.
For general-sum games (``zero_sum=False``) the operator is not symmetric and CG runs on
the normal equations (four products per iteration).
"""
from __future__ import annotations

import math
from typing import Callable, List, NamedTuple, Optional, Sequence

import torch

from .autodiff import dot
from .base import GameOptimizer, Hyper, positive

Tensors = Sequence[torch.Tensor]


class CGResult(NamedTuple):
    """The solution, the iterations run and the final relative residual."""

    x: List[torch.Tensor]
    iterations: int
    residual: float


def conjugate_gradient(matvec: Callable[[List[torch.Tensor]], List[torch.Tensor]], b: Tensors,
                       *, max_iter: Optional[int] = None, tol: float = 1e-12) -> CGResult:
    """Solve ``A x = b`` for symmetric positive definite ``A`` given by ``matvec``.

    Vectors are lists of tensors. Starts from ``x = 0``; stops when
    ``|r| <= tol |b|`` or after ``max_iter`` iterations (``None``: the dimension of the
    system, exact in exact arithmetic). Raises ``ValueError`` when a search direction has
    non-positive curvature ``p'Ap`` (the operator is not positive definite).
    """
    b = [t.detach() for t in b]
    n = sum(t.numel() for t in b)
    max_iter = n if max_iter is None else int(max_iter)
    x = [torch.zeros_like(t) for t in b]
    r = [t.clone() for t in b]
    p = [t.clone() for t in b]
    rs = float(dot(r, r)) if b else 0.0
    bnorm = math.sqrt(rs)
    if bnorm == 0.0:
        return CGResult(x, 0, 0.0)
    k = 0
    while k < max_iter and math.sqrt(rs) > tol * bnorm:
        Ap = matvec(p)
        pAp = float(dot(p, Ap))
        if pAp <= 0.0:  # (NaN passes; the caller's finite check on the iterate reports it)
            raise ValueError(f"conjugate gradient: the operator is not positive definite "
                             f"(p'Ap = {pAp:.3g} at iteration {k + 1})")
        a = rs / pAp
        x = [u + a * v for u, v in zip(x, p)]
        r = [u - a * v for u, v in zip(r, Ap)]
        rs_new = float(dot(r, r))
        p = [u + (rs_new / rs) * v for u, v in zip(r, p)]
        rs, k = rs_new, k + 1
    return CGResult(x, k, math.sqrt(rs) / bnorm)


#: default ``cg_tol`` per parameter dtype: a relative residual the dtype can reach. float32's
#: true residual stalls near ``cond * eps`` (about 1e-5 to 1e-6 on the GAN systems), while
#: CG's recursive residual keeps falling; 1e-12 then ran CG to its iteration cap for nothing.
CG_TOL = {torch.float64: 1e-12, torch.float32: 1e-6, torch.float16: 1e-3, torch.bfloat16: 1e-2}


def default_cg_tol(dtype: torch.dtype) -> float:
    """The default relative CG residual for parameters of ``dtype`` (:data:`CG_TOL`)."""
    return CG_TOL.get(dtype, 1e-12)


def set_cg_tol(opt: GameOptimizer, tol: Optional[float]) -> None:
    """``opt.options["cg_tol"]``: ``tol``, or (``None``) the default of the least precise
    dtype among ``opt``'s parameters."""
    if tol is None:
        tol = max(default_cg_tol(p.dtype) for g in opt.param_groups for p in g["params"])
    opt.options["cg_tol"] = float(tol)


def per_param(opt: GameOptimizer, player: str, name: str) -> list:
    """Hyperparameter ``name`` of each parameter of ``player`` (from its group), in the
    order of ``opt.player_params(player)``."""
    return [g[name] for g, a, b in opt.player_groups(player) for _ in range(a, b)]


class CGD(GameOptimizer):
    """Competitive Gradient Descent (Schaefer & Anandkumar, 2019; LEAD Table 6, row CGD).

    Parameters
    ----------
    params_x, params_y: the players' parameters (tensors or param-group dicts).
    lr: learning rate eta > 0, or a pair ``(eta_x, eta_y)``.
    zero_sum: ``True`` (default) when ``L_y = -L_x``: CG on the symmetric positive definite
        operator ``E_x^-1 + B_x E_y B_x^T``. A closure that is not zero-sum may make this
        operator indefinite, which raises a ``ValueError`` naming this option. ``False``:
        CG on the normal equations of the general-sum operator.
    cg_max_iter: CG iterations per step (``None``: the number of x parameters, exact).
    cg_tol: relative residual at which CG stops (``None``: :func:`default_cg_tol` of the
        parameters' dtype, 1e-12 in float64 and 1e-6 in float32).
    nonfinite, mixed_mode: see :class:`~optimizers.base.GameOptimizer`.

    Cost per step: one gradient per player, ``2 + 2 k`` (zero-sum) or ``2 + 4 k``
    (general-sum) Hessian-block products for ``k`` CG iterations. ``last_cg`` holds the
    last solve's :class:`CGResult` statistics.
    """

    hyper = {"lr": Hyper(positive)}

    def __init__(self, params_x, params_y, lr, *, zero_sum: bool = True,
                 cg_max_iter: Optional[int] = None, cg_tol: Optional[float] = None,
                 nonfinite: str = "raise",
                 max_grad_norm=None, set_grad: bool = True, mixed_mode: Optional[str] = None):
        if not isinstance(zero_sum, bool):
            raise TypeError(f"Invalid zero_sum: expected True or False, got {zero_sum!r}")
        _check_cg(cg_max_iter, cg_tol)
        super().__init__(params_x, params_y, dict(lr=lr),
                         options=dict(zero_sum=zero_sum, cg_max_iter=cg_max_iter),
                         nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad, mixed_mode=mixed_mode)
        set_cg_tol(self, cg_tol)
        self.last_cg: Optional[CGResult] = None

    def _step(self, closure):
        ev = self.evaluation(closure, second_order=True)
        gx, gy = ev.grad("x"), ev.grad("y")
        lx, ly = per_param(self, "x", "lr"), per_param(self, "y", "lr")
        Ey = lambda v: [e * t for e, t in zip(ly, v)]  # noqa: E731
        Ex_inv = lambda v: [t / e for e, t in zip(lx, v)]  # noqa: E731
        Bx = lambda w: ev.hvp("x", "x", "y", w)     # grad_xy L_x . w
        By = lambda v: ev.hvp("y", "y", "x", v)     # grad_yx L_y . v

        def M(v):  # (E_x^-1 - B_x E_y B_y) v
            return [a - c for a, c in zip(Ex_inv(v), Bx(Ey(By(v))))]

        rhs = [-(a - c) for a, c in zip(gx, Bx(Ey(gy)))]
        opts = self.options
        if opts["zero_sum"]:
            try:
                res = conjugate_gradient(M, rhs, max_iter=opts["cg_max_iter"], tol=opts["cg_tol"])
            except ValueError as err:
                raise ValueError(f"CGD: {err}; is the game zero-sum? For general-sum games "
                                 f"pass zero_sum=False") from None
        else:
            Bx_T = lambda v: ev.hvp("x", "y", "x", v)   # (grad_xy L_x)^T v = grad_yx L_x . v
            By_T = lambda w: ev.hvp("y", "x", "y", w)   # (grad_yx L_y)^T w = grad_xy L_y . w

            def MT(v):  # (E_x^-1 - B_y^T E_y B_x^T) v
                return [a - c for a, c in zip(Ex_inv(v), By_T(Ey(Bx_T(v))))]

            res = conjugate_gradient(lambda v: MT(M(v)), MT(rhs), max_iter=opts["cg_max_iter"],
                                     tol=opts["cg_tol"])
        self.last_cg = res
        dx = res.x
        dy = [-t for t in Ey([a + c for a, c in zip(gy, By(dx))])]
        px, py = self.player_params("x"), self.player_params("y")
        new = [p.detach() + d for p, d in zip(px + py, dx + dy)]
        self._commit(px + py, new, what="", final=True)
        return ev.losses_detached()


def _check_cg(max_iter, tol):
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, int)
                                 or max_iter < 1):
        raise ValueError(f"Invalid cg_max_iter: expected None or an integer >= 1, got {max_iter!r}")
    if tol is not None:
        positive("cg_tol", tol)
