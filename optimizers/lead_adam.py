"""LEAD-Adam, LEAD Algorithm 2 (App. G), alternating.

With the coupling coefficient restored in lines 7 and 15 (a slip in the paper, see
shared/seeds/README.md): for player x at ``(x_t, y_t)`` and then player y at
``(x_{t+1}, y_t)``::

    g   = grad_i L_i + alpha_i grad_ij L_i . d_j          (lines 5-7 / 13-15)
    m   = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2     (lines 8-9 / 16-17)
    theta_i <- theta_i - lr m_hat / (sqrt(v_hat) + eps)   (lines 10-12 / 18-20)

with ``d_y = y_t - y_{t-1}`` for x and ``d_x = x_{t+1} - x_t`` for y. In the paper's
zero-sum notation y ascends f; here y descends ``L_y = -f``, which is the same update.
"""
from __future__ import annotations

import torch

from .auto_mode import ModeCalibration, Stopwatch
from .autodiff import MIXED_SOURCES, OTHER, PLAYERS
from .base import ADAM_HYPER, GameOptimizer, Hyper, real
from .functional import adam_, axpy, difference, distinct_storages


#: per-parameter state of LEAD-Adam (what :func:`_init` creates)
_KEYS = ("prev", "exp_avg", "exp_avg_sq")


def _fits(buf, p) -> bool:
    """Can the state tensors ``buf[k]``, ``k`` in :data:`_KEYS`, serve as ``p``'s next state
    buffers? (Other entries of ``buf``, a subclass's :meth:`LEADAdam._extra_state`, are
    not looked at.)"""
    if buf is None or not set(_KEYS) <= set(buf):
        return False
    ts = [buf[k] for k in _KEYS]
    return (all(isinstance(b, torch.Tensor) and b.shape == p.shape and b.dtype == p.dtype
                and b.device == p.device and b.stride() == p.stride() for b in ts)
            and distinct_storages(ts))


def _init(p):
    z = torch.zeros_like(p, memory_format=torch.preserve_format)
    return {"prev": p.detach().clone(), "exp_avg": z, "exp_avg_sq": z.clone()}


