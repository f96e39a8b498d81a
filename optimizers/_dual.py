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

import contextlib
from typing import Dict, NamedTuple

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode, resolve_name


#: the forward-AD level opened by :func:`dual_level` (-1: none)
_level = -1


@contextlib.contextmanager
def dual_level():
    """``torch.autograd.forward_ad.dual_level()``, remembering the level it opened (for
    :func:`split_dual`)."""
    global _level
    with fwAD.dual_level() as level:
        outer, _level = _level, level
        try:
            yield level
        finally:
            _level = outer


def split_dual(t):
    """``(primal, tangent)`` of a tensor at the level of :func:`dual_level` (``tangent``
    is ``None`` for a plain tensor, and for anything that is not a tensor).

    ``torch._unpack_dual`` directly, one of the two private torch calls of this package
    (both here, both checked by ``tests/test_dual.py::test_private_torch_canary``): the
    public ``fwAD.unpack_dual`` computes the same pair through a namedtuple wrapper that
    costs 3x as much, and this runs for every torch call of a closure under
    reverse-over-forward."""
    if _level >= 0 and isinstance(t, torch.Tensor):
        return torch._unpack_dual(t, _level)
    return t, None


#: affine ops, linear in ``input`` and in ``(weight, bias)``: op -> number of spatial dims
_AFFINE = {F.linear: 0, F.conv1d: 1, F.conv2d: 2, F.conv3d: 3,
           F.conv_transpose1d: 1, F.conv_transpose2d: 2, F.conv_transpose3d: 3}
_AFFINE_ARGS = ("input", "weight", "bias")


def affine_jvp(func, args, kwargs, split=split_dual):
    """``func(x, W, b, ...)`` on dual arguments by the bilinear rule: primal
    ``f(x, W, b)``, tangent ``f(x', W) + f(x, W', b')`` (terms with a missing tangent
    skipped). Returns ``NotImplemented`` when no argument is dual. ``split``: a tensor's
    ``(primal, tangent)`` (:func:`split_dual`, or a caching version of it)."""
    args, kwargs = list(args), dict(kwargs)
    while len(args) < 3 and _AFFINE_ARGS[len(args)] in kwargs:
        args.append(kwargs.pop(_AFFINE_ARGS[len(args)]))
    if len(args) < 2:
        return NotImplemented
    if len(args) == 2:
        args.append(None)
    (xp, xt), (wp, wt), (bp, bt) = (split(a) for a in args[:3])
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
           "__getitem__ chunk split narrow select repeat T.__get__ mT.__get__ add_ sub_ mul_ "
           "div_ exp_ to double type_as max amax clamp_min masked_fill flip roll")
    | _names("torch", _ELEMENTWISE.replace(" relu_", "") + " matmul spmm bmm sum prod mean var "
             "std cat stack flatten reshape transpose permute squeeze unsqueeze chunk mv dot "
             "vdot")
    | _names("torch.functional", "norm split einsum")
    | _names("torch.nn.functional", "linear conv1d conv2d conv3d conv_transpose1d "
             "conv_transpose2d conv_transpose3d relu relu_ leaky_relu leaky_relu_ elu selu "
             "gelu silu mish softplus logsigmoid hardtanh normalize mse_loss l1_loss "
             "binary_cross_entropy binary_cross_entropy_with_logits relu6 hardswish "
             "embedding dropout max_pool2d "
             "avg_pool2d adaptive_avg_pool2d interpolate pad"))
#: (``resolve_name`` reports Python operators by their method, e.g. ``a + b`` as
#: ``torch.Tensor.add``, ``torch.mm`` as ``torch.spmm``, ``torch.relu_`` as
#: ``torch.nn.functional.relu_``.)


class NotReverseSafe(NotImplementedError):
    """The closure cannot be differentiated by reverse-over-forward (``.op`` says why: an
    operation outside :data:`REVERSE_SAFE`, a custom ``autograd.Function``, a dual tensor
    under ``no_grad``, or an opponent parameter the substitution never reached)."""

    def __init__(self, op: str, reason: str = ""):
        self.op = op
        super().__init__(
            f"mixed_mode='reverse_over_forward' cannot differentiate through {op}"
            + (reason or ": reverse mode through its forward-mode derivative is not known to "
               "be exact in PyTorch (it is silently wrong for batch_norm, layer_norm, "
               "instance_norm)")
            + ". Use mixed_mode='auto' (the default: it falls back to double backward) or "
              "'double_backward'.")


