"""The mixed-term modes leave no trace beyond their arithmetic (issue 18, item 9).

* ``mixed_mode="auto"``: a refused dual attempt has not updated BatchNorm statistics or
  drawn random numbers (it is undone before double backward runs), and the decision to
  fall back is part of the checkpoint, so a resumed run equals an uninterrupted one.
* ``mixed_mode="forward"`` re-runs the closure per block product; every re-run sees the
  same random numbers (dropout masks, data drawn in the closure) as the first, so the
  iterates are double backward's up to rounding; an ``F.mse_loss`` closure works.
* Kill-and-resume of LEAD-Adam under ``auto``: with BatchNorm (fallback), after the
  calibration (reverse over forward in use), and in the middle of the calibration.
"""
from __future__ import annotations

import copy
import io
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import optimizers as O

DT = torch.float64


def _bn_gan(seed=0, norm=True):
    """G and D with BatchNorm (``norm``); fresh z and real data drawn inside the closure
    at every call (a training loop's closure)."""
    torch.manual_seed(seed)
    bn = (lambda: [nn.BatchNorm1d(8)]) if norm else (lambda: [])
    G = nn.Sequential(nn.Linear(3, 8), *bn(), nn.ReLU(), nn.Linear(8, 2)).to(DT)
    D = nn.Sequential(nn.Linear(2, 8), *bn(), nn.LeakyReLU(0.2), nn.Linear(8, 1)).to(DT)

    def closure(player):
        z, real = torch.randn(16, 3, dtype=DT), torch.randn(16, 2, dtype=DT) + 1.0
        if player == "x":
            return F.softplus(-D(G(z))).mean()
        return F.softplus(-D(real)).mean() + F.softplus(D(G(z))).mean()
    return G, D, closure


def _snapshot(*modules):
    return [t.detach().clone() for m in modules for t in list(m.parameters()) + list(m.buffers())]


def _equal(a, b):
    return len(a) == len(b) and all(torch.equal(u, v) for u, v in zip(a, b))


def _run(mode, steps, seed=0):
    G, D, closure = _bn_gan(seed)
    opt = O.LEADAdam(list(G.parameters()), list(D.parameters()), lr=1e-2, alpha=0.3,
                     mixed_mode=mode)
    torch.manual_seed(100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(steps):
            opt.step(closure)
    return _snapshot(G, D), opt


def test_refused_auto_attempt_leaves_batch_norm_statistics_alone():
    """Player x's dual attempt runs G (BatchNorm: running_mean, running_var,
    num_batches_tracked) before D's BatchNorm refuses it; the fallback must not count
    that batch twice: auto equals double backward bit for bit, buffers included."""
    auto, opt = _run("auto", 3)
    assert opt._auto_fallback == "torch.nn.functional.batch_norm"
    dbl, _ = _run("double_backward", 3)
    assert _equal(auto, dbl)


def test_auto_fallback_is_checkpointed_and_resume_equals_an_uninterrupted_run():
    G, D, closure = _bn_gan()
    make = lambda: O.LEADAdam(list(G.parameters()), list(D.parameters()), lr=1e-2,  # noqa
                              alpha=0.3)
    opt = make()
    torch.manual_seed(100)
    with pytest.warns(RuntimeWarning, match="batch_norm"):
        for _ in range(2):
            opt.step(closure)
    saved = _checkpoint(opt, G, D)
    assert saved["opt"]["game"]["auto_fallback"] == "torch.nn.functional.batch_norm"
    for _ in range(3):
        opt.step(closure)
    straight = _snapshot(G, D)

    _restore(saved, G, D)
    resumed = make()
    resumed.load_state_dict(saved["opt"])
    assert resumed._auto_fallback == "torch.nn.functional.batch_norm"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)       # no second dual attempt
        for _ in range(3):
            resumed.step(closure)
    assert _equal(_snapshot(G, D), straight)


def _checkpoint(opt, G, D):
    """What a training loop writes to disk (through torch.save, as a file would)."""
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "G": G.state_dict(), "D": D.state_dict(),
                "rng": torch.get_rng_state()}, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def _restore(saved, G, D):
    G.load_state_dict(saved["G"])
    D.load_state_dict(saved["D"])
    torch.set_rng_state(saved["rng"])


@pytest.mark.parametrize("norm, kill_at, fake_clock", [
    (True, 4, False),      # BatchNorm (G and D): auto falls back at step 1
    (False, 13, True),     # after the calibration (11 steps): its choice is in use
    (False, 3, True)])     # in the middle of the calibration