class LEADAdam(GameOptimizer):
    """LEAD-Adam (Algorithm 2), alternating; every hyperparameter per player.

    Parameters
    ----------
    lr, alpha: scalars or pairs (x value, y value).
    betas: ``(b1, b2)`` or a pair of them ``((b1x, b2x), (b1y, b2y))``.
    eps: Adam's epsilon (> 0).
    mixed_source: ``"own"`` (default, grad_ij L_i . d_j) or ``"opponent"``
        (-grad_ij L_j . d_j, the official code's non-zero-sum mode); see :class:`LEAD`.
    mixed_mode: see :class:`~optimizers.base.GameOptimizer`. With one alpha per player
        and the default ``"auto"``, each player's first steps time line 7 / 15's
        ``g + alpha M`` by reverse over a forward-mode JVP
        (:meth:`~optimizers.autodiff.Evaluation.grad_plus_mixed`: own mixed term, one
        reverse pass; the opponent's, one dual evaluation of ``L_j`` and the plain
        gradient alongside) and by double backward, and the faster is kept
        (:mod:`optimizers.auto_mode`; the choice is saved in :meth:`state_dict` and
        shown by :attr:`mixed_mode_choice`).

    Adam (lines 8-12 / 16-20) runs as torch's fused kernel (:func:`~optimizers.functional.adam_`)
    in place on buffers recycled from the state tensors the previous step replaced, so a
    step allocates no state. As with ``torch.optim``, ``state_dict()`` returns the live state
    tensors: save or deep-copy it to keep a snapshot.
    """

    hyper = {**ADAM_HYPER, "alpha": Hyper(real)}

    def __init__(self, params_x, params_y, lr, alpha, betas=(0.9, 0.999), eps=1e-8, *,
                 mixed_source="own", mixed_mode=None, nonfinite="raise",
                 max_grad_norm=None, set_grad=True):
        if mixed_source not in MIXED_SOURCES:
            raise ValueError(f"Invalid mixed_source: must be one of {MIXED_SOURCES}, "
                             f"got {mixed_source!r}")
        super().__init__(params_x, params_y, dict(lr=lr, alpha=alpha, betas=betas, eps=eps),
                         options=dict(mixed_source=mixed_source), nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad,
                         mixed_mode=mixed_mode)
        self._spare = {}       # param -> state tensors replaced at the last step (reused)
        self._calibration = ModeCalibration()     # mixed_mode="auto": the measured choice

    def _coupled(self, i) -> bool:
        """Does player i's update use its mixed term (some group with alpha != 0)?"""
        return any(a != 0 for a in self.group_values(i, "alpha"))

    def _displacement(self, player):
        ps = self.player_params(player)
        return difference(ps, [self.state_of(p, _init)["prev"] for p in ps])

    def _direction(self, ev, i):
        """``(g, M)`` such that line 7 / 15's ``g + alpha M`` is ``g`` when ``M`` is
        ``None``: with alpha_i = 0 in every group M_i is not computed (the update is the
        same); with one alpha_i for all groups the sum is taken as one derivative
        (:meth:`~optimizers.autodiff.Evaluation.grad_plus_mixed`)."""
        alphas = set(self.group_values(i, "alpha"))
        if alphas == {0}:
            return ev.grad(i), None
        d, source = self._displacement(OTHER[i]), self.options["mixed_source"]
        if len(alphas) == 1:
            return ev.grad_plus_mixed(i, d, alphas.pop(), source), None
        return ev.grad_and_mixed(i, d, source)

    def _extra_state(self, p) -> dict:
        """Extension hook: entries a subclass adds to parameter ``p``'s new state at each
        of its player's steps (default: none). Called by :meth:`_buffers` once per
        parameter, after the player's direction (:meth:`_timed_direction`) and before the
        commit, so ``self.state[p]`` still holds the step's old state. The entries go
        into the state as they are (committed, rolled back and saved with it); only the
        :data:`_KEYS` tensors are recycled as buffers."""
        return {}

    def _buffers(self, ps, sts):
        """Fresh buffers for the next state of each parameter in ``ps``, filled with its
        present values (``prev`` <- theta_t, the moments <- their values); Adam then runs
        in place on them. They are the :data:`_KEYS` tensors replaced at the last
        completed step where those fit (same shape, dtype and strides as ``p``, one
        storage each: :meth:`_step`), so a step allocates nothing. The copies are one
        ``_foreach_copy_``. Each new state also gets :meth:`_extra_state`'s entries."""
        news, dst, src = [], [], []
        for p, st in zip(ps, sts):
            spare = self._spare.pop(p, None)
            if _fits(spare, p):
                buf = {k: spare[k] for k in _KEYS}
            else:
                buf = {k: torch.empty_like(p, memory_format=torch.preserve_format)
                       for k in _KEYS}
            extra = self._extra_state(p)
            if not extra.keys().isdisjoint(_KEYS):
                raise RuntimeError(f"_extra_state must not return LEAD-Adam's own state keys "
                                   f"{_KEYS}, got {sorted(extra)}")
            buf.update(extra)
            news.append(buf)
            dst.append(buf["prev"])
            src.append(p.detach())
            for k in ("exp_avg", "exp_avg_sq"):       # a loaded checkpoint may hold numbers
                v = st[k]
                if isinstance(v, torch.Tensor):
                    dst.append(buf[k])
                    src.append(v)
                else:
                    buf[k].fill_(float(v))
        with torch.no_grad():
            torch._foreach_copy_(dst, src)
        return news

    def _calibrated(self, i) -> bool:
        """Does ``"auto"`` choose player i's mode by measurement? Where the direction is
        one derivative that reverse over forward can take: one nonzero alpha (either
        mixed source), one process."""
        alphas = set(self.group_values(i, "alpha"))
        return (self.mixed_mode == "auto" and len(alphas) == 1 and alphas != {0}
                and self.reducer is None and not self._auto_fallback)

    @property
    def mixed_mode_choice(self):
        """``{player: mode}``: how each player's direction is computed now; under
        ``"auto"`` the measured choice (``None`` while still measuring,
        ``"double_backward"`` after a fallback or where there is nothing to choose)."""
        out = {}
        for i in PLAYERS:
            if self.mixed_mode != "auto":
                out[i] = self.mixed_mode
            elif self._calibrated(i):
                out[i] = self._calibration.choice[i]
            else:
                out[i] = "double_backward"
        return out

    def _timed_direction(self, closure, i):
        """``_direction`` at a fresh evaluation; under calibration (``"auto"``) in the
        mode :class:`~optimizers.auto_mode.ModeCalibration` asks for, timed."""
        if not self._calibrated(i):
            ev = self.evaluation(closure, second_order=self._coupled(i), players=(i,))
            return ev, self._direction(ev, i)
        cal = self._calibration
        mode, timing = cal.mode(i), cal.timing(i)
        with Stopwatch(self.player_params(i)[0].device) as watch:
            ev = self.evaluation(closure, second_order=True, players=(i,), mixed_mode=(
                "auto" if mode == "reverse_over_forward" else mode))   # auto: may fall back
            direction = self._direction(ev, i)
        if not self._auto_fallback:
            cal.record(i, mode, watch.seconds if timing else None)
        return ev, direction

    def _player(self, closure, i, final=False):
        """Player i's Adam step on ``g_i + alpha_i M_i`` at the current parameters,
        committed; returns the loss and the replaced state dicts."""
        ps, t = self.player_params(i), self.game_step + 1
        ev, (g, m) = self._timed_direction(closure, i)
        ev.release()        # graphs freed; g and m are now this step's to overwrite
        sts = [self.state_of(p, _init) for p in ps]
        old = [dict(st) for st in sts]
        new = self._buffers(ps, sts)

        def core(grp, P, G, M, N):
            b1, b2 = grp["betas"]
            gt = G if m is None else axpy(G, grp["alpha"], M, donate=True)    # line 7 / 15
            adam_(P, gt, [n["exp_avg"] for n in N], [n["exp_avg_sq"] for n in N], t,
                  lr=grp["lr"], b1=b1, b2=b2, eps=grp["eps"])             # lines 8-12 / 16-20
            return []

        try:                                   # theta_t -> theta_{t+1} in place
            with torch.no_grad():
                self.map_groups(i, core, ps, g, [None] * len(ps) if m is None else m, new)
            self._commit(ps, ps, new, what=f"(player {i}) ", final=final,
                         current=[n["prev"] for n in new])       # theta_t: the undo copy
        except BaseException:         # non-finite, interrupted, ...: back to theta_t
            with torch.no_grad():
                torch._foreach_copy_(ps, [n["prev"] for n in new])
            raise
        return ev.losses_detached()[PLAYERS.index(i)], list(zip(ps, old))

    def _step(self, closure):
        # x at (x_t, y_t) with d_y = y_t - y_{t-1}; then y at (x_{t+1}, y_t), d_x = x_{t+1} - x_t
        loss_x, old_x = self._player(closure, "x")
        loss_y, old_y = self._player(closure, "y", final=True)
        self._spare.update(old_x + old_y)       # both committed: the replaced state is free
        return loss_x, loss_y

    def state_dict(self):
        """As :meth:`GameOptimizer.state_dict`, plus ``game["auto_mode"]``: the timings
        and choice of ``mixed_mode="auto"`` (:mod:`optimizers.auto_mode`)."""
        sd = super().state_dict()
        sd["game"]["auto_mode"] = self._calibration.state_dict()
        return sd

    def load_state_dict(self, state_dict) -> None:
        """As :meth:`GameOptimizer.load_state_dict`; the loaded tensors are copied (this
        optimizer later recycles its state tensors as buffers, which must not be the
        caller's, another optimizer's, or one another). A checkpoint without
        ``game["auto_mode"]`` (older versions) starts the calibration afresh."""
        calibration = ModeCalibration()
        game = state_dict.get("game") if isinstance(state_dict, dict) else None
        if isinstance(game, dict) and game.get("auto_mode") is not None:
            calibration.load_state_dict(game["auto_mode"])     # checked before any change
        super().load_state_dict(state_dict)
        self._calibration = calibration
        self._spare.clear()
        for st in self.state.values():
            for k, v in st.items():
                if isinstance(v, torch.Tensor):
                    st[k] = v.clone()
