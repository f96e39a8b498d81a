"""Derivatives for game optimizers: closures, gradients, mixed-block products.

Everything an optimizer needs from one evaluation of the players' losses lives in an
:class:`Evaluation`:

* ``ev.loss(i)``                      -- ``L_i`` at the current parameters;
* ``ev.grad(i)``                      -- ``grad_i L_i`` (detached);
* ``ev.grad_wrt(s, i)``               -- ``grad_i L_s`` for any loss ``s`` (e.g. CO, SGA);
* ``ev.hvp(s, i, j, v_j)``            -- the Hessian block product
  ``grad_{ij} L_s . v_j = grad_i <grad_j L_s, v_j>`` (``i == j`` gives ``H_ii v``);
* ``ev.grad_and_mixed(i, d_j, source)`` -- ``(grad_i L_i, M_i)`` with the LEAD coupling
  term ``M_i = grad_{ij} L_i . d_j`` (``source="own"``) or ``-grad_{ij} L_j . d_j``
  (``source="opponent"``).

A block product is ONE Jacobian-vector product; no Jacobian is formed. Four modes:

``"double_backward"``
    ``grad_i <grad_j L_s, v_j>``: a reverse pass with ``create_graph=True`` then a
    reverse pass through it. With a pair closure one evaluation serves every product.
``"forward"``
    forward-over-reverse: the closure is re-run with ``theta_j`` replaced by dual
    tensors carrying tangent ``v_j`` (``torch.autograd.forward_ad``); the tangent of
    ``grad_i L_s`` is ``grad_{ij} L_s . v_j``. Parameters are substituted inside the
    closure by a ``TorchFunctionMode``, so closures over ``nn.Module`` s work unchanged
    (no ``functional_call`` needed). Costs one closure evaluation per product.
``"reverse_over_forward"``
    the same dual evaluation gives the loss and its directional derivative
    ``<grad_j L_s, v_j>`` (the tangent of ``L_s``); one ordinary reverse pass of that
    tangent wrt ``theta_i`` is the product. For ``i != j`` the tangent enters only
    ``theta_j``'s part of the computation (the opponent's network), and ``theta_j`` is
    substituted detached, so no reverse graph reaches it. LEAD's update direction
    ``grad_i L_i + alpha M_i = grad_i (L_i + alpha <grad_j L_i, d_j>)`` is then ONE
    reverse pass (:meth:`Evaluation.grad_plus_mixed`).

``"auto"`` (the optimizers' default)
    An :class:`Evaluation` in this mode computes LEAD's update direction
    ``g_i + alpha M_i`` (:meth:`Evaluation.grad_plus_mixed` with ``source="own"``,
    LEAD-Adam's lines 7 / 15) by ``"reverse_over_forward"``, and everything else by
    double backward. If the closure uses an operation outside
    ``optimizers._dual.REVERSE_SAFE`` (or forward mode fails) the attempt is undone --
    the random number state and every tensor the closure wrote in place (BatchNorm's
    running statistics and ``num_batches_tracked``) are put back -- and the evaluation
    falls back to double backward, telling its optimizer (which keeps double backward
    from then on and saves that decision in its checkpoints). Whether the optimizer
    asks for ``"auto"`` or for double backward at a step is its choice: LEAD-Adam times
    the two exact modes on its first steps (:mod:`optimizers.auto_mode`).

In ``"reverse_over_forward"`` mode affine layers (``F.linear`` and the convolutions) get
their tangent from the bilinear rule ``f(x', W) + f(x, W') + b'`` computed directly:
PyTorch's own forward-AD formulas for them also multiply the missing (zero) tangent
densely, which costs a full extra matrix product per layer. (Not in ``"forward"`` mode:
its reverse pass differentiates the recorded graph again in forward mode, which needs
the graph recorded on the dual tensors themselves.)

Data parallelism (:mod:`optimizers.distributed`): an Evaluation may carry a ``reducer``
(a callable averaging a list of tensors over ranks). Then every value it returns -- loss
values, gradients, block products -- is the mean over ranks of the rank's own value, and
a gradient taken with ``graph=True`` carries the mean as its value (its graph stays the
rank's own). Inside such a step :func:`grads` averages its (first-order) results too, so
a custom scalar built from ``graph=True`` gradients (CO's ``|xi|^2``) differentiates to
the mean of ``J_r^T xi``, which is ``J^T xi`` of the mean loss. Without a reducer nothing
changes.

Closures (the contract of :meth:`GameOptimizer.step`): ``closure()`` returns
``(loss_x, loss_y)``; or ``closure(player)`` returns ``loss_player`` alone. Both go
through :class:`GameClosure`, which detects the form from the signature and checks
that every loss is a real scalar.
"""
from __future__ import annotations

