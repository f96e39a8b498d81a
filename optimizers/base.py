"""``GameOptimizer``: the torch.optim-style base class of every two-player optimizer.

A subclass declares its hyperparameters and implements ``_step(closure)``; the base
class keeps the books (param groups tagged by player, per-player hyperparameters,
lazy state, checkpoints, non-finite detection with rollback). See docs/OPTIMIZERS.md,
"Writing a new method".

Contract (issue 6): ``Opt(params_x, params_y, **hyper)``; params are iterables of
tensors or of param-group dicts; each hyperparameter is a scalar (both players) or a
pair ``(value_x, value_y)``. ``step(closure)``: ``closure()`` returns
``(loss_x, loss_y)``, the loss each player *minimises* (zero-sum f: ``(f, -f)``), or
``closure(player)`` returns that player's loss alone.

torch.optim conventions (issue 17): learning-rate schedulers work on ``group["lr"]`` and
their extra group keys (``initial_lr``, ...) are kept through ``state_dict`` /
``load_state_dict``; after ``step`` every parameter's ``.grad`` holds its player's
gradient at the step's evaluation point; ``max_grad_norm`` clips each player's gradient
before the update; ``zero_grad`` is torch.optim's.
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.autograd.forward_ad as fwAD

from .autodiff import (MIXED_MODES, PLAYERS, Evaluation, GameClosure,
                       NonFiniteError, reducing)
from .functional import all_finite

NONFINITE_POLICIES = ("raise", "flag")
#: Default mixed-term mode; chosen by benchmarks/mixed_term.py (see docs/OPTIMIZERS.md).
DEFAULT_MIXED_MODE = "auto"
#: Param-group keys torch's learning-rate schedulers add (``LRScheduler``: initial_lr;
#: ``OneCycleLR`` / ``CyclicLR``: the others). Accepted in groups and kept in checkpoints.
SCHEDULER_KEYS = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")
_GROUP_KEYS = ("params", "player", "param_names") + SCHEDULER_KEYS

_MISSING = object()


class _DifferentiableClosure(GameClosure):
    """A :class:`GameClosure` whose losses must require grad: a Python number or a detached
    tensor cannot be differentiated, and the step would silently change nothing."""

    def __call__(self, player=None):
        losses = super().__call__(player)
        if all(bool(torch.isfinite(v.detach())) for v in losses.values()):  # (else: NonFiniteError)
            for name, v in losses.items():
                if not (v.requires_grad or fwAD.unpack_dual(v).tangent is not None):
                    raise ValueError(  # (a tangent: a player substituted, detached, as dual)
                        f"{self.owner}: loss_{name} does not require grad (a Python number, or a "
                        f"tensor computed under torch.no_grad() or detached, e.g. by .item()); "
                        f"return the loss as computed from the parameters")
        return losses


# ------------------------------------------------------------------ validation
def brief(v, limit: int = 60) -> str:
    """A one-line, short description of a (possibly user-supplied) value for messages."""
    if isinstance(v, torch.Tensor):
        return f"tensor(shape={tuple(v.shape)}, dtype={v.dtype})"
    r = " ".join(repr(v).split())
    return r if len(r) <= limit else r[:limit] + "..."


def _real(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) and not (
            isinstance(v, torch.Tensor) and v.numel() == 1):
        raise ValueError(f"Invalid {name}: expected a real number, got {brief(v)}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"Invalid {name}: must be finite, got {v}")
    return v


def real(name: str, v) -> float:
    """Any finite real number."""
    return _real(name, v)


def positive(name: str, v) -> float:
    """A finite number > 0 (learning rates, eps)."""
    v = _real(name, v)
    if v <= 0:
        raise ValueError(f"Invalid {name}: must be > 0, got {v}")
    return v


def nonnegative(name: str, v) -> float:
    v = _real(name, v)
    if v < 0:
        raise ValueError(f"Invalid {name}: must be >= 0, got {v}")
    return v


def momentum(name: str, v) -> float:
    """A momentum coefficient in the open interval (-1, 1)."""
    v = _real(name, v)
    if not -1.0 < v < 1.0:
        raise ValueError(f"Invalid {name}: momentum must lie in (-1, 1), got {v}")
    return v


def adam_betas(name: str, v) -> Tuple[float, float]:
    """Adam's ``(beta1, beta2)``, each in [0, 1)."""
    if not isinstance(v, (tuple, list)) or len(v) != 2:
        raise ValueError(f"Invalid {name}: expected a pair (beta1, beta2), got {brief(v)}")
    out = tuple(_real(f"{name}[{k}]", b) for k, b in enumerate(v))
    for k, b in enumerate(out):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid {name}[{k}]: must lie in [0, 1), got {b}")
    return out


