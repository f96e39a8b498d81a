"""Autograd helpers shared by games and forces.

Every derivative in the library comes from ``torch.autograd``: gradients of the
players' losses, Jacobian-vector products of the mixed blocks, Hessian-vector
products. Losses are written to broadcast over leading batch dimensions, so the
gradient of the *summed* loss is the per-sample gradient (samples do not interact).
"""
from __future__ import annotations

import torch


def track(t: torch.Tensor) -> torch.Tensor:
    """Return ``t`` as a leaf that requires grad, unless it is already in a graph."""
    if t.requires_grad:
        return t
    return t.detach().requires_grad_(True)


def grad(output: torch.Tensor, inputs, create_graph: bool = True):
    """Gradient of ``output.sum()`` with respect to ``inputs`` (tensor or tuple).

    Inputs that ``output`` does not depend on get a zero gradient rather than ``None``.
    """
    single = isinstance(inputs, torch.Tensor)
    ins = (inputs,) if single else tuple(inputs)
    if not output.requires_grad:  # output is constant in every input
        gs = tuple(torch.zeros_like(i) for i in ins)
        return gs[0] if single else gs
    gs = torch.autograd.grad(output.sum(), ins, create_graph=create_graph, allow_unused=True)
    gs = tuple(torch.zeros_like(i) if g is None else g for i, g in zip(ins, gs))
    return gs[0] if single else gs