import contextlib
import contextvars
import inspect
from typing import Dict, List, Optional, Sequence

import torch
import torch.autograd.forward_ad as fwAD

from mechanics.utils.rng import rng_state, set_rng_state

from ._dual import NotReverseSafe, Substitute, custom_function, dual_level
from .clipping import clip_by_total_norm, clip_coefficient, scaled, total_norm
from .functional import axpy

PLAYERS = ("x", "y")
OTHER = {"x": "y", "y": "x"}
MIXED_MODES = ("double_backward", "forward", "reverse_over_forward", "auto")
MIXED_SOURCES = ("own", "opponent")


class NonFiniteError(FloatingPointError):
    """Raised when a loss or an iterate becomes non-finite; ``.step`` is the step number."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


#: The reducer of the data-parallel step in progress (None: single process).
_ACTIVE_REDUCER: contextvars.ContextVar = contextvars.ContextVar("game_reducer", default=None)


@contextlib.contextmanager
def reducing(reducer):
    """Within this block :func:`grads` averages first-order results with ``reducer``."""
    token = _ACTIVE_REDUCER.set(reducer)
    try:
        yield
    finally:
        _ACTIVE_REDUCER.reset(token)


def grads(loss: torch.Tensor, params: Sequence[torch.Tensor], create_graph: bool = False,
          retain_graph: Optional[bool] = None) -> List[torch.Tensor]:
    """``torch.autograd.grad`` of a scalar; parameters ``loss`` ignores get zeros.

    Inside a data-parallel step (:func:`reducing`), results taken without
    ``create_graph`` are averaged over ranks."""
    out = _grads(loss, params, create_graph, retain_graph)
    reducer = _ACTIVE_REDUCER.get()
    return reducer(out) if reducer is not None and not create_graph else out


def _grads(loss, params, create_graph=False, retain_graph=None) -> List[torch.Tensor]:
    params = list(params)
    if not loss.requires_grad:
        return [torch.zeros_like(p) for p in params]
    gs = torch.autograd.grad(loss, params, create_graph=create_graph,
                             retain_graph=retain_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


def dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    """``sum_k <a_k, b_k>`` over lists of same-shaped tensors."""
    terms = [(u * v).sum() for u, v in zip(a, b)]
    return torch.stack(terms).sum() if terms else torch.zeros(())


class GameClosure:
    """Wrap a user closure in either form; validate what it returns.

    ``closure()`` -> ``(loss_x, loss_y)``   or   ``closure(player)`` -> ``loss_player``.
    The form is read from the signature: one required positional parameter means the
    per-player form. ``calls`` counts evaluations (tests and benchmarks use it).
    """

    def __init__(self, closure, owner: str = "optimizer"):
        if not callable(closure):
            raise TypeError(f"{owner}.step needs a closure returning (loss_x, loss_y) or "
                            f"taking player ('x'/'y'), got {type(closure).__name__}")
        self.fn, self.owner, self.calls = closure, owner, 0
        self.per_player = self._takes_player(closure)

    @staticmethod
    def _takes_player(fn) -> bool:
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return False
        required = [p for p in sig.parameters.values()
                    if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                    and p.default is p.empty]
        if len(required) > 1:
            raise TypeError(f"closure {owner_name(fn)} takes no argument or one "
                            f"argument (player), not {len(required)}")
        return len(required) == 1

    def _check(self, value, name: str) -> torch.Tensor:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = torch.tensor(float(value))
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{self.owner}: the closure must return tensors; {name} is "
                            f"{type(value).__name__}")
        if value.numel() != 1 or value.is_complex():
            raise ValueError(f"{self.owner}: {name} must be a real scalar, got shape "
                             f"{tuple(value.shape)} dtype {value.dtype}")
        return value.reshape(())

    def __call__(self, player: Optional[str] = None) -> Dict[str, torch.Tensor]:
        """Evaluate; return ``{player: loss}`` (both players for a pair closure)."""
        self.calls += 1
        with torch.enable_grad():
            if self.per_player:
                wanted = PLAYERS if player is None else (player,)
                return {p: self._check(self.fn(p), f"loss_{p}") for p in wanted}
            out = self.fn()
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"{self.owner}: the closure must return (loss_x, loss_y), the loss "
                            f"each player minimises (zero-sum f: (f, -f)); got "
                            f"{type(out).__name__}"
                            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
        return {p: self._check(v, f"loss_{p}") for p, v in zip(PLAYERS, out)}


def owner_name(fn) -> str:
    return getattr(fn, "__qualname__", type(fn).__name__)


def _check_loss(loss) -> None:
    """A loss made by a custom ``autograd.Function`` cannot be differentiated through its
    tangent (the Function's JVP works on saved values that carry no reverse graph). (An
    opponent parameter the closure never passes to a torch call simply has no effect on
    the loss: its tangent contributes nothing, as in double backward. One reached through
    a view or ``.data`` made outside the closure is refused by the substitution itself.)"""
    custom = custom_function(loss)
    if custom is not None:
        raise NotReverseSafe(f"the custom autograd.Function {custom}",
                             ": its JVP's saved values carry no reverse graph")


class Evaluation:
    """Losses and derivatives at the current parameters, computed lazily and cached.

    Parameters
    ----------
    closure: a :class:`GameClosure`.
    params: ``{"x": [...], "y": [...]}`` flat lists of each player's parameters.
    mixed_mode: one of :data:`MIXED_MODES` (module docstring).
    second_order: keep graphs for Hessian-block products (double backward mode).
    on_fallback: with ``mixed_mode="auto"``, called with the error when the
        reverse-over-forward attempt fails (a :class:`NotReverseSafe` refusal, or an error
        of PyTorch's forward mode); this evaluation then uses double backward, and the
        optimizer remembers it for the next ones.
    check_finite: callable(name, loss) raising on a non-finite loss.
    reducer: ``None``, or a callable ``list of tensors -> list of their means over
        ranks`` (:class:`optimizers.distributed.AllReduceMean`); see the module docstring.
    clip: ``{player: max_norm or None}``: :meth:`grad` (and the gradient term of
        :meth:`grad_and_mixed` / :meth:`grad_plus_mixed`) returns player i's gradient
        scaled to total norm at most ``max_norm`` (:mod:`optimizers.clipping`); the
        second-order terms and :meth:`grad_wrt` stay unclipped.
    on_grad: called as ``on_grad(player, grads)`` with each player's own gradient
        ``grad_i L_i`` (unclipped, rank mean) when it is first computed; with
        ``on_grad`` set, LEAD's one-pass direction also computes the gradient alone.
    """

    def __init__(self, closure: GameClosure, params: Dict[str, List[torch.Tensor]],
                 mixed_mode: str = "double_backward", second_order: bool = False,
                 check_finite=None, reducer=None, on_fallback=None, clip=None,
                 on_grad=None):
        if mixed_mode not in MIXED_MODES:
            raise ValueError(f"mixed_mode must be one of {MIXED_MODES}, got {mixed_mode!r}")
        self.closure, self.params = closure, params
        self.mode, self.second_order = mixed_mode, second_order
        self._check_finite = check_finite
        self._on_fallback = on_fallback
        self._distributed = reducer is not None
        self._reduce = reducer if reducer is not None else list
        self._losses: Dict[str, torch.Tensor] = {}   # with graph
        self._values: Dict[str, torch.Tensor] = {}   # detached, for reporting
        self._first: Dict[str, List[torch.Tensor]] = {}   # loss s -> grads wrt x + y, graph
        self._mean: Dict[tuple, List[torch.Tensor]] = {}  # (s, i) -> grad_i L_s, rank mean
        self._released = False
        self._clip = {p: v for p, v in (clip or {}).items() if v is not None}
        self._on_grad = on_grad
        self._clipped: Dict[str, List[torch.Tensor]] = {}   # player -> clipped grad_i L_i
        self._rng_before: Dict[Optional[str], tuple] = {}  # closure argument -> RNG state
        self._attempt: Optional[Substitute] = None  # auto's dual attempt in progress
        self._closure_done = False          # the attempt's closure call has returned

    def _call(self, s: str) -> Dict[str, torch.Tensor]:
        """Run the closure for loss ``s`` (the pair closure for any ``s``). The first run
        of each closure argument draws random numbers as usual; a later run (forward
        mode re-evaluates per block product) starts from the random number state of the
        first and leaves the state as it found it: every evaluation in a step sees the
        same dropout masks and data draws, as with double backward's single run. (Not
        for a closure's own ``torch.Generator``: it is not seen here. The state is that of
        every global generator: torch, CUDA, numpy, Python's ``random``.)"""
        key = s if self.closure.per_player else None
        if key not in self._rng_before:
            if self.mode != "double_backward":     # (which never runs a closure twice)
                self._rng_before[key] = rng_state()
            return self.closure(key)
        now = rng_state()
        set_rng_state(self._rng_before[key])
        try:
            return self.closure(key)
        finally:
            set_rng_state(now)

    # --------------------------------------------------------------- losses
    def _store(self, out: Dict[str, torch.Tensor]):
        means = self._reduce([v.detach() for v in out.values()])
        for (p, v), mean in zip(out.items(), means):
            if self._check_finite is not None:
                self._check_finite(f"loss_{p}", mean)
            self._losses.setdefault(p, v)
            self._values.setdefault(p, mean)

    def loss(self, s: str) -> torch.Tensor:
        """``L_s`` (with its graph)."""
        if s not in self._losses:
            if self._released:
                raise RuntimeError("Evaluation.release() was called: no further derivatives")
            self._store(self._call(s))
        return self._losses[s]

    def losses_detached(self) -> tuple:
        """``(loss_x, loss_y)`` evaluated so far, detached (``None`` if never needed)."""
        return tuple(self._values.get(p) for p in PLAYERS)

    # ------------------------------------------------------------ gradients
    def _all_grads(self, s: str) -> List[torch.Tensor]:
        """``grad L_s`` wrt x and y in one pass, with graph (second order only)."""
        if s not in self._first:
            allp = self.params["x"] + self.params["y"]
            self._first[s] = _grads(self.loss(s), allp, create_graph=True, retain_graph=True)
            nx = len(self.params["x"])
            mean = self._reduce([t.detach() for t in self._first[s]])
            self._mean[(s, "x")], self._mean[(s, "y")] = mean[:nx], mean[nx:]
            self._own_grad(s, self._mean[(s, s)])
        return self._first[s]

    def _mean_grad(self, s: str, i: str) -> List[torch.Tensor]:
        """``grad_i L_s`` (detached, rank mean). First order: one backward pass wrt
        ``theta_i`` alone (the opponent's weight gradients are never formed)."""
        if (s, i) not in self._mean:
            if self.second_order and self.mode != "reverse_over_forward":
                self._all_grads(s)
            else:
                self._mean[(s, i)] = self._reduce(_grads(self.loss(s), self.params[i],
                                                         retain_graph=True))
                if s == i:
                    self._own_grad(i, self._mean[(i, i)])
        return self._mean[(s, i)]

    def _own_grad(self, i: str, g: List[torch.Tensor]) -> List[torch.Tensor]:
        """``g = grad_i L_i`` (rank mean) has been computed: cache it, tell ``on_grad``."""
        self._mean.setdefault((i, i), g)
        if self._on_grad is not None:
            self._on_grad(i, g)
        return g

    def _clip_own(self, i: str, g: List[torch.Tensor]) -> List[torch.Tensor]:
        """``g`` (player i's gradient) clipped to ``clip[i]`` (the same list if unset)."""
        if i not in self._clip:
            return g
        if i not in self._clipped:
            self._clipped[i] = clip_by_total_norm(g, self._clip[i])[0]
        return self._clipped[i]

    def grad_wrt(self, s: str, i: str, graph: bool = False) -> List[torch.Tensor]:
        """``grad_i L_s``; ``graph=True`` keeps it differentiable (needs second_order).

        Data parallel: the value is the mean over ranks; with ``graph=True`` the graph
        is this rank's (``m + (g - g.detach())``: value m, derivative of g)."""
        mean = self._mean_grad(s, i)
        if not graph:
            return mean
        if not self.second_order:
            raise RuntimeError("grad_wrt(graph=True) needs Evaluation(second_order=True)")
        nx = len(self.params["x"])
        g = self._all_grads(s)[:nx] if i == "x" else self._all_grads(s)[nx:]
        if not self._distributed:
            return g
        return [m + (t - t.detach()) for t, m in zip(g, mean)]   # value exactly m

    def release(self) -> None:
        """Drop the autograd graphs (losses and differentiable gradients); values already
        computed stay available. Call once no further derivative is needed."""
        self._losses.clear()
        self._first.clear()
        self._released = True

    def grad(self, i: str) -> List[torch.Tensor]:
        """``grad_i L_i`` (detached), clipped when ``clip`` names player i."""
        return self._clip_own(i, self.grad_wrt(i, i))

    # --------------------------------------------------- block products
    def hvp(self, s: str, i: str, j: str, v_j: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """``grad_{ij} L_s . v_j = grad_i <grad_j L_s, v_j>`` as one JVP (detached)."""
        if self.mode == "forward":
            return self._reduce(self._forward_block(s, i, j, v_j)[1])
        if self.mode == "reverse_over_forward":
            _, tangent, _ = self._dual_loss(s, j, v_j, attach=(i == j))
            return self._reduce([t.detach() for t in _grads(tangent, self.params[i])])
        g_j = self.grad_wrt(s, j, graph=True)
        return self._reduce([t.detach() for t in _grads(dot(g_j, v_j), self.params[i],
                                                        retain_graph=True)])

    def grad_and_mixed(self, i: str, d_j: Sequence[torch.Tensor], source: str = "own"):
        """``(grad_i L_i, M_i)``: LEAD's coupling ``M_i = grad_{ij} L_i . d_j`` (own) or
        ``-grad_{ij} L_j . d_j`` (opponent); the two agree in zero-sum games."""
        j = OTHER[i]
        s = i if source == "own" else j
        terms = self._lead_terms(i, d_j, None, source=source)
        if self.mode == "forward" and source == "own":
            g, m = self._forward_block(i, i, j, d_j)
        elif terms is not None:
            g, m = terms
        else:
            m = self.hvp(s, i, j, d_j)
            if source == "opponent":
                m = [-t for t in m]
            return self.grad(i), m
        both = self._reduce([t.detach() for t in g + m])
        return self._clip_own(i, self._own_grad(i, both[:len(g)])), both[len(g):]

    def grad_plus_mixed(self, i: str, d_j: Sequence[torch.Tensor], alpha: float,
                        source: str = "own") -> List[torch.Tensor]:
        """``grad_i L_i + alpha M_i`` (``M_i`` as in :meth:`grad_and_mixed`), LEAD's
        update direction. In ``"reverse_over_forward"`` (and ``"auto"``) mode with
        ``source="own"`` it is ONE reverse pass, ``grad_i (L_i + alpha <grad_j L_i, d_j>)``;
        otherwise the two terms are computed apart and added (``alpha * M + g``)."""
        with_grad = i in self._clip or self._on_grad is not None
        direction = self._lead_terms(i, d_j, alpha, with_grad, source)
        if direction is None:
            g, m = self.grad_and_mixed(i, d_j, source)
            return axpy(g, alpha, m, donate=True)
        if not with_grad:
            return self._reduce([t.detach() for t in direction])
        both = self._reduce([t.detach() for t in direction[0] + direction[1]])
        n = len(both) // 2
        direction, g = both[:n], self._own_grad(i, both[n:])
        if i in self._clip:     # g + alpha M  ->  c g + alpha M = (g + alpha M) + (c - 1) g
            coef = clip_coefficient(total_norm(g), self._clip[i]) - 1
            direction = [d.add_(t) for d, t in zip(direction, scaled(g, coef))]
        return direction

    def _lead_terms(self, i: str, d_j, alpha: Optional[float], with_grad: bool = False,
                    source: str = "own"):
        """LEAD's terms by reverse over forward (this rank's, not yet averaged): the
        direction ``grad_i L_i + alpha M_i``, or for ``alpha=None`` the pair
        ``(grad_i L_i, M_i)``; ``with_grad`` (with ``alpha``): the pair
        ``(direction, grad_i L_i)``.

        ``source="own"``: one dual evaluation of ``L_i`` (``theta_j`` dual, tangent
        ``d_j``); the direction is ONE reverse pass of ``L_i + alpha <grad_j L_i, d_j>``;
        the plain gradient (``alpha=None`` or ``with_grad``) costs one more reverse pass
        of ``L_i`` (:meth:`_dual_terms` says why it is not free).
        ``source="opponent"`` (``M_i = -grad_i <grad_j L_j, d_j>``): one dual evaluation
        of ``L_j`` and one plain evaluation of ``L_i`` (the same closure call for a pair
        closure), and two reverse passes over two separate graphs, ``grad_i L_i`` and
        ``grad_i <grad_j L_j, d_j>``: the plain gradient comes with the direction.

        In ``"reverse_over_forward"`` mode always; in ``"auto"`` mode for the summed
        direction in one process (not under data parallelism, where every rank would
        have to take the same fallback), unless the dual evaluation or its reverse pass
        fails (a :class:`NotReverseSafe` refusal, or an error in PyTorch's forward mode:
        raised by a torch call on the dual evaluation, or by the reverse pass; an error
        the closure's own code raises propagates, as it would by double backward): then
        the closure's in-place writes and the random number state are put back,
        ``on_fallback`` is told, and ``None`` is returned (the caller uses double
        backward, as in the other modes)."""
        if self.mode == "reverse_over_forward":
            part = self._dual_terms(i, d_j, alpha, with_grad, source)
        elif self.mode != "auto" or alpha is None or self._distributed:
            return None    # (data parallel: ranks could not agree on a fallback)
        else:
            part = self._attempt_dual(i, d_j, alpha, with_grad, source)
            if part is None:
                return None
        return part if source == "own" else self._opponent_terms(i, *part, alpha, with_grad)

    def _attempt_dual(self, i: str, d_j, alpha: float, with_grad: bool, source: str):
        """``"auto"``: :meth:`_dual_terms` with its writes logged; ``None`` after a
        fallback (:meth:`_lead_terms`)."""
        s = i if source == "own" else OTHER[i]          # the loss evaluated dual
        key = s if self.closure.per_player else None
        first = key not in self._rng_before       # (a re-run leaves the RNG as it was)
        self._closure_done = False
        try:
            return self._dual_terms(i, d_j, alpha, with_grad, source, undo=True)
        except (NotImplementedError, RuntimeError) as err:   # NotReverseSafe included
            sub = self._attempt
            if not (isinstance(err, NotReverseSafe) or self._closure_done
                    or (sub is not None and sub.op_failed)):
                raise      # the closure's own code failed: as it would by double backward
            if sub is not None:
                sub.undo()                    # the closure's buffers as they were
            if first and key in self._rng_before:   # its random draws as they were
                set_rng_state(self._rng_before.pop(key))
            for p in PLAYERS:          # (a pair closure's dual call stored both values)
                if p not in self._losses:
                    self._values.pop(p, None)
            self.mode = "double_backward"
            if self._on_fallback is not None:
                self._on_fallback(err)
            return None
        finally:
            self._attempt = None

    def _dual_terms(self, i: str, d_j, alpha: Optional[float], with_grad: bool = False,
                    source: str = "own", undo: bool = False):
        """The dual evaluation and the reverse passes through it (:meth:`_lead_terms`).
        ``source="opponent"``: ``(grad_i <grad_j L_j, d_j>, L_i or None)``, ``L_i`` the
        primal of a pair closure's same call (:meth:`_opponent_terms` finishes).

        Why own-source ``grad_i L_i`` is a reverse pass of its own: the tangent
        ``<grad_j L_i, d_j>`` depends on the primal activations (through the second
        derivatives of the loss and of smooth activations, and through the layers of
        ``theta_j`` whose tangents multiply primal inputs), so the reverse pass of
        ``L_i + alpha T`` carries ``dL/dh + alpha dT/dh`` at every primal node ``h``: no
        part of it is ``grad_i L_i`` alone."""
        if source != "own":
            j = OTHER[i]
            _, tangent, pair_i = self._dual_loss(j, j, d_j, attach=False, undo=undo, also=i)
            return _grads(tangent, self.params[i], retain_graph=pair_i is not None), pair_i
        primal, tangent, _ = self._dual_loss(i, OTHER[i], d_j, attach=False, undo=undo)
        if alpha is None:
            return (_grads(primal, self.params[i], retain_graph=True),
                    _grads(tangent, self.params[i]))
        direction = _grads(primal + alpha * tangent, self.params[i], retain_graph=with_grad)
        return (direction, _grads(primal, self.params[i])) if with_grad else direction

    def _opponent_terms(self, i: str, dt, pair_i, alpha: Optional[float], with_grad: bool):
        """Finish :meth:`_lead_terms` for ``source="opponent"``: ``dt`` is
        ``grad_i <grad_j L_j, d_j>``; ``L_i`` is ``pair_i`` (a pair closure's) or one plain
        closure call (outside the dual attempt: an error of the closure's own code there
        propagates). ``M_i = -dt``; the direction ``g - alpha dt``, as double backward's
        ``g + alpha M`` (the same numbers: ``alpha (-dt) == (-alpha) dt``)."""
        if pair_i is not None:
            self._store({i: pair_i})
        g = _grads(self.loss(i), self.params[i])
        if alpha is None:
            torch._foreach_neg_(dt)
            return g, dt
        direction = axpy(g, -alpha, dt, donate=True)
        return (direction, g) if with_grad else direction

    def _dual_loss(self, s: str, j: str, v_j, attach: bool, undo: bool = False,
                   also: Optional[str] = None):
        """``(L_s, <grad_j L_s, v_j>, L_also)``, with reverse graphs, from one evaluation
        of the closure with ``theta_j`` dual (tangent ``v_j``). ``attach=False``
        substitutes ``theta_j`` detached: no reverse graph reaches it (derivatives wrt
        the other player only). The tangent is a constant 0 when ``L_s`` ignores
        ``theta_j``. ``L_also``: the primal of the other loss of a pair closure's call
        (``None`` for a per-player closure, or without ``also``). ``undo``: the
        substitution logs the closure's in-place writes
        (:class:`~optimizers._dual.Substitute`), kept as ``self._attempt``."""
        with dual_level():
            table = {id(p): fwAD.make_dual(p if attach else p.detach(), v.to(p.dtype))
                     for p, v in zip(self.params[j], v_j)}
            sub = Substitute(table, reverse_over_forward=True, originals=self.params[j],
                             undo=undo)
            if undo:
                self._attempt = sub
            with sub:
                out = self._call(s)
            self._closure_done = True     # (errors from here on are PyTorch's)
            _check_loss(out[s])
            pair = fwAD.unpack_dual(out[s])
            primal, tangent = pair.primal, pair.tangent
            other = fwAD.unpack_dual(out[also]).primal if also in out else None
        value = self._reduce([primal.detach()])[0]
        if self._check_finite is not None:
            self._check_finite(f"loss_{s}", value)
        self._values.setdefault(s, value)
        return primal, (primal.new_zeros(()) if tangent is None else tangent), other

    def _forward_block(self, s: str, i: str, j: str, v_j):
        """Forward-over-reverse: re-run L_s with theta_j dual (tangent v_j). Returns this
        rank's ``(grad_i L_s, grad_ij L_s . v_j)``; the callers average them."""
        with dual_level():
            table = {id(p): fwAD.make_dual(p, v.to(p.dtype)) for p, v in zip(self.params[j], v_j)}
            with Substitute(table):
                out = self._call(s)
            loss = out[s]
            primal = self._reduce([fwAD.unpack_dual(loss).primal.detach()])[0]
            if self._check_finite is not None:
                self._check_finite(f"loss_{s}", primal)
            self._values.setdefault(s, primal)
            gs = _grads(loss, self.params[i])
            pairs = [fwAD.unpack_dual(g) for g in gs]
            g = [pr.primal.detach() for pr in pairs]      # fresh tensors: no copies
            m = [torch.zeros_like(p) if pr.tangent is None else pr.tangent.detach()
                 for pr, p in zip(pairs, self.params[i])]
        return g, m