class Hyper(NamedTuple):
    """How to validate one hyperparameter. ``pair_valued``: one value is itself a
    pair (Adam's betas), so the per-player form is a pair of pairs."""

    check: Callable[[str, Any], Any]
    pair_valued: bool = False


#: the hyperparameters every Adam-preconditioned method takes (lr, betas, eps)
ADAM_HYPER = {"lr": Hyper(positive), "betas": Hyper(adam_betas, pair_valued=True),
              "eps": Hyper(positive)}


def is_player_pair(value, pair_valued: bool = False) -> bool:
    """Is ``value`` the per-player form ``(value_x, value_y)``? For a hyperparameter whose
    one value is itself a pair (Adam's betas, ``pair_valued``) that is a pair of pairs."""
    is_pair = isinstance(value, (tuple, list)) and len(value) == 2
    if pair_valued:
        is_pair = is_pair and all(isinstance(v, (tuple, list)) for v in value)
    return is_pair


def per_player(value, pair_valued: bool = False) -> tuple:
    """``value`` (both players) or ``(value_x, value_y)`` -> ``(value_x, value_y)``."""
    return tuple(value) if is_player_pair(value, pair_valued) else (value, value)


def split_players(name: str, value, spec: Hyper) -> Dict[str, Any]:
    """``value`` or ``(value_x, value_y)`` -> ``{"x": ..., "y": ...}``, validated."""
    is_pair = is_player_pair(value, spec.pair_valued)
    if not spec.pair_valued and isinstance(value, (tuple, list)) and not is_pair:
        raise ValueError(f"Invalid {name}: expected a scalar or a pair (x value, y value), "
                         f"got {brief(value)}")
    return {p: spec.check(f"{name} (player {p})" if is_pair else name, v)
            for p, v in zip(PLAYERS, per_player(value, spec.pair_valued))}


def optional_positive(name: str, v) -> Optional[float]:
    """``None`` or a finite number > 0 (``max_grad_norm``)."""
    return None if v is None else positive(name, v)


