"""Follow-the-Ridge (Wang, Zhang & Ba, 2020): Algorithm 1, with the preconditioning of
eq. 2, the momentum of eq. 9 (App. D.4; eq. 3 on quadratics) and the damped
conjugate-gradient solve with the Levenberg-Marquardt rule of App. D.4.

x is the leader (minimises f), y the follower (maximises f). With own-loss gradients
``g_i = grad_i L_i`` (``g_x = grad_x f``, ``g_y = -grad_y f``), an optional diagonal
RMSprop preconditioner ``P_i`` and momentum ``gamma_i``, one step is::

    d_x = gamma_x m_x + lr_x P_x g_x          d_y = gamma_y m_y + lr_y P_y g_y
    b   = H_yx d_x                             (one Hessian-block product)
    (H_yy^2 + lambda I) dY = H_yy b            (conjugate gradient, App. D.4 step 3)
    x <- x - d_x         y <- y - d_y + dY      m_i <- d_i

With ``gamma = 0``, no preconditioner and ``lambda = 0`` this is Algorithm 1:
``y <- y + lr_y grad_y f + lr_x H_yy^-1 H_yx grad_x f``. ``H`` are the blocks of the
follower's loss ``L_y``; for a zero-sum game (``L_y = -f``) ``H_yy^-1 H_yx`` and
``(H_yy^2 + lambda)^-1 H_yy b`` are the same as with f's blocks (the signs cancel).
(FR's Prop. 2 writes H_yx^-1 in the Schur complement; H_yy^-1 is meant, see
``shared/seeds/README.md``.) General-sum games need FR's Algorithm 2, which this is not.

Adaptive damping (``adaptive_damping=True``, App. D.4 steps 4-5): after the solve, the
reduction ratio

    rho = (|b|^2 - |grad_y L_y(x, y) - grad_y L_y(x - d_x, y + dY)|^2) / (|b|^2 - |H_yy dY - b|^2)

compares the true change of the follower's gradient with the quadratic model (one extra
evaluation of L_y). ``lambda`` is multiplied by 2.0 if rho <= 0 (and dY is dropped),
1.1 if 0 < rho <= 0.5, 0.9 if rho > 0.95. A non-positive denominator counts as rho <= 0.
Deviations from App. D.4, on purpose: b comes from an autograd JVP at (x_t, y_t), not
from a finite difference, and H_yy is evaluated at (x_t, y_t) as in Algorithm 1, not at
the updated x.
"""
from __future__ import annotations

from typing import Optional

import torch

from .autodiff import dot
from .base import GameOptimizer, Hyper, momentum, nonnegative, positive
from .cgd import _check_cg, conjugate_gradient, per_param, set_cg_tol

PRECONDITIONERS = (None, "rmsprop")


def _decay(name: str, v) -> float:
    v = nonnegative(name, v)
    if v >= 1.0:
        raise ValueError(f"Invalid {name}: must lie in [0, 1), got {v}")
    return v


def lm_damping(lam: float, rho: float) -> float:
    """FR App. D.4's Levenberg-Marquardt rule for the damping ``lambda``."""
    if rho <= 0.0:
        return 2.0 * lam
    if rho <= 0.5:
        return 1.1 * lam
    if rho > 0.95:
        return 0.9 * lam
    return lam