#: refused before they run when an argument is dual (they change module buffers or draw
#: random numbers, which a fallback's second evaluation would do again)
_REFUSE_EARLY = {F.batch_norm, F.instance_norm, F.layer_norm, F.group_norm, F.dropout,
                 F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout,
                 F.feature_alpha_dropout}     # (F.dropout passes when it is the identity)
#: allowed only for the 2-norm (reverse mode through the tangent of other p fails)
_NORMS = {"torch.Tensor.norm", "torch.functional.norm", "torch.nn.functional.normalize"}


def _tensors(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (b for b in a if isinstance(b, torch.Tensor))


def _is_dual(out) -> bool:
    if isinstance(out, torch.Tensor):
        return split_dual(out)[1] is not None
    if isinstance(out, (list, tuple)):
        return any(_is_dual(o) for o in out)
    return False


def custom_function(t: torch.Tensor):
    """The custom ``autograd.Function`` that made ``t`` (its JVP would be differentiated
    by reverse mode through values it saved, without their reverse graph), else None."""
    fn = t.grad_fn
    if isinstance(fn, torch.autograd.function.BackwardCFunction):
        return type(fn).__name__
    return None


def _identity_dropout(args, kwargs) -> bool:
    """``F.dropout(x, p, training)`` that is the identity (evaluation mode or p = 0)."""
    p = args[1] if len(args) > 1 else kwargs.get("p", 0.5)
    training = args[2] if len(args) > 2 else kwargs.get("training", True)
    return not training or p == 0


def _two_norm(name: str, args, kwargs) -> bool:
    p = args[1] if len(args) > 1 else kwargs.get("p", 2)
    return p is None or p == "fro" or (isinstance(p, (int, float)) and p == 2)


def _writes(func, kwargs) -> bool:
    """Does ``func`` write into an argument: an in-place method (``add_``), an in-place
    operator (``__iadd__``), or ``out=``? (Not a dunder such as a property's ``__get__``.)"""
    n = getattr(func, "__name__", "")
    dunder = n.startswith("__") and n.endswith("__")
    return "out" in kwargs or (n.endswith("_") and not dunder) or n in _IN_PLACE_OPERATORS


_IN_PLACE_OPERATORS = {f"__i{op}__" for op in "add sub mul truediv floordiv mod pow matmul and "
                       "or xor lshift rshift".split()}


def _span(t: torch.Tensor):
    """``[first, last]`` byte addresses ``t`` can touch (its storage offset and strides)."""
    size = t.element_size()
    start = t.data_ptr()
    extent = sum((n - 1) * abs(st) for n, st in zip(t.shape, t.stride())) * size
    return start, start + extent + size - 1


def _overlaps(t: torch.Tensor, spans) -> bool:
    a, b = _span(t)
    return any(a <= hi and lo <= b for lo, hi in spans)


class Substitute(TorchFunctionMode):
    """Replace given tensors (by identity) by stand-ins in every torch call. With
    ``reverse_over_forward``: affine layers
    on dual tensors go through :func:`affine_jvp`, and :class:`NotReverseSafe` is raised
    for an operation outside :data:`REVERSE_SAFE` (or a norm other than the 2-norm) that
    returns a dual tensor, for a dual tensor made by a custom ``autograd.Function``, and
    for any dual result computed under ``torch.no_grad`` (forward mode ignores it, reverse
    mode does not: the two would disagree).

    ``undo=True`` (an attempt that may be refused and then redone another way): every
    plain tensor an operation is about to write in place (``add_``, ``out=``; a module
    buffer such as BatchNorm's ``num_batches_tracked``) and every running statistic a
    normalisation is about to update is copied first; :meth:`undo` writes the copies
    back, so a refused attempt leaves the closure's tensors as it found them.

    In forward mode (``reverse_over_forward=False``) ``F.mse_loss`` on dual arguments is
    computed by its formula (:func:`_mse_loss`): torch 2.13's reverse pass through its
    forward-AD formula raises "ZeroTensors are immutable"."""

    def __init__(self, table: Dict[int, torch.Tensor], reverse_over_forward: bool = False,
                 originals=(), undo: bool = False):
        super().__init__()
        self.table, self.reverse_over_forward = table, reverse_over_forward
        self._undo = [] if undo else None       # (tensor, its values before a write)
        self._stand_ins = {id(t) for t in table.values()}
        #: an exception left a torch call made under this mode (set by __torch_function__)
        self.op_failed = False
        self._parts: Dict[int, tuple] = {}      # stand-in -> (primal, tangent), cached
        #: storages of the replaced tensors: a plain tensor on one of them is a view or
        #: ``.data`` of a replaced tensor made outside the closure (it keeps no tangent)
        self._storages: Dict[int, list] = {}
        for t in originals if reverse_over_forward else ():
            if t.numel():
                self._storages.setdefault(t.untyped_storage().data_ptr(), []).append(_span(t))

    def _sub(self, a):
        if isinstance(a, torch.Tensor):
            if id(a) in self.table:
                return self.table[id(a)]
            spans = self._storages.get(a.untyped_storage().data_ptr()) if self._storages else None
            if spans and a.numel() and not _is_dual(a) and _overlaps(a, spans):
                raise NotReverseSafe("a view (or .data, or detached copy) of an opponent "
                                     "parameter", ": made outside the dual evaluation, it "
                                     "carries no tangent")
            return a
        if isinstance(a, (list, tuple)):
            items = [self._sub(b) for b in a]
            return type(a)(*items) if hasattr(a, "_fields") else type(a)(items)
        return a

    def __torch_function__(self, func, types, args=(), kwargs=None):
        try:
            return self._run(func, args, kwargs)
        except NotReverseSafe:
            raise
        except BaseException:
            self.op_failed = True     # a torch op failed (not the closure's own code)
            raise

    def _run(self, func, args, kwargs):
        args = tuple([self._sub(a) for a in args])
        kwargs = {k: self._sub(v) for k, v in kwargs.items()} if kwargs else {}
        info = _info(func)
        writes = info.writes or "out" in kwargs
        if self._undo is not None and (writes or info.stats):
            self._log_writes(info, writes, args, kwargs)
        if not self.reverse_over_forward:
            if func is F.mse_loss and any(_is_dual(t) for t in _tensors(args, kwargs)):
                out = _mse_loss(*args, **kwargs)
                if out is not NotImplemented:
                    return out
            return func(*args, **kwargs)
        if (info.early or writes) and any(_is_dual(t) for t in _tensors(args, kwargs)):
            self._check_early(func, args, kwargs)   # before it runs: no buffer written, no draw
        out = affine_jvp(func, args, kwargs, self._split) if info.affine else NotImplemented
        if out is not NotImplemented:      # dual by construction
            self._check(func, args, kwargs)
            return out
        out = func(*args, **kwargs)
        if _is_dual(out):
            self._check(func, args, kwargs)
        return out

    def _split(self, a):
        """:func:`split_dual`, computed once per stand-in (the parameters' dual
        stand-ins are split by every affine layer that uses them)."""
        if id(a) not in self._stand_ins:
            return split_dual(a)
        parts = self._parts.get(id(a))
        if parts is None:
            parts = self._parts[id(a)] = split_dual(a)
        return parts

    def _log_writes(self, info, writes, args, kwargs) -> None:
        """Copy the plain tensors ``func`` is about to write (see the class docstring)."""
        targets = [args[k] if len(args) > k else kwargs.get(name) for k, name in info.stats]
        if writes:
            targets.append(kwargs.get("out", args[0] if args else None))
        for t in targets:
            if isinstance(t, torch.Tensor) and t.grad_fn is None and not _is_dual(t):
                with torch.no_grad():
                    self._undo.append((t, t.detach().clone()))

    def undo(self) -> None:
        """Write back what :meth:`_log_writes` copied (latest first); call outside the mode."""
        with torch.no_grad():
            for t, saved in reversed(self._undo or ()):
                t.copy_(saved)
        self._undo = [] if self._undo is not None else None

    def _allowed(self, func, args, kwargs) -> bool:
        """Is ``func`` (a listed op; a norm only for p = 2) allowed? Cached per op."""
        ok = _ALLOWED.get(func)
        if ok is None:
            name = _name(func)
            ok = "norm" if name in _NORMS else name in REVERSE_SAFE
            try:
                _ALLOWED[func] = ok
            except TypeError:        # unhashable
                pass
        return _two_norm(_name(func), args, kwargs) if ok == "norm" else ok

    def _check_early(self, func, args, kwargs) -> None:
        """An op that changes state (writes an argument, updates statistics, draws random
        numbers) on dual arguments: refuse it before it runs unless it is listed, under
        grad mode, writes into a dual tensor, and (dropout) is the identity."""
        name = _name(func)
        target = kwargs.get("out", args[0] if args else None) if _writes(func, kwargs) else None
        if (name not in REVERSE_SAFE or not torch.is_grad_enabled()
                or (isinstance(target, torch.Tensor) and not _is_dual(target))
                or (func is F.dropout and not _identity_dropout(args, kwargs))):
            raise NotReverseSafe(name, "" if name not in REVERSE_SAFE else
                                 " here (it would write a tangent into a plain tensor, run "
                                 "under no_grad, or draw random numbers)")

    def _check(self, func, args, kwargs) -> None:
        """``func`` returned a dual tensor: may reverse mode differentiate its tangent?"""
        for t in _tensors(args, kwargs):
            if isinstance(t.grad_fn, _CUSTOM) and _is_dual(t):
                raise NotReverseSafe(f"the custom autograd.Function {custom_function(t)}",
                                     ": its JVP's saved values carry no reverse graph")
        if not torch.is_grad_enabled():
            raise NotReverseSafe(_name(func), " under torch.no_grad: forward mode ignores "
                                 "no_grad, reverse mode does not")
        if not self._allowed(func, args, kwargs):
            raise NotReverseSafe(_name(func))


#: normalisations that update running statistics in place: (argument position, name)
_RUNNING_STATS = {F.batch_norm: ((1, "running_mean"), (2, "running_var")),
                  F.instance_norm: ((1, "running_mean"), (2, "running_var"))}


def _mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """``F.mse_loss`` by its formula, ``mean / sum / none`` of ``(input - target)^2``
    (``NotImplemented`` for the deprecated arguments and ``weight``)."""
    if size_average is not None or reduce is not None or weight is not None \
            or reduction not in ("mean", "sum", "none"):
        return NotImplemented
    d = input - target
    sq = d * d
    return sq.mean() if reduction == "mean" else sq.sum() if reduction == "sum" else sq


class _OpInfo(NamedTuple):
    """What :class:`Substitute` needs to know of an op before it runs (cached per op)."""

    writes: bool       # writes into its first argument (in-place method or operator)
    early: bool        # in _REFUSE_EARLY
    affine: bool       # in _AFFINE
    stats: tuple       # _RUNNING_STATS entry


_INFO: Dict[object, _OpInfo] = {}


def _info(func) -> _OpInfo:
    try:
        return _INFO[func]
    except KeyError:
        pass
    except TypeError:        # unhashable
        return _OpInfo(writes=_writes(func, {}), early=False, affine=False, stats=())
    info = _INFO[func] = _op_info(func)
    return info


def _op_info(func) -> _OpInfo:
    return _OpInfo(writes=_writes(func, {}), early=func in _REFUSE_EARLY,
                   affine=func in _AFFINE, stats=_RUNNING_STATS.get(func, ()))


_NAMES: Dict[object, str] = {}
_ALLOWED: Dict[object, object] = {}       # op -> True / False / "norm" (check p)
_CUSTOM = torch.autograd.function.BackwardCFunction


def _name(func) -> str:
    """``resolve_name(func)``, cached (it is asked for every dual result)."""
    try:
        return _NAMES[func]
    except (KeyError, TypeError):
        name = resolve_name(func) or repr(func)
        try:
            _NAMES[func] = name
        except TypeError:        # unhashable
            pass
        return name
