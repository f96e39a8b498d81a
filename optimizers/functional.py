"""Pure tensor math of the game optimizers (optax-style pieces on lists of tensors).

Every function takes lists of same-shaped tensors and, by default, returns NEW tensors
without changing its inputs, so the same functions serve ``step()`` (under ``no_grad``)
and analysis code (``torch.func.jacrev`` through an update gives its Jacobian). Two
exceptions, both for the optimizers' steps: with ``donate=True`` a function may write its
result into the donated inputs' buffers, and a function whose name ends in ``_``
(``adam_``) updates its arguments in place, as torch's in-place operations do.

Players follow the loss-minimisation convention: ``g_i = grad_i L_i`` with ``L_x = f``
and ``L_y = -f`` for a zero-sum game, so every update below is a descent step.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch.optim.adam import adam as _torch_adam

# The update rules' cores live one layer down (integrators.updates), so that the discrete
# iteration and the spectral step maps run the very same functions as these optimizers.
from integrators.updates import (complex_momentum_update, extrapolate,  # noqa: F401
                                 lead_update, optimistic_update)

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
    a = list(a)
    return list(torch._foreach_sub(a, _broadcast(b, a)))


def distinct_storages(ts: Sequence[torch.Tensor]) -> bool:
    """No two of these tensors share memory (a list can hold one tensor twice, or views
    of one buffer)."""
    return len({t.untyped_storage().data_ptr() for t in ts}) == len(ts)


def _reusable(ts: List[torch.Tensor]) -> bool:
    """May these buffers be overwritten in place? Dense, and no two share memory."""
    return all(t.is_contiguous() for t in ts) and distinct_storages(ts)


def _broadcast(ts: Tensors, like: List[torch.Tensor]) -> List[torch.Tensor]:
    """Each entry of ``ts`` as a tensor of the shape of its partner in ``like`` (numbers
    and 0-d tensors are expanded, not copied)."""
    return [t if isinstance(t, torch.Tensor) and t.shape == r.shape
            else torch.as_tensor(t, dtype=r.dtype, device=r.device).expand_as(r)
            for t, r in zip(ts, like)]


def _op(name: str, ts: List[torch.Tensor], *args, inplace: bool = False) -> List[torch.Tensor]:
    """``torch._foreach_<name>(ts, *args)``; in place (``_foreach_<name>_``) when allowed:
    only on buffers the caller may overwrite, and never under autodiff."""
    if inplace:
        getattr(torch, f"_foreach_{name}_")(ts, *args)
        return ts
    return list(getattr(torch, f"_foreach_{name}")(ts, *args))


def _scaled(y: List[torch.Tensor], a: float, donate: bool) -> List[torch.Tensor]:
    """``a * y``, written into ``y``'s buffers (``y`` itself returned) when donated and
    safe to overwrite."""
    return _op("mul", y, a, inplace=donate and _reusable(y))


def axpy(x: Tensors, a: float, y: Tensors, *, donate: bool = False) -> List[torch.Tensor]:
    """``x + a * y``. ``donate=True``: the caller no longer needs ``y``; the result may
    be written into its buffers (same values; no new memory)."""
    out = _scaled(list(y), a, donate)
    torch._foreach_add_(out, list(x))          # a * y + x == x + a * y, bit for bit
    return out


def scale_by_adam(grads: Tensors, m: Tensors, v: Tensors, t: int, *, b1: float, b2: float,
                  eps: float, donate: bool = False
                  ) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[torch.Tensor]]:
    """Adam's moment updates and bias-corrected direction (LEAD Alg. 2 lines 8-12).

    Returns ``(direction, m_new, v_new)`` with ``direction = m_hat / (sqrt(v_hat) + eps)``,
    ``m_hat = m_new / (1 - b1^t)``, ``v_hat = v_new / (1 - b2^t)``.

    Each operation is one ``_foreach`` call over the whole list, in the order of the
    formulas, so the result is the same, bit for bit, as elementwise code, and
    differentiable (``torch.func.jacrev``). ``donate=True`` (an optimizer step, no autodiff
    through it; the caller no longer needs ``grads``): operations run in place on buffers
    created here and on ``grads``, which then hold the direction (less memory traffic). ``m``, ``v`` may hold scalars (a loaded
    checkpoint's); they broadcast as in elementwise code.
    """
    c1, c2 = 1.0 - b1 ** t, 1.0 - b2 ** t
    grads = list(grads)
    m, v = _broadcast(m, grads), _broadcast(v, grads)
    scratch = _op("mul", grads, 1.0 - b2)                           # (1 - b2) g
    scratch = _op("mul", scratch, grads, inplace=donate)            # ((1 - b2) g) g
    v_new = _op("add", _op("mul", v, b2), scratch, inplace=donate)  # b2 v + ((1 - b2) g) g
    g1 = _scaled(grads, 1.0 - b1, donate)                           # (1 - b1) g
    m_new = _op("add", _op("mul", m, b1), g1, inplace=donate)       # b1 m + (1 - b1) g
    if donate:                                  # v / c2 and m / c1 into spent buffers
        den = [torch.div(a, c2, out=o) for a, o in zip(v_new, scratch)]
        direction = ([torch.div(a, c1, out=o) for a, o in zip(m_new, g1)] if g1 is grads
                     else _op("div", m_new, c1))
    else:
        den, direction = _op("div", v_new, c2), _op("div", m_new, c1)
    den = _op("add", _op("sqrt", den, inplace=donate), eps, inplace=donate)  # sqrt(.) + eps
    return _op("div", direction, den, inplace=donate), m_new, v_new         # (m/c1) / den


_FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _fusable(*lists: List[torch.Tensor]) -> bool:
    """Can torch's fused Adam kernel take these lists: real floating tensors of one dtype,
    on one CPU or CUDA device, non-overlapping and dense, with the same shape AND strides
    position by position? (The kernel pairs elements by their order in memory: a
    gradient laid out unlike its parameter would be paired wrongly.)"""
    first = lists[0][0]
    if first.device.type not in _FUSED_DEVICES or first.dtype not in _FUSED_DTYPES:
        return False
    return all(t.device == first.device and t.dtype == first.dtype and t.layout == torch.strided
               and t.shape == r.shape and t.stride() == r.stride()
               and _dense(t) for ts in lists for t, r in zip(ts, lists[0]))


def _dense(t: torch.Tensor) -> bool:
    """Non-overlapping and dense: the elements fill a block of memory exactly once, in
    some order of the dimensions (contiguous, channels-last, a transpose, ...)."""
    expected = 1
    for stride, size in sorted((st, sz) for sz, st in zip(t.shape, t.stride()) if sz != 1):
        if stride != expected:
            return False
        expected *= size
    return True


#: torch's fused Adam kernel exists for CUDA, and for CPU from torch 2.4 on
#: (``torch.__version__`` is a ``TorchVersion``: it compares as a version, not as text)
_FUSED_DEVICES = ("cpu", "cuda") if torch.__version__ >= "2.4" else ("cuda",)


def _public_fused_adam(params, grads, m, v, t: int, *, lr, b1, b2, eps) -> None:
    """``torch.optim.adam.adam(..., fused=True)``: the public functional form of
    ``torch.optim.Adam(fused=True)``, at step ``t``."""
    # one step counter per parameter: the function adds 1 to each before the kernel
    steps = [torch.full((), float(t - 1), dtype=torch.float32, device=params[0].device)
             for _ in params]
    _torch_adam(params, grads, m, v, [], steps, fused=True, amsgrad=False, beta1=b1,
                beta2=b2, lr=lr, weight_decay=0.0, eps=eps, maximize=False)


def adam_(params: Tensors, grads: Tensors, m: Tensors, v: Tensors, t: int, *, lr: float,
          b1: float, b2: float, eps: float) -> None:
    """In place on ``params``, ``m``, ``v``: Adam's moments and step (LEAD Alg. 2 lines
    8-12), ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``theta <- theta - lr m_hat / (sqrt(v_hat) + eps)`` with the bias corrections of step
    ``t`` (as :func:`scale_by_adam`).

    One fused kernel through torch's public functional Adam
    (``torch.optim.adam.adam(..., fused=True)``, what ``torch.optim.Adam(fused=True)``
    runs) where it applies (:func:`_fusable`; a gradient laid out unlike its parameter
    is first copied into the parameter's layout); else the ``_foreach`` formulas of
    :func:`scale_by_adam` (several times slower on CPU: ``benchmarks/adam_kernels.py``).
    The two round differently (at the level of an ulp of the update).
    """
    params, grads, m, v = list(params), list(grads), list(m), list(v)
    if not params:
        return
    grads = [g if g.stride() == p.stride() or not _dense(p) else
             torch.empty_like(p, memory_format=torch.preserve_format).copy_(g)
             for g, p in zip(grads, params)]      # a gradient in its parameter's layout
    if _fusable(params, grads, m, v):
        _public_fused_adam(params, grads, m, v, t, lr=lr, b1=b1, b2=b2, eps=eps)
        return
    u, m1, v1 = scale_by_adam(grads, m, v, t, b1=b1, b2=b2, eps=eps)
    torch._foreach_copy_(m, m1)
    torch._foreach_copy_(v, v1)
    torch._foreach_mul_(u, -lr)                 # u is ours: -lr u, then theta + (-lr u)
    torch._foreach_add_(params, u)
