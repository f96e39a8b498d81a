"""Per-player gradient clipping by total norm (the ``max_grad_norm`` option of every
:class:`~optimizers.base.GameOptimizer`).

A player's gradient ``g = grad_i L_i`` over all of its parameters together is scaled by
``min(1, max_norm / (|g| + 1e-6))``, the rule (and the 1e-6) of
``torch.nn.utils.clip_grad_norm_``; the factor stays a tensor, so no host
synchronisation is needed on an accelerator.
"""
from __future__ import annotations

import functools
from typing import List, Sequence, Tuple

import torch

#: added to the norm before dividing, as ``torch.nn.utils.clip_grad_norm_`` does
CLIP_EPS = 1e-6


def total_norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The Euclidean norm of all ``tensors`` taken together (one 0-d tensor, in the
    widest of their dtypes)."""
    if not tensors:
        return torch.zeros(())
    dtype = functools.reduce(torch.promote_types, [t.dtype for t in tensors])
    norms = [torch.linalg.vector_norm(t.detach(), dtype=dtype) for t in tensors]
    return torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))


def clip_coefficient(norm: torch.Tensor, max_norm: float) -> torch.Tensor:
    """``min(1, max_norm / (norm + 1e-6))``."""
    return (max_norm / (norm + CLIP_EPS)).clamp(max=1.0)


def scaled(tensors: Sequence[torch.Tensor], coef: torch.Tensor) -> List[torch.Tensor]:
    """``coef * t`` for each tensor (new tensors), ``coef`` a 0-d tensor."""
    return [t * coef.to(device=t.device, dtype=t.dtype) for t in tensors]


def clip_by_total_norm(grads: Sequence[torch.Tensor], max_norm: float
                       ) -> Tuple[List[torch.Tensor], torch.Tensor]:
    """``(scaled copies of grads, their norm before clipping)``; ``grads`` is not changed."""
    norm = total_norm(grads)
    return scaled(grads, clip_coefficient(norm, max_norm)), norm