# ------------------------------------------------------------------ the base class
class GameOptimizer(torch.optim.Optimizer):
    """Base class: two players, each with one or more param groups.

    Subclasses set ``hyper = {name: Hyper(check)}`` and implement ``_step(closure)``
    (``closure`` is a :class:`~optimizers.autodiff.GameClosure`); ``_step`` returns
    ``(loss_x, loss_y)`` as evaluated at the start of the step (``None`` for a loss it
    never needed) and writes new iterates only through :meth:`_commit`.

    Parameters
    ----------
    params_x, params_y:
        Iterables of tensors, or of param-group dicts (``{"params": [...], "lr": ...}``).
        A group dict may override a hyperparameter for its own parameters.
    defaults:
        ``{name: scalar or (x value, y value)}`` for every name in ``hyper``.
    options:
        Algorithm options (``alternating`` and the like), saved in checkpoints; loading
        a checkpoint made with other options raises ``ValueError``.
    nonfinite:
        ``"raise"`` (default): a non-finite loss or iterate raises
        :class:`NonFiniteError` naming the step; ``"flag"``: the step is skipped
        (parameters and state stay at the last finite step) and its number is appended
        to ``nonfinite_steps``. Either way no NaN is ever written into the parameters.
    mixed_mode:
        How Hessian-block products are computed (:mod:`optimizers.autodiff`); same values,
        different cost. ``"auto"`` (default): LEAD-Adam's ``g + alpha M`` by whichever of
        ``"reverse_over_forward"`` and ``"double_backward"`` measured faster on its first
        steps (:mod:`optimizers.auto_mode`), reverse over forward only for closures that
        stay within the operations it supports (:data:`optimizers._dual.REVERSE_SAFE`; at
        the first step that leaves them a ``RuntimeWarning`` says so, the attempt is
        undone and double backward is kept; the decision is saved in checkpoints);
        everything else by ``"double_backward"``. ``"double_backward"``,
        ``"forward"`` (forward-over-reverse) or ``"reverse_over_forward"`` force one.
    max_grad_norm:
        ``None`` (default), a number > 0, or a pair ``(x value, y value)`` (``None`` for a
        player leaves it unclipped). Before the update, player i's gradient
        ``grad_i L_i``, all of its parameters together, is scaled by
        ``min(1, max_grad_norm / (|grad_i L_i| + 1e-6))``, as
        ``torch.nn.utils.clip_grad_norm_`` would scale ``.grad`` before a torch.optim
        step. Every gradient an update uses is clipped (EG's extrapolation and update
        gradients each); the second-order terms (LEAD's coupling term, CGD's and FR's
        Hessian blocks, CO's and SGA's adjustments) are not. LEAD-Adam clips ``g`` in
        line 7 / 15's ``g + alpha M``.
    set_grad:
        ``True`` (default): after ``step`` every parameter's ``.grad`` holds its player's
        gradient ``grad_i L_i`` (unclipped; the mean over ranks under data parallelism)
        at the step's evaluation point: the point where the loss ``step`` returns for
        that player was evaluated (the start of the step; for alternating methods player
        y's at ``(x_{k+1}, y_k)``). Existing ``.grad`` tensors are overwritten in place,
        not added to. ``False`` leaves ``.grad`` alone: LEAD-Adam's one-pass direction
        by reverse over forward with the own mixed term (``mixed_source="own"``) then
        needs one reverse pass fewer per player (the plain gradient is a reverse pass of
        its own there: :meth:`optimizers.autodiff.Evaluation._dual_terms`); with the
        opponent's (``"opponent"``) and by double backward it comes with the direction.
    """

    hyper: Dict[str, Hyper] = {}
    #: ``None`` (one process) or a callable averaging lists of tensors over ranks; set by
    #: :func:`optimizers.distributed.data_parallel`. Not saved in checkpoints.
    reducer = None
    _loaded_unchecked = False   # True from load_state_dict until the next completed step

    def __init__(self, params_x, params_y, defaults: Dict[str, Any], *,
                 options: Optional[Dict[str, Any]] = None, nonfinite: str = "raise",
                 mixed_mode: Optional[str] = None, max_grad_norm=None, set_grad: bool = True):
        unknown = set(defaults) - set(self.hyper)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown hyperparameters {sorted(unknown)}")
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"Invalid nonfinite: must be one of {NONFINITE_POLICIES}, "
                             f"got {nonfinite!r}")
        mixed_mode = DEFAULT_MIXED_MODE if mixed_mode is None else mixed_mode
        if mixed_mode not in MIXED_MODES:
            raise ValueError(f"Invalid mixed_mode: must be one of {MIXED_MODES}, "
                             f"got {mixed_mode!r}")
        if not isinstance(set_grad, bool):
            raise TypeError(f"Invalid set_grad: must be True or False, got {brief(set_grad)}")
        self.max_grad_norm = split_players("max_grad_norm", max_grad_norm,
                                           Hyper(optional_positive))
        self.set_grad = set_grad
        self._grads_set: set = set()     # players whose .grad this step has written
        self.nonfinite, self.mixed_mode = nonfinite, mixed_mode
        self._auto_fallback: Optional[str] = None   # "auto" after a refused operation
        self.options = dict(options or {})
        self._player_defaults = {p: {} for p in PLAYERS}
        for name, spec in self.hyper.items():
            for p, v in split_players(name, defaults[name], spec).items():
                self._player_defaults[p][name] = v
        self.game_step = 0               # number of steps applied
        self.nonfinite_steps: List[int] = []
        self._tx: Optional[list] = None  # undo log of the step in progress
        groups = self._tag(params_x, "x") + self._tag(params_y, "y")
        pairs = {n: (self._player_defaults["x"][n], self._player_defaults["y"][n])
                 for n in self.hyper}
        super().__init__(groups, pairs)

    # ------------------------------------------------------------ param groups
    @staticmethod
    def _tag(params, player: str) -> List[dict]:
        name = f"params_{player}"
        if isinstance(params, torch.Tensor):
            raise TypeError(f"{name} must be an iterable of tensors or param-group dicts, "
                            f"got a single tensor (wrap it in a list)")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name} is a set; its order changes between runs, which would "
                            f"break checkpoints. Use a list.")
        try:
            items = list(params)
        except TypeError:
            raise TypeError(f"{name} must be an iterable of tensors or param-group dicts, "
                            f"got {type(params).__name__}") from None
        if not items:
            raise ValueError(f"{name} is empty: each player needs at least one parameter")
        if not all(isinstance(g, dict) for g in items):
            if any(isinstance(g, dict) for g in items):
                raise TypeError(f"{name} mixes tensors and param-group dicts")
            items = [{"params": items}]
        out = []
        for g in items:
            g = dict(g)
            if g.setdefault("player", player) != player:
                raise ValueError(f"a param group in {name} is tagged player={g['player']!r}")
            out.append(g)
        return out

    def add_param_group(self, param_group: dict) -> None:
        """Add a group; it must carry ``player`` ("x" or "y")."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        player = param_group.get("player")
        if player not in PLAYERS:
            raise ValueError(f"a param group needs player='x' or 'y', got {player!r}")
        if isinstance(param_group.get("params"), (set, frozenset)):
            raise TypeError("params is a set; its order changes between runs. Use a list.")
        unknown = set(param_group) - set(self.hyper) - set(_GROUP_KEYS)
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown param-group keys {sorted(unknown)}")
        for key in SCHEDULER_KEYS:
            if key in param_group:
                _real(f"{key} (group of player {player})", param_group[key])
        for name, spec in self.hyper.items():
            if name in param_group:
                param_group[name] = spec.check(f"{name} (group of player {player})",
                                               param_group[name])
            else:
                param_group[name] = self._player_defaults[player][name]
        params = param_group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        param_group["params"] = params      # a generator would be spent by the checks below
        other = {id(p) for g in self.param_groups if g["player"] != player for p in g["params"]}
        if any(id(p) in other for p in params):
            raise ValueError("a parameter is shared by both players; each tensor must belong "
                             "to exactly one player")
        for p in params:
            if isinstance(p, torch.Tensor) and not p.is_floating_point():
                raise TypeError(f"parameters must be floating point, got {p.dtype}")
        super().add_param_group(param_group)

    def player_params(self, player: str) -> List[torch.Tensor]:
        """All parameters of ``player``, in group order."""
        return [p for g in self.param_groups if g["player"] == player for p in g["params"]]

    def player_groups(self, player: str):
        """Yield ``(group, start, stop)``: the group and its slice in ``player_params``."""
        start = 0
        for g in self.param_groups:
            if g["player"] == player:
                stop = start + len(g["params"])
                yield g, start, stop
                start = stop

    def map_groups(self, player: str, fn, *lists):
        """Apply ``fn(group, *slices)`` group by group (so each group's hyperparameters
        are used) and concatenate. ``fn`` returns a list, or a tuple of lists."""
        outs = [fn(g, *(l[a:b] for l in lists)) for g, a, b in self.player_groups(player)]
        if outs and isinstance(outs[0], tuple):
            return tuple([t for o in outs for t in o[k]] for k in range(len(outs[0])))
        return [t for o in outs for t in o]

    def group_values(self, player: str, name: str) -> List[Any]:
        """The value of hyperparameter ``name`` in each group of ``player``."""
        return [g[name] for g, _, _ in self.player_groups(player)]

    # ------------------------------------------------------------ evaluation
    @contextmanager
    def params_at(self, values: Dict[str, Sequence[torch.Tensor]]):
        """Temporarily move players' parameters, ``{player: new values}``; restored on
        exit (also on error). For evaluations at extrapolated points (EG, lookahead)."""
        saved = []
        try:
            with torch.no_grad():
                for player, vals in values.items():
                    for p, v in zip(self.player_params(player), vals):
                        saved.append((p, p.detach().clone()))
                        p.copy_(v)
            yield
        finally:
            with torch.no_grad():
                for p, old in saved:
                    p.copy_(old)

    def evaluation(self, closure: GameClosure, second_order: bool = False,
                   mixed_mode: Optional[str] = None,
                   players: Sequence[str] = PLAYERS) -> Evaluation:
        """An :class:`Evaluation` at the current parameters (lazy, cached), in
        ``mixed_mode`` (default: the optimizer's; ``"auto"`` is double backward once a
        dual attempt has been refused). ``players``: those whose evaluation point this
        is, whose ``.grad`` it may write (``set_grad``); an alternating method's
        evaluation for player x also computes ``grad_y L_y`` there for the opponent's
        mixed term (``mixed_source="opponent"``), which is not y's gradient at y's point."""
        mode = self.mixed_mode if mixed_mode is None else mixed_mode
        store = self._store_grad if self.set_grad else None
        if store is not None and tuple(players) != PLAYERS:
            mine = set(players)

            def store(player, grads, _store=store):
                if player in mine:
                    _store(player, grads)
        return Evaluation(closure, {p: self.player_params(p) for p in PLAYERS},
                          mixed_mode=("double_backward" if self._auto_fallback and mode == "auto"
                                      else mode), second_order=second_order,
                          on_fallback=self._fall_back,
                          check_finite=self._check_loss, reducer=self.reducer,
                          clip=self.max_grad_norm,
                          on_grad=store)

    def _store_grad(self, player: str, grads: Sequence[torch.Tensor]) -> None:
        """``.grad`` of player's parameters <- ``grads`` (its gradient at the step's
        evaluation point: the first one computed in the step). Copied, since the step
        may go on to overwrite ``grads``."""
        if player in self._grads_set:
            return
        self._grads_set.add(player)
        with torch.no_grad():
            for p, g in zip(self.player_params(player), grads):
                old = p.grad
                if (old is not None and old.shape == g.shape and old.dtype == g.dtype
                        and old.device == g.device):
                    old.copy_(g)
                else:
                    p.grad = g.detach().clone()

    def _fall_back(self, err) -> None:
        """``mixed_mode="auto"``: reverse-over-forward failed (``err``); double backward
        from now on."""
        what = getattr(err, "op", None) or " ".join(f"{type(err).__name__}: {err}".split())[:200]
        self._auto_fallback = what
        warnings.warn(f"{type(self).__name__}: mixed_mode='auto' computes the mixed term by "
                      f"double backward: reverse-over-forward cannot take this closure "
                      f"({what})", RuntimeWarning, stacklevel=4)

    def _check_loss(self, name: str, value: torch.Tensor):
        if not bool(torch.isfinite(value.detach())):
            raise NonFiniteError(f"{type(self).__name__}: the closure returned a non-finite "
                                 f"{name} ({value.item()}) at step {self.game_step + 1}",
                                 self.game_step + 1)

    # ------------------------------------------------------------ state & commits
    def state_of(self, p: torch.Tensor, init: Callable[[torch.Tensor], Dict[str, torch.Tensor]]):
        """The state dict of ``p``, created lazily with ``init(p)`` on first use."""
        st = self.state[p]
        if not st:
            st.update(init(p))
        elif self._loaded_unchecked:     # first step after load_state_dict: keys complete?
            missing = sorted(set(init(p)) - set(st))
            if missing:
                raise ValueError(f"{type(self).__name__}: the loaded state dict lacks state "
                                 f"{missing} of a parameter of shape {tuple(p.shape)}")
        return st

    def _commit(self, params: Sequence[torch.Tensor], new_params: Sequence[torch.Tensor],
                new_state: Optional[Sequence[Dict[str, torch.Tensor]]] = None, what: str = "",
                final: bool = False, current: Optional[Sequence[torch.Tensor]] = None):
        """Write new iterates (in place) and new state (by reference), after checking
        all are finite. Undone if a later commit of the same step fails; ``final=True``
        (the step's last commit) skips the undo copy. ``current``: copies of the
        parameters' present values the caller already holds (e.g. a new ``prev``
        state), kept as the undo copy instead of cloning again; never written to."""
        tensors = list(new_params) + [v for d in (new_state or ()) for v in d.values()
                                      if isinstance(v, torch.Tensor)]
        if not all_finite(tensors):
            k = self.game_step + 1
            raise NonFiniteError(f"{type(self).__name__}: non-finite iterate {what}at step {k}; "
                                 f"parameters left at step {k - 1}", k)
        for i, (p, v) in enumerate(zip(params, new_params)):
            if self._tx is not None and not final:
                st = self.state.get(p, {})
                old = p.detach().clone() if current is None else current[i]
                self._tx.append((p, old, {k: st.get(k, _MISSING) for k in
                                           (new_state[i] if new_state else {})}))
            if v is not p:          # (p itself: already updated in place by the caller)
                with torch.no_grad():
                    p.copy_(v)
            if new_state:
                self.state[p].update(new_state[i])

    def _rollback(self):
        for p, old, st_old in reversed(self._tx or []):
            with torch.no_grad():
                p.copy_(old)
            st = self.state[p] if st_old else {}
            for k, v in st_old.items():
                if v is _MISSING:
                    st.pop(k, None)
                else:
                    st[k] = v

    # ------------------------------------------------------------ step
    def step(self, closure):  # noqa: D401
        """One step. ``closure()`` -> ``(loss_x, loss_y)`` or ``closure(player)`` -> loss.

        Returns ``(loss_x, loss_y)`` at the start of the step (detached; ``None`` for a
        loss the method never needed with a per-player closure).
        """
        closure = closure if isinstance(closure, GameClosure) else \
            _DifferentiableClosure(closure, owner=type(self).__name__)
        self._tx = []
        self._grads_set = set()
        try:
            with reducing(self.reducer):
                losses = self._step(closure)
        except NonFiniteError as err:
            self._rollback()
            if self.nonfinite == "raise":
                raise
            self.nonfinite_steps.append(err.step)
            warnings.warn(str(err) + " (step skipped)", RuntimeWarning, stacklevel=2)
            return None
        except BaseException:   # any failure mid-step: back to the last completed step
            self._rollback()
            raise
        finally:
            self._tx = None
        self.game_step += 1
        self._loaded_unchecked = False
        return losses

    def _step(self, closure: GameClosure):
        raise NotImplementedError

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> Dict[str, Any]:
        sd = super().state_dict()
        sd["game"] = {"step": self.game_step, "nonfinite_steps": list(self.nonfinite_steps),
                      "options": dict(self.options), "class": type(self).__name__,
                      "auto_fallback": self._auto_fallback}
        return sd

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Load a checkpoint of this class with these options; a malformed one raises
        ``ValueError``/``TypeError`` naming what is wrong, before anything is changed."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        game = state_dict.get("game")
        if game is None:
            raise ValueError("not a GameOptimizer state dict (no 'game' entry)")
        state_dict = self._check_state_dict(state_dict)
        super().load_state_dict(state_dict)
        self._loaded_unchecked = True
        self.game_step = int(game["step"])
        self.nonfinite_steps = list(game["nonfinite_steps"])
        self._auto_fallback = game.get("auto_fallback")   # (older checkpoints: none)

    def _check_state_dict(self, sd: Dict[str, Any]) -> Dict[str, Any]:
        """Structure, types, hyperparameters, shapes and finiteness of a checkpoint;
        returns it with the hyperparameters normalised by their checks (a copy)."""
        def bad(msg):
            raise ValueError(f"malformed {type(self).__name__} state dict: {msg}")

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        game, groups, state = sd["game"], sd.get("param_groups"), sd.get("state")
        if not isinstance(game, dict):
            bad(f"'game' is {type(game).__name__}, not a dict")
        for key, kind in (("class", str), ("options", dict), ("nonfinite_steps", list)):
            if not isinstance(game.get(key), kind):
                bad(f"game[{key!r}] must be a {kind.__name__}, got {brief(game.get(key))}")
        if not is_int(game.get("step")) or game["step"] < 0:
            bad(f"game['step'] must be an integer >= 0, got {brief(game.get('step'))}")
        if not all(is_int(k) for k in game["nonfinite_steps"]):
            bad("game['nonfinite_steps'] must hold integers")
        if not isinstance(game.get("auto_fallback"), (str, type(None))):
            bad(f"game['auto_fallback'] must be a string or None, got "
                f"{brief(game.get('auto_fallback'))}")
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            bad("'param_groups' must be a list of dicts")
        if not isinstance(state, dict):
            bad(f"'state' is {type(state).__name__}, not a dict")
        if game.get("class") != type(self).__name__:
            saved_by = game["class"] if game["class"].isidentifier() else brief(game["class"])
            raise ValueError(f"state dict was saved by {saved_by}, not {type(self).__name__}")
        for k, v in game["options"].items():
            if isinstance(v, torch.Tensor) or self.options.get(k, _MISSING) != v:
                raise ValueError(f"state dict was saved with {brief(k)}={brief(v)}, this "
                                 f"optimizer has {brief(k)}={brief(self.options.get(k))}")
        saved = [g.get("player") for g in groups]
        if not all(isinstance(p, str) for p in saved):
            bad(f"group players must be 'x' or 'y', got {brief(saved)}")
        if saved != [g["player"] for g in self.param_groups]:
            raise ValueError(f"state dict groups belong to players {saved}, this optimizer's "
                             f"to {[g['player'] for g in self.param_groups]}")
        if len(groups) != len(self.param_groups):
            bad(f"{len(groups)} param groups, this optimizer has {len(self.param_groups)}")
        shapes, checked = {}, [dict(g) for g in groups]
        for k, (g, mine) in enumerate(zip(groups, self.param_groups)):
            ids = g.get("params")
            if not isinstance(ids, list) or not all(is_int(i) for i in ids):
                bad(f"group {k}: 'params' must be a list of integer ids")
            if len(ids) != len(mine["params"]):
                bad(f"group {k} has {len(ids)} parameters, this optimizer's has "
                    f"{len(mine['params'])}")
            if any(i in shapes for i in ids) or len(set(ids)) != len(ids):
                bad(f"group {k}: parameter ids repeat")
            shapes.update({i: p.shape for i, p in zip(ids, mine["params"])})
            unknown = set(g) - set(self.hyper) - set(_GROUP_KEYS)
            if unknown:
                bad(f"group {k}: unknown keys {brief(sorted(map(str, unknown)))}")
            for key in SCHEDULER_KEYS:     # a scheduler's keys: kept, as torch.optim does
                if key in g:
                    try:
                        _real(f"{key} (saved group {k})", g[key])
                    except ValueError as err:
                        bad(str(err))
            for name, spec in self.hyper.items():
                if name not in g:
                    bad(f"group {k}: no hyperparameter {name!r}")
                try:
                    checked[k][name] = spec.check(f"{name} (saved group {k})", g[name])
                except (ValueError, TypeError) as err:   # one line, whatever the value
                    raise type(err)(" ".join(str(err).split())[:300]) from None
        self._check_state_keys(groups, state, bad)
        for pid, st in state.items():
            if pid not in shapes:
                bad(f"state for parameter id {brief(pid)}, which no group lists")
            if not isinstance(st, dict):
                bad(f"state of parameter {pid} is {type(st).__name__}, not a dict")
            for key, v in st.items():
                if not isinstance(v, torch.Tensor):
                    if isinstance(v, bool) or not isinstance(v, (int, float)):
                        bad(f"state {key!r} of parameter {pid} is {type(v).__name__}, "
                            f"not a tensor")
                    continue
                if v.dim() and v.shape != shapes[pid]:
                    bad(f"state {key!r} of parameter {pid} has shape {tuple(v.shape)}, "
                        f"the parameter {tuple(shapes[pid])}")
                if not v.is_floating_point():
                    bad(f"state {key!r} of parameter {pid} has dtype {v.dtype}, not a real "
                        f"floating-point dtype")
                if not bool(torch.isfinite(v).all()):
                    bad(f"state {key!r} of parameter {pid} is not finite")
        return dict(sd, param_groups=checked)    # hyperparameters as their checks return them

    @staticmethod
    def _check_state_keys(groups, state, bad) -> None:
        """Every step creates state for every parameter, the same keys within a player: a
        checkpoint with state for some parameters only, or differing keys, is damaged."""
        if not state:
            return
        for g in groups:
            for i in g["params"]:
                if i not in state:
                    bad(f"parameter {i} (player {g['player']}) has no state while others do")
        for player in PLAYERS:
            keys = {tuple(sorted(map(str, state[i]))) if isinstance(state[i], dict) else None
                    for g in groups if g["player"] == player for i in g["params"]}
            if len(keys) > 1:
                bad(f"the state of player {player}'s parameters has differing keys "
                    f"{brief(sorted(keys, key=str))}")

    def __repr__(self) -> str:
        hp = ", ".join(f"{n}={self.defaults[n]}" for n in self.hyper)
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({hp}{opts})"


class AdamGameOptimizer(GameOptimizer):
    """Base of the Adam-preconditioned methods whose hyperparameters are Adam's own
    (``lr``, ``betas``, ``eps``; each a scalar or a per-player pair)."""

    hyper = ADAM_HYPER

    def __init__(self, params_x, params_y, lr, betas=(0.9, 0.999), eps=1e-8, *,
                 nonfinite="raise", max_grad_norm=None, set_grad=True):
        super().__init__(params_x, params_y, dict(lr=lr, betas=betas, eps=eps),
                         nonfinite=nonfinite, max_grad_norm=max_grad_norm,
                         set_grad=set_grad)
