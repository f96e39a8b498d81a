"""Evaluating a closure at dual parameters (forward-mode AD), for the mixed-term modes
``"forward"`` and ``"reverse_over_forward"`` of :mod:`optimizers.autodiff`.

:class:`Substitute` replaces parameters by dual stand-ins inside every torch call of a
closure (so closures over ``nn.Module`` s work unchanged). For reverse-over-forward it
also

* computes affine layers (``F.linear``, the convolutions) by the bilinear rule
  ``f(x', W) + f(x, W') + b'`` (:func:`affine_jvp`): PyTorch's own forward-AD formulas for
  them multiply a missing (zero) tangent densely, a full extra matrix product per layer;
* refuses every operation outside :data:`REVERSE_SAFE` that produces a dual tensor.
  Reverse mode through a forward-AD formula is only right when the formula is itself
  differentiable, and some are not: in torch 2.13 the reverse pass through the tangents
  of ``batch_norm`` (training), ``layer_norm`` and ``instance_norm`` is silently wrong
  (off by O(1); ``tests/test_dual.py`` shows it), and ``softmax``, ``log_softmax``,
  ``logsumexp`` and attention raise. Every listed operation is checked against double
  backward in ``tests/test_dual.py``.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode, resolve_name


def split_dual(t):
    """``(primal, tangent)`` of a tensor at the current dual level (``tangent`` is
    ``None`` for a plain tensor, and for anything that is not a tensor)."""
    if isinstance(t, torch.Tensor):
        pair = fwAD.unpack_dual(t)
        return pair.primal, pair.tangent
    return t, None


#: affine ops, linear in ``input`` and in ``(weight, bias)``: op -> number of spatial dims
_AFFINE = {F.linear: 0, F.conv1d: 1, F.conv2d: 2, F.conv3d: 3,
           F.conv_transpose1d: 1, F.conv_transpose2d: 2, F.conv_transpose3d: 3}
_AFFINE_ARGS = ("input", "weight", "bias")


def affine_jvp(func, args, kwargs):
    """``func(x, W, b, ...)`` on dual arguments by the bilinear rule: primal
    ``f(x, W, b)``, tangent ``f(x', W) + f(x, W', b')`` (terms with a missing tangent
    skipped). Returns ``NotImplemented`` when no argument is dual."""
    args, kwargs = list(args), dict(kwargs)
    while len(args) < 3 and _AFFINE_ARGS[len(args)] in kwargs:
        args.append(kwargs.pop(_AFFINE_ARGS[len(args)]))
    if len(args) < 2:
        return NotImplemented
    if len(args) == 2:
        args.append(None)
    (xp, xt), (wp, wt), (bp, bt) = (split_dual(a) for a in args[:3])
    if xt is None and wt is None and bt is None:
        return NotImplemented
    rest = args[3:]
    out = func(xp, wp, bp, *rest, **kwargs)
    terms = []
    if xt is not None:
        terms.append(func(xt, wp, None, *rest, **kwargs))
    if wt is not None:
        terms.append(func(xp, wt, bt, *rest, **kwargs))
    elif bt is not None:       # bias tangent alone: broadcast along the channel dim
        spatial = _AFFINE[func]
        terms.append(torch.zeros_like(out) + bt.reshape(-1, *([1] * spatial)))
    tangent = terms[0] if len(terms) == 1 else terms[0] + terms[1]
    return fwAD.make_dual(out, tangent)


def _names(prefix: str, names: str) -> set:
    return {f"{prefix}.{n}" for n in names.split()}


_ELEMENTWISE = ("add sub mul div neg pow exp log log1p sqrt rsqrt abs square sin cos tanh sigmoid "
                "relu relu_ clamp maximum minimum where")
#: operations whose forward-AD formula reverse mode differentiates correctly (each one is
#: checked against double backward in tests/test_dual.py); by ``resolve_name``
REVERSE_SAFE = frozenset(
    _names("torch.Tensor", _ELEMENTWISE + " __rsub__ __rtruediv__ __pow__ __rpow__ matmul mm "
           "bmm sum prod mean var std norm view view_as reshape reshape_as flatten unflatten "
           "squeeze unsqueeze expand expand_as permute transpose t contiguous clone "
           "__getitem__ chunk split narrow select repeat T.__get__ mT.__get__")
    | _names("torch", _ELEMENTWISE.replace(" relu_", "") + " matmul spmm bmm sum prod mean var "
             "std cat stack flatten reshape transpose permute squeeze unsqueeze chunk")
    | _names("torch.functional", "norm split einsum")
    | _names("torch.nn.functional", "linear conv1d conv2d conv3d conv_transpose1d "
             "conv_transpose2d conv_transpose3d relu relu_ leaky_relu leaky_relu_ elu selu "
             "gelu silu mish softplus logsigmoid hardtanh normalize mse_loss "
             "binary_cross_entropy_with_logits max_pool2d "
             "avg_pool2d adaptive_avg_pool2d interpolate pad"))
#: (``resolve_name`` reports Python operators by their method, e.g. ``a + b`` as
#: ``torch.Tensor.add``, ``torch.mm`` as ``torch.spmm``, ``torch.relu_`` as
#: ``torch.nn.functional.relu_``.)


class NotReverseSafe(NotImplementedError):
    """An operation outside :data:`REVERSE_SAFE` returned a dual tensor; ``.op`` names it."""

    def __init__(self, op: str):
        self.op = op
        super().__init__(
            f"mixed_mode='reverse_over_forward' cannot differentiate through {op}: reverse "
            f"mode through its forward-mode derivative is not known to be exact in PyTorch "
            f"(it is silently wrong for batch_norm, layer_norm, instance_norm). Use "
            f"mixed_mode='auto' (the default: it falls back to double backward) or "
            f"'double_backward'.")


def _is_dual(out) -> bool:
    if isinstance(out, torch.Tensor):
        return fwAD.unpack_dual(out).tangent is not None
    if isinstance(out, (list, tuple)):
        return any(_is_dual(o) for o in out)
    return False


class Substitute(TorchFunctionMode):
    """Replace given tensors (by identity) by stand-ins in every torch call. With
    ``reverse_over_forward``: affine layers on dual tensors go through
    :func:`affine_jvp`, and an operation outside :data:`REVERSE_SAFE` that returns a dual
    tensor raises :class:`NotReverseSafe` (a ``NotImplementedError``) naming it."""

    def __init__(self, table: Dict[int, torch.Tensor], reverse_over_forward: bool = False):
        super().__init__()
        self.table, self.reverse_over_forward = table, reverse_over_forward

    def _sub(self, a):
        if isinstance(a, torch.Tensor):
            return self.table.get(id(a), a)
        if isinstance(a, (list, tuple)):
            return type(a)(self._sub(b) for b in a)
        return a

    def __torch_function__(self, func, types, args=(), kwargs=None):
        args = tuple(self._sub(a) for a in args)
        kwargs = {k: self._sub(v) for k, v in (kwargs or {}).items()}
        if not self.reverse_over_forward:
            return func(*args, **kwargs)
        if func in _AFFINE:
            out = affine_jvp(func, args, kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        if _is_dual(out) and resolve_name(func) not in REVERSE_SAFE:
            raise NotReverseSafe(resolve_name(func) or repr(func))
        return out