class FR(GameOptimizer):
    """Follow-the-Ridge for zero-sum ``min_x max_y f`` (FR Algorithm 1; eq. 2, 3, 9; D.4).

    Parameters
    ----------
    lr: learning rate > 0 (scalar or pair ``(lr_x, lr_y)``).
    momentum: gamma in (-1, 1) (scalar or pair; FR uses positive values), eq. 9.
    preconditioner: ``None`` or ``"rmsprop"``: ``P g = g / (sqrt(v) + eps)`` with
        ``v <- rms_decay v + (1 - rms_decay) g^2`` per coordinate (eq. 2).
    rms_decay, eps: RMSprop's decay in [0, 1) and epsilon > 0 (scalars or pairs).
    damping: the initial lambda >= 0 of the solve ``(H_yy^2 + lambda I) dY = H_yy b``.
    adaptive_damping: adapt lambda by App. D.4's Levenberg-Marquardt rule (costs one
        more evaluation of L_y per step). lambda is saved in checkpoints (a float64
        tensor, kept float64 by :meth:`load_state_dict` whatever the parameters' dtype).
    cg_max_iter: CG iterations (``None``: the number of y parameters; FR uses 5-10).
    cg_tol: relative residual at which CG stops (``None``: the parameters' dtype's
        :func:`~optimizers.cgd.default_cg_tol`, 1e-12 in float64 and 1e-6 in float32).
    nonfinite, mixed_mode: see :class:`~optimizers.base.GameOptimizer`.

    ``damping_value`` is the current lambda; ``last_rho`` and ``last_cg`` the last
    step's reduction ratio (``None`` if not computed) and CG statistics.
    """

    hyper = {"lr": Hyper(positive), "momentum": Hyper(momentum),
             "rms_decay": Hyper(_decay), "eps": Hyper(positive)}

    def __init__(self, params_x, params_y, lr, momentum=0.0, *,
                 preconditioner: Optional[str] = None, rms_decay=0.99, eps=1e-8,
                 damping: float = 0.0, adaptive_damping: bool = False,
                 cg_max_iter: Optional[int] = None, cg_tol: Optional[float] = None,
                 nonfinite: str = "raise",
                 max_grad_norm=None, set_grad: bool = True, mixed_mode: Optional[str] = None):
        if preconditioner not in PRECONDITIONERS:
            raise ValueError(f"Invalid preconditioner: must be one of {PRECONDITIONERS}, "
                             f"got {preconditioner!r}")
        if not isinstance(adaptive_damping, bool):
            raise TypeError(f"Invalid adaptive_damping: expected True or False, "
                            f"got {adaptive_damping!r}")
        damping = nonnegative("damping", damping)
        _check_cg(cg_max_iter, cg_tol)
        super().__init__(params_x, params_y,
                         dict(lr=lr, momentum=momentum, rms_decay=rms_decay, eps=eps),
                         options=dict(preconditioner=preconditioner, damping=damping,
                                      adaptive_damping=adaptive_damping,
                                      cg_max_iter=cg_max_iter),
                         nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad, mixed_mode=mixed_mode)
        set_cg_tol(self, cg_tol)
        self.last_rho: Optional[float] = None
        self.last_cg = None

    # ------------------------------------------------------------ state
    @staticmethod
    def _init(p):
        return {"momentum_buffer": torch.zeros_like(p, memory_format=torch.preserve_format),
                "square_avg": torch.zeros_like(p, memory_format=torch.preserve_format)}

    @property
    def damping_value(self) -> float:
        """The current lambda (kept in the state of the first y parameter)."""
        st = self.state.get(self.player_params("y")[0], {})
        return float(st["damping"]) if "damping" in st else self.options["damping"]

    def _direction(self, player: str, g):
        """``(d, states)``: ``d = gamma m + lr P g`` with the new momentum/RMSprop state."""
        ps = self.player_params(player)
        lr, gam = per_param(self, player, "lr"), per_param(self, player, "momentum")
        rho, eps = per_param(self, player, "rms_decay"), per_param(self, player, "eps")
        d, states = [], []
        for k, p in enumerate(ps):
            st = self.state_of(p, self._init)
            u, v = g[k], st["square_avg"]
            if self.options["preconditioner"] == "rmsprop":
                v = rho[k] * v + (1.0 - rho[k]) * u * u
                u = u / (v.sqrt() + eps[k])
            dk = gam[k] * st["momentum_buffer"] + lr[k] * u
            d.append(dk)
            states.append({"momentum_buffer": dk, "square_avg": v})
        return d, states

    def load_state_dict(self, state_dict) -> None:
        """As :meth:`GameOptimizer.load_state_dict`, but lambda stays float64 (torch.optim
        casts floating state to the parameters' dtype, which made a float32 resume differ)."""
        super().load_state_dict(state_dict)     # (validates the checkpoint first)
        saved = {i: st["damping"] for i, st in state_dict["state"].items()
                 if isinstance(st.get("damping"), torch.Tensor)}
        ids = [i for g in state_dict["param_groups"] for i in g["params"]]
        params = [p for g in self.param_groups for p in g["params"]]
        for i, p in zip(ids, params):
            if i in saved:
                self.state[p]["damping"] = saved[i].detach().to("cpu", torch.float64, copy=True)

    # ------------------------------------------------------------ step
    def _step(self, closure):
        ev = self.evaluation(closure, second_order=True)
        px, py = self.player_params("x"), self.player_params("y")
        dx, sx = self._direction("x", ev.grad("x"))
        dy, sy = self._direction("y", ev.grad("y"))
        lam = self.damping_value
        H = lambda v: ev.hvp("y", "y", "y", v)        # H_yy v (of L_y)  # noqa: E731
        b = ev.hvp("y", "y", "x", dx)                  # H_yx d_x (of L_y)
        rhs = H(b)
        op = lambda v: [a + lam * t for a, t in zip(H(H(v)), v)]  # noqa: E731
        res = conjugate_gradient(op, rhs, max_iter=self.options["cg_max_iter"],
                                 tol=self.options["cg_tol"])
        self.last_cg, dY = res, res.x
        self.last_rho = None
        if self.options["adaptive_damping"]:
            dY, lam = self._levenberg_marquardt(closure, ev, px, py, dx, dY, b, H, lam)
        new_x = [p.detach() - d for p, d in zip(px, dx)]
        new_y = [p.detach() - d + c for p, d, c in zip(py, dy, dY)]
        lam_t = torch.tensor(lam, dtype=torch.float64)
        sy = [dict(s, damping=lam_t) for s in sy]
        self._commit(px + py, new_x + new_y, sx + sy, final=True)
        return ev.losses_detached()

    def _levenberg_marquardt(self, closure, ev, px, py, dx, dY, b, H, lam):
        """App. D.4 steps 4-5: reduction ratio, new lambda, dY dropped if rho <= 0."""
        bb = float(dot(b, b))
        if bb == 0.0:           # nothing to correct; the ratio is undefined
            return dY, lam
        model = float(dot(*[[h - c for h, c in zip(H(dY), b)]] * 2))
        gy = ev.grad_wrt("y", "y")           # unclipped: the ratio compares true gradients
        with self.params_at({"x": [p.detach() - d for p, d in zip(px, dx)],
                             "y": [p.detach() + c for p, c in zip(py, dY)]}):
            gy_new = self.evaluation(closure).grad_wrt("y", "y")
        actual = float(dot(*[[u - v for u, v in zip(gy, gy_new)]] * 2))
        den = bb - model
        rho = (bb - actual) / den if den > 0 else -1.0
        self.last_rho = rho
        if rho <= 0.0:
            dY = [torch.zeros_like(t) for t in dY]
        return dY, lm_damping(lam, rho)
