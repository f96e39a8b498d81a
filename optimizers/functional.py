"""Pure tensor math of the game optimizers (optax-style pieces on lists of tensors).

Every function takes lists of same-shaped tensors and returns NEW tensors; nothing is
mutated, so the same functions serve ``step()`` (under ``no_grad``) and analysis code
(``torch.func.jacrev`` through an update gives its Jacobian).

Players follow the loss-minimisation convention: ``g_i = grad_i L_i`` with ``L_x = f``
and ``L_y = -f`` for a zero-sum game, so every update below is a descent step.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch

Tensors = Sequence[torch.Tensor]


def all_finite(tensors: Tensors) -> bool:
    """True iff no element of any tensor is NaN or +-inf (integer tensors always are).

    One fused reduction: a NaN or inf entry makes its tensor's 2-norm NaN or inf (the
    sum of squares has no cancellation), so finite norms prove finiteness. A norm can
    also overflow for large finite entries; only those tensors are then checked
    elementwise, so the answer is exact either way.
    """
    ts = [t for t in tensors if t.is_floating_point() or t.is_complex()]
    if not ts:
        return True
    bad = ~torch.isfinite(torch.stack([n.float() for n in torch._foreach_norm(ts)]))
    if not bool(bad.any()):
        return True
    return all(bool(torch.isfinite(ts[k]).all()) for k in bad.nonzero().flatten().tolist())


def difference(a: Tensors, b: Tensors) -> List[torch.Tensor]:
    """``a - b`` elementwise: the displacement ``d(theta) = theta_k - theta_{k-1}``."""
    return [u - v for u, v in zip(a, b)]


def axpy(x: Tensors, a: float, y: Tensors) -> List[torch.Tensor]:
    """``x + a * y``."""
    return [u + a * v for u, v in zip(x, y)]


def lead_update(params: Tensors, grads: Tensors, d: Optional[Tensors] = None,
                mixed: Optional[Tensors] = None, *, lr: float, beta: float = 0.0,
                alpha: float = 0.0) -> List[torch.Tensor]:
    """LEAD eq. 12 (Algorithm 1) for one player:

    ``theta + beta * d - lr * g - alpha * M`` with ``d = theta_k - theta_{k-1}`` and
    ``M = grad_ij L_i . d_j`` the coupling (mixed) term. ``alpha = 0`` is Polyak
    momentum GDA; ``beta = alpha = 0`` is GDA. ``d`` / ``mixed`` may be ``None`` when
    their coefficient is 0.
    """
    out = []
    for k, (p, g) in enumerate(zip(params, grads)):
        u = p - lr * g
        if beta != 0.0:
            u = u + beta * d[k]
        if alpha != 0.0:
            u = u - alpha * mixed[k]
        out.append(u)
    return out


def scale_by_adam(grads: Tensors, m: Tensors, v: Tensors, t: int, *, b1: float, b2: float,
                  eps: float) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[torch.Tensor]]:
    """Adam's moment updates and bias-corrected direction (LEAD Alg. 2 lines 8-12).

    Returns ``(direction, m_new, v_new)`` with ``direction = m_hat / (sqrt(v_hat) + eps)``,
    ``m_hat = m_new / (1 - b1^t)``, ``v_hat = v_new / (1 - b2^t)``.
    """
    c1, c2 = 1.0 - b1 ** t, 1.0 - b2 ** t
    m_new = [b1 * mi + (1.0 - b1) * g for mi, g in zip(m, grads)]
    v_new = [b2 * vi + (1.0 - b2) * g * g for vi, g in zip(v, grads)]
    direction = [(mi / c1) / ((vi / c2).sqrt() + eps) for mi, vi in zip(m_new, v_new)]
    return direction, m_new, v_new


def optimistic_update(params: Tensors, u: Tensors, u_prev: Tensors, *, lr: float
                      ) -> List[torch.Tensor]:
    """``theta - 2 lr u_t + lr u_{t-1}``: OGDA (u = gradient, FR App. D.1) and
    Optimistic Adam (u = Adam direction; Daskalakis et al. 2018, Alg. 1)."""
    return [p - 2.0 * lr * a + lr * b for p, a, b in zip(params, u, u_prev)]
