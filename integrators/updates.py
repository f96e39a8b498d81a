"""The cores of the update rules, one function per rule, shared by the torch optimizers
(``optimizers``, re-exported by :mod:`optimizers.functional`), the discrete iteration
(:func:`integrators.discrete.rule_step`) and the spectral step maps
(:mod:`integrators.spectral`): LEAD and every derived two-step rule, extragradient,
OGDA and complex momentum. Pure tensor math on lists of tensors: nothing is mutated, so
the same functions serve ``step()`` (under ``no_grad``) and autograd through an update.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch

Tensors = Sequence[torch.Tensor]


def lead_update(params: Optional[Tensors], grads: Tensors, d: Optional[Tensors] = None,
                mixed: Optional[Tensors] = None, *, lr: float, beta: float = 0.0,
                alpha: float = 0.0, terms: Sequence[Tuple[float, Tensors]] = ()
                ) -> List[torch.Tensor]:
    """LEAD eq. 12 (Algorithm 1) for one player, and every two-step rule derived from
    forces (``integrators.rule``; the one core of the torch optimizers, of
    ``integrators.iterate`` and of the spectral step maps):

    ``theta + beta * d - lr * g - alpha * M - sum_t c_t T_t`` with ``d = theta_k -
    theta_{k-1}``, ``M = grad_ij L_i . d_j`` the coupling (mixed) term and ``terms`` the
    further forces' ``(c_t, T_t)`` (e.g. consensus: ``(eta gamma, J^T v)``). ``alpha = 0``
    is Polyak momentum GDA; ``beta = alpha = 0`` is GDA. ``d`` / ``mixed`` may be
    ``None`` when their coefficient is 0. ``params=None`` returns the step itself,
    ``beta d - lr g - alpha M - sum_t c_t T_t`` (what implicit rules solve for and what
    Adam preconditioning takes as a direction, without the rounding of ``theta``).
    """
    out = []
    for k, g in enumerate(grads):
        u = -lr * g if params is None else params[k] - lr * g
        if beta != 0.0:
            u = u + beta * d[k]
        if alpha != 0.0:
            u = u - alpha * mixed[k]
        for c, t in terms:
            if c != 0.0:
                u = u - c * t[k]
        out.append(u)
    return out


def extrapolate(params: Tensors, grads: Tensors, *, lr: float) -> List[torch.Tensor]:
    """``theta - lr g``: extragradient's extrapolation and its update (Korpelevich;
    FR App. D.1 "EG"), the first with ``g`` at ``theta``, the second at the
    extrapolated point."""
    out = list(torch._foreach_mul(list(grads), -lr))      # -lr g + theta, as axpy
    torch._foreach_add_(out, list(params))
    return out


def optimistic_update(params: Tensors, u: Tensors, u_prev: Tensors, *, lr: float
                      ) -> List[torch.Tensor]:
    """``theta - 2 lr u_t + lr u_{t-1}``: OGDA (u = gradient, FR App. D.1) and
    Optimistic Adam (u = Adam direction; Daskalakis et al. 2018, Alg. 1)."""
    return [p - 2.0 * lr * a + lr * b for p, a, b in zip(params, u, u_prev)]


def complex_momentum_update(params: Tensors, grads: Tensors, mu_re: Tensors, mu_im: Tensors,
                            *, lr: Sequence[float], beta: Sequence[complex]
                            ) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[torch.Tensor]]:
    """Complex momentum (Lorraine et al., 2022), simultaneous: ``mu <- beta mu - g``,
    ``theta <- theta + Re(lr mu)`` with the buffer as ``(Re mu, Im mu)`` and one
    ``lr``/``beta`` per tensor; returns ``(new params, new mu_re, new mu_im)``.
    Differentiable (the spectral step map runs it)."""
    out_p, out_re, out_im = [], [], []
    for p, g, re, im, a, b in zip(params, grads, mu_re, mu_im, lr, beta):
        nre = b.real * re - b.imag * im - g
        nim = b.real * im + b.imag * re
        out_p.append(p + a * nre)
        out_re.append(nre)
        out_im.append(nim)
    return out_p, out_re, out_im