# (fake clock: reverse over forward measured faster in both runs; a real clock picks
# double backward on this tiny model, and either way the choice is saved)
def test_lead_adam_auto_kill_and_resume_is_exact(monkeypatch, norm, kill_at, fake_clock):
    """Kill-and-resume (state dicts through torch.save, a fresh optimizer) of LEAD-Adam
    under auto, with fresh data per closure call: the resumed run equals the
    uninterrupted one bit for bit, BatchNorm buffers included. (With BatchNorm on a path
    that becomes dual, in G or D, auto always falls back: reverse over forward refuses
    batch_norm, docs/OPTIMIZERS.md.)"""
    if fake_clock:       # reverse over forward "twice as fast": the same choice in both runs
        from optimizers.auto_mode import ModeCalibration
        record = ModeCalibration.record
        monkeypatch.setattr(ModeCalibration, "record", lambda self, p, mode, sec: record(
            self, p, mode, None if sec is None else (1.0 if mode == "reverse_over_forward"
                                                     else 2.0)))
    G, D, closure = _bn_gan(norm=norm)
    make = lambda: O.LEADAdam(list(G.parameters()), list(D.parameters()), lr=1e-2,  # noqa
                              alpha=0.3, betas=(0.5, 0.99))
    opt = make()
    torch.manual_seed(100)
    total = max(kill_at + 5, 13)       # (the calibration ends after 11 steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k in range(total):
            if k == kill_at:
                saved = _checkpoint(opt, G, D)
            opt.step(closure)
    straight, choice = _snapshot(G, D), opt._calibration.choice
    _restore(saved, G, D)
    resumed = make()
    resumed.load_state_dict(saved["opt"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(total - kill_at):
            resumed.step(closure)
    assert _equal(_snapshot(G, D), straight)
    assert resumed._calibration.choice == choice
    if not norm:
        assert resumed._auto_fallback is None and "reverse_over_forward" in choice.values()


# ---------------------------------------------------------------- forward mode
def _dropout_game(seed=0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).to(DT)
    D = nn.Sequential(nn.Linear(2, 16), nn.Dropout(0.5), nn.Tanh(), nn.Linear(16, 1)).to(DT)
    z, real = torch.randn(32, 3, dtype=DT), torch.randn(32, 2, dtype=DT)

    def pair():
        f = F.softplus(-D(real)).mean() + F.softplus(D(G(z))).mean()
        return -f, f
    return G, D, pair


FORWARD_CASES = {
    "LEAD": lambda px, py, mode: O.LEAD(px, py, lr=1e-2, beta=0.5, alpha=0.3, mixed_mode=mode),
    "CGD": lambda px, py, mode: O.CGD(px, py, lr=1e-2, mixed_mode=mode),
}


@pytest.mark.parametrize("name", sorted(FORWARD_CASES))
def test_forward_mode_draws_the_same_dropout_masks_as_double_backward(name):
    """A pair closure with dropout: double backward runs it once per step; forward mode
    re-runs it per block product, each re-run from the same random number state."""
    runs = {}
    for mode in ("forward", "double_backward"):
        G, D, closure = _dropout_game()
        opt = FORWARD_CASES[name](list(G.parameters()), list(D.parameters()), mode)
        torch.manual_seed(3)
        for _ in range(5):
            opt.step(closure)
        runs[mode] = _snapshot(G, D) + [torch.rand(3)]     # RNG advanced alike
    for a, b in zip(runs["forward"], runs["double_backward"]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["LEAD", "LEADAdam", "CGD"])
def test_forward_mode_takes_an_mse_loss_closure(name):
    """torch 2.13's reverse pass through F.mse_loss's forward-AD formula raises
    "ZeroTensors are immutable"; forward mode computes mse_loss by its formula."""
    makers = dict(FORWARD_CASES, LEADAdam=lambda px, py, mode: O.LEADAdam(
        px, py, lr=1e-2, alpha=0.3, mixed_mode=mode))
    runs = {}
    for mode in ("forward", "double_backward"):
        torch.manual_seed(0)
        G, D = nn.Linear(3, 3).to(DT), nn.Linear(3, 1).to(DT)
        x, y = torch.randn(8, 3, dtype=DT), torch.randn(8, 1, dtype=DT)

        def closure():
            loss = F.mse_loss(D(torch.tanh(G(x))), y)
            return loss, -loss
        opt = makers[name](list(G.parameters()), list(D.parameters()), mode)
        for _ in range(3):
            opt.step(closure)
        runs[mode] = _snapshot(G, D)
    for a, b in zip(runs["forward"], runs["double_backward"]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_forward_mode_mse_loss_reductions_match_torch():
    from optimizers._dual import _mse_loss
    a, b = torch.randn(4, 3, dtype=DT), torch.randn(4, 3, dtype=DT)
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(_mse_loss(a, b, reduction=reduction),
                                   F.mse_loss(a, b, reduction=reduction), rtol=0, atol=1e-15)
    assert _mse_loss(a, b, reduce=False) is NotImplemented
