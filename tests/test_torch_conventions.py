"""What a PyTorch user relies on (issue 17), for every game optimizer: learning-rate
schedulers (StepLR, CosineAnnealingLR, CosineAnnealingWarmRestarts) including the
checkpoint round trip, ``.grad`` after ``step``, per-player ``max_grad_norm`` clipping and
``zero_grad``. References are torch.optim itself (SGD/Adam, ``clip_grad_norm_``, the
schedulers on an SGD) and ``torch.autograd.grad`` at the evaluation point."""
from __future__ import annotations

import copy
import io

import pytest
import torch
from torch.optim import lr_scheduler as S

import optimizers as O
from test_optimizers_core import FACTORIES as CORE_FACTORIES

#: every optimizer of the contract tests, plus the second-order baselines
FACTORIES = {
    **CORE_FACTORIES,
    "LEADAdam-2alphas": lambda px, py, **k: O.LEADAdam(
        [{"params": px[:1], "alpha": 0.2}, {"params": px[1:]}], py, lr=0.01, alpha=0.3, **k),
    "LEADAdam-opponent": lambda px, py, **k: O.LEADAdam(px, py, lr=0.01, alpha=0.3,
                                                        mixed_source="opponent", **k),
    "LEADAdam-opponent-rof": lambda px, py, **k: O.LEADAdam(
        px, py, lr=0.01, alpha=0.3, mixed_source="opponent", mixed_mode="reverse_over_forward",
        **k),
    "LEAD-alt-opponent": lambda px, py, **k: O.LEAD(px, py, lr=0.05, beta=0.5, alpha=0.3,
                                                    alternating=True, mixed_source="opponent",
                                                    **k),
    "CO": lambda px, py, **k: O.CO(px, py, lr=0.05, gamma=0.1, **k),
    "SGA": lambda px, py, **k: O.SGA(px, py, lr=0.05, lam=0.5, **k),
    "CGD": lambda px, py, **k: O.CGD(px, py, lr=0.05, zero_sum=False, **k),
    "FR": lambda px, py, **k: O.FR(px, py, lr=0.05, damping=0.1, **k),
    "FR-lm": lambda px, py, **k: O.FR(px, py, lr=0.05, damping=0.1, adaptive_damping=True, **k),
    "ComplexMomentum": lambda px, py, **k: O.ComplexMomentum(px, py, lr=0.05,
                                                             beta=O.beta_polar(0.5, 0.3), **k),
}
NAMES = sorted(FACTORIES)
#: methods whose player y is evaluated after x has moved: (x_{k+1}, y_k)
ALTERNATING = {"GDA-alt", "MomentumGDA-neg-alt", "LEAD-alt", "LEADAdam", "LEADAdam-rof",
               "LEADAdam-2alphas", "LEADAdam-opponent", "LEADAdam-opponent-rof",
               "LEAD-alt-opponent"}
SCHEDULERS = {
    "StepLR": lambda o: S.StepLR(o, step_size=2, gamma=0.5),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=4, eta_min=1e-3),
    "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2),
}
SHAPES_X, SHAPES_Y = [(2, 3), (3,)], [(4,), (2, 1)]


def make_params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return ([torch.randn(s, generator=g, dtype=torch.float64).requires_grad_() for s in SHAPES_X],
            [torch.randn(s, generator=g, dtype=torch.float64).requires_grad_() for s in SHAPES_Y])


def vec(ps):
    return torch.cat([p.reshape(-1) for p in ps])


def losses(px, py):
    """A smooth general-sum game (non-quadratic, so every derivative order matters)."""
    x, y = vec(px), vec(py)
    lx = (x[:6] * torch.tanh(y).repeat(2)[:6]).sum() + 0.1 * (x ** 2).sum() \
        + torch.sin(x).sum() * y.mean()
    ly = -(x[:6] * torch.tanh(y).repeat(2)[:6]).sum() + 0.1 * (y ** 2).sum() \
        + 0.05 * (x.sum() * y.sum()) ** 2
    return lx, ly


def closure_for(px, py):
    return lambda: losses(px, py)


def values(ps):
    return [p.detach().clone() for p in ps]


# ------------------------------------------------------------------ schedulers
def _scheduled_lrs(sched_name, lrs, steps):
    """The lrs torch's scheduler gives torch.optim.SGD groups, one row per step."""
    ps = [torch.zeros(1, requires_grad=True) for _ in lrs]
    sgd = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)])
    sched = SCHEDULERS[sched_name](sgd)
    rows = []
    for _ in range(steps):
        rows.append([g["lr"] for g in sgd.param_groups])
        sgd.step()
        sched.step()
    return rows


@pytest.mark.parametrize("sched_name", sorted(SCHEDULERS))
@pytest.mark.parametrize("name", NAMES)
def test_scheduler_sets_the_lr_each_step_uses(name, sched_name):
    steps = 7
    px, py = make_params()
    opt = FACTORIES[name](px, py)
    opt.param_groups[-1]["lr"] *= 0.5                 # player y's own rate
    start = [g["lr"] for g in opt.param_groups]
    sched = SCHEDULERS[sched_name](opt)
    want = _scheduled_lrs(sched_name, start, steps)
    got = []
    for _ in range(steps):
        got.append([g["lr"] for g in opt.param_groups])
        opt.step(closure_for(px, py))
        sched.step()
    assert got == want
    if sched_name == "CosineAnnealingWarmRestarts":
        assert got[2] == start                        # the restart at T_0 = 2
    # the same run with the rates written by hand gives the same iterates, bitwise
    qx, qy = make_params()
    ref = FACTORIES[name](qx, qy)
    for row in want:
        for g, lr in zip(ref.param_groups, row):
            g["lr"] = lr
        ref.step(closure_for(qx, qy))
    assert all(torch.equal(a, b) for a, b in zip(values(px + py), values(qx + qy)))


def test_scheduled_gda_moves_by_the_scheduled_rate():
    px, py = make_params()
    opt = O.GDA(px, py, lr=0.1)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    for k in range(3):
        before = values(px)
        gx = torch.autograd.grad(losses(px, py)[0], px)
        opt.step(closure_for(px, py))
        sched.step()
        for p, b, g in zip(px, before, gx):
            torch.testing.assert_close(p.detach(), b - 0.1 * 0.5 ** k * g, rtol=0, atol=1e-15)


def _bytes(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return torch.load(io.BytesIO(buf.getvalue()), weights_only=True)


@pytest.mark.parametrize("sched_name", sorted(SCHEDULERS))
@pytest.mark.parametrize("name", NAMES)
def test_scheduler_checkpoint_round_trip_is_exact(name, sched_name):
    px, py = make_params()
    opt = FACTORIES[name](px, py)
    sched = SCHEDULERS[sched_name](opt)
    for _ in range(3):
        opt.step(closure_for(px, py))
        sched.step()
    saved = _bytes({"opt": opt.state_dict(), "sched": sched.state_dict(),
                    "params": values(px + py)})
    for _ in range(4):
        opt.step(closure_for(px, py))
        sched.step()

    qx, qy = make_params(seed=1)                      # other values: all comes from the file
    with torch.no_grad():
        for q, v in zip(qx + qy, saved["params"]):
            q.copy_(v)
    opt2 = FACTORIES[name](qx, qy)
    sched2 = SCHEDULERS[sched_name](opt2)
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    assert all("initial_lr" in g for g in opt2.param_groups)
    for _ in range(4):
        opt2.step(closure_for(qx, qy))
        sched2.step()
    assert all(torch.equal(a, b) for a, b in zip(values(px + py), values(qx + qy)))
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]


def test_scheduler_keys_are_kept_and_checked():
    px, py = make_params()
    opt = O.LEAD(px, py, lr=0.1, beta=0.5, alpha=0.2)
    S.StepLR(opt, step_size=1)
    sd = copy.deepcopy(opt.state_dict())
    fresh = O.LEAD(*make_params(), lr=0.1, beta=0.5, alpha=0.2)   # no scheduler attached
    fresh.load_state_dict(sd)
    assert [g["initial_lr"] for g in fresh.param_groups] == [0.1, 0.1]
    bad = copy.deepcopy(sd)
    bad["param_groups"][0]["initial_lr"] = float("nan")
    with pytest.raises(ValueError, match="initial_lr"):
        fresh.load_state_dict(bad)
    bad["param_groups"][0]["initial_lr"] = 0.1
    bad["param_groups"][0]["lr_typo"] = 0.1
    with pytest.raises(ValueError, match="unknown keys"):
        fresh.load_state_dict(bad)
    # resuming a scheduler (last_epoch given) needs initial_lr in the groups: accepted
    qx, qy = make_params()
    opt = O.GDA([{"params": qx, "initial_lr": 0.2}], [{"params": qy, "initial_lr": 0.2}],
                lr=0.1)
    sched = S.StepLR(opt, step_size=1, gamma=0.5, last_epoch=3)
    assert sched.base_lrs == [0.2, 0.2]


def test_one_cycle_drives_lead_adam_betas():
    px, py = make_params()
    opt = O.LEADAdam(px, py, lr=0.01, alpha=0.3)
    sched = S.OneCycleLR(opt, max_lr=0.05, total_steps=5)
    for _ in range(5):
        opt.step(closure_for(px, py))
        sched.step()
    opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert {"max_lr", "min_lr", "max_momentum", "base_momentum"} <= set(opt.param_groups[0])


# ------------------------------------------------------------------ .grad
def _true_grads(px, py, at_x, at_y):
    """``(grad_x L_x, grad_y L_y)`` at ``(at_x, at_y)``, by autograd on fresh copies."""
    cx = [v.clone().requires_grad_() for v in at_x]
    cy = [v.clone().requires_grad_() for v in at_y]
    lx, ly = losses(cx, cy)
    return torch.autograd.grad(lx, cx), torch.autograd.grad(ly, cy)


@pytest.mark.parametrize("name", NAMES)
def test_grad_holds_each_players_gradient_at_the_evaluation_point(name):
    px, py = make_params()
    opt = FACTORIES[name](px, py)
    la = 0.2 if name == "from_rule" else 0.0      # its rule evaluates at theta + 0.2 d
    prev_x, prev_y = values(px), values(py)
    for _ in range(3):
        x0, y0 = values(px), values(py)
        ex = [a + la * (a - b) for a, b in zip(x0, prev_x)]
        ey = [a + la * (a - b) for a, b in zip(y0, prev_y)]
        opt.step(closure_for(px, py))
        prev_x, prev_y = x0, y0
        gx, _ = _true_grads(px, py, ex, ey)
        _, gy = _true_grads(px, py, values(px) if name in ALTERNATING else ex, ey)
        for p, g in zip(px + py, list(gx) + list(gy)):
            torch.testing.assert_close(p.grad, g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_writing_grad_does_not_change_the_iterates(name):
    out = []
    for set_grad in (True, False):
        px, py = make_params()
        opt = FACTORIES[name](px, py, set_grad=set_grad)
        for _ in range(4):
            opt.step(closure_for(px, py))
        assert all((p.grad is None) != set_grad for p in px + py)
        out.append(values(px + py))
    assert all(torch.equal(a, b) for a, b in zip(*out))


def test_grad_of_lead_adam_one_pass_on_a_large_game():
    """``mixed_mode="auto"`` takes the one-pass direction from 100k parameters on: its
    .grad is still the plain gradient, and the iterates are those without .grad."""
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))

    def closure():
        s = D(torch.tanh(G(z))).mean()
        return s, -s + 0.01 * sum((p ** 2).sum() for p in D.parameters())
    out = []
    for set_grad in (True, False):
        torch.manual_seed(1)
        G, D = torch.nn.Linear(8, 400), torch.nn.Linear(400, 300)
        opt = O.LEADAdam(G.parameters(), D.parameters(), lr=1e-3, alpha=0.5,
                         set_grad=set_grad)
        x0, y0 = values(G.parameters()), values(D.parameters())
        opt.step(closure)
        assert opt._auto_fallback is None          # the one-pass direction was taken
        if set_grad:                               # x's point: (x_0, y_0)
            cx = [v.clone().requires_grad_() for v in x0]
            call = torch.func.functional_call
            h = torch.tanh(call(G, dict(zip(("weight", "bias"), cx)), (z,)))
            s = call(D, dict(zip(("weight", "bias"), y0)), (h,)).mean()
            want = torch.autograd.grad(s, cx)
            for p, g in zip(G.parameters(), want):
                torch.testing.assert_close(p.grad, g)
        out.append(values(list(G.parameters()) + list(D.parameters())))
    assert all(torch.equal(a, b) for a, b in zip(*out))


# ------------------------------------------------------------------ zero_grad
def test_zero_grad_as_torch_optim():
    px, py = make_params()
    opt = O.LEAD(px, py, lr=0.05, beta=0.5, alpha=0.3)
    opt.step(closure_for(px, py))
    assert all(p.grad is not None for p in px + py)
    opt.zero_grad()
    assert all(p.grad is None for p in px + py)
    opt.step(closure_for(px, py))
    opt.zero_grad(set_to_none=False)
    kept = [p.grad for p in px + py]
    assert all(torch.count_nonzero(g) == 0 for g in kept)
    x0, y0 = values(px), values(py)
    opt.step(closure_for(px, py))
    gx, gy = _true_grads(px, py, x0, y0)
    for p, t, g in zip(px + py, kept, list(gx) + list(gy)):
        assert p.grad is t                         # written in place, not reallocated
        torch.testing.assert_close(p.grad, g, rtol=1e-12, atol=1e-14)   # not accumulated


# ------------------------------------------------------------------ clipping
@pytest.mark.parametrize("name", NAMES)
def test_a_norm_bound_never_reached_changes_nothing(name):
    out = []
    for clip in (None, 1e12):
        px, py = make_params()
        opt = FACTORIES[name](px, py, max_grad_norm=clip)
        for _ in range(4):
            opt.step(closure_for(px, py))
        out.append(values(px + py))
    assert all(torch.equal(a, b) for a, b in zip(*out))


@pytest.mark.parametrize("name", NAMES)
def test_clipping_changes_the_step_and_leaves_grad_unclipped(name):
    px, py = make_params()
    opt = FACTORIES[name](px, py, max_grad_norm=(1e-3, None))
    qx, qy = make_params()
    ref = FACTORIES[name](qx, qy)
    opt.step(closure_for(px, py))
    ref.step(closure_for(qx, qy))
    assert not all(torch.equal(a, b) for a, b in zip(values(px), values(qx)))
    same_point = px if name in ALTERNATING else px + py   # (y's point moved with x)
    for p, q in zip(same_point, qx + qy):       # .grad: the raw gradient either way
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-12, atol=1e-14)


def _clipped(grads, c):
    """``grads`` after ``torch.nn.utils.clip_grad_norm_(..., c)`` (on copies)."""
    ts = [torch.zeros_like(g).requires_grad_() for g in grads]
    for t, g in zip(ts, grads):
        t.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(ts, c)
    return [t.grad for t in ts]


@pytest.mark.parametrize("clip", [0.05, (0.05, 0.2), (None, 0.1)])
def test_clipped_gda_is_sgd_after_clip_grad_norm(clip):
    cx, cy = clip if isinstance(clip, tuple) else (clip, clip)
    px, py = make_params()
    opt = O.GDA(px, py, lr=0.1, max_grad_norm=clip)
    qx, qy = make_params()
    sgd = torch.optim.SGD(qx + qy, lr=0.1)
    for _ in range(5):
        opt.step(closure_for(px, py))
        lx, ly = losses(qx, qy)
        gx, gy = torch.autograd.grad(lx, qx), torch.autograd.grad(ly, qy)
        for q, g in zip(qx, gx if cx is None else _clipped(gx, cx)):
            q.grad = g
        for q, g in zip(qy, gy if cy is None else _clipped(gy, cy)):
            q.grad = g
        sgd.step()
        for a, b in zip(values(px + py), values(qx + qy)):
            torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)


def test_clipped_extragradient_clips_both_gradients():
    px, py = make_params()
    opt = O.ExtraGradient(px, py, lr=0.1, lr_extrapolation=0.05, max_grad_norm=0.05)
    x, y = values(px), values(py)
    for _ in range(3):
        opt.step(closure_for(px, py))
        gx, gy = _true_grads(px, py, x, y)
        hx = [a - 0.05 * g for a, g in zip(x, _clipped(gx, 0.05))]
        hy = [a - 0.05 * g for a, g in zip(y, _clipped(gy, 0.05))]
        gx, gy = _true_grads(px, py, hx, hy)
        x = [a - 0.1 * g for a, g in zip(x, _clipped(gx, 0.05))]
        y = [a - 0.1 * g for a, g in zip(y, _clipped(gy, 0.05))]
        for a, b in zip(values(px + py), x + y):
            torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("mode", ["double_backward", "reverse_over_forward"])
def test_clipped_lead_adam_is_alternating_adam_on_the_clipped_direction(mode):
    """LEAD-Adam with max_grad_norm: Adam on ``clip(g) + alpha M`` (lines 7 / 15), with
    the mixed term by autograd and Adam by torch.optim.Adam."""
    alpha, c = 0.3, 0.05
    px, py = make_params()
    opt = O.LEADAdam(px, py, lr=0.01, alpha=alpha, max_grad_norm=c, mixed_mode=mode)
    qx, qy = make_params()
    adams = {p: torch.optim.Adam(q, lr=0.01, betas=(0.9, 0.999), eps=1e-8)
             for p, q in (("x", qx), ("y", qy))}
    prev = {"x": values(qx), "y": values(qy)}
    for _ in range(4):
        opt.step(closure_for(px, py))
        for i, j, own, other in (("x", "y", qx, qy), ("y", "x", qy, qx)):
            d = [a - b for a, b in zip(values(other), prev[j])]
            loss = losses(qx, qy)[0 if i == "x" else 1]
            g = torch.autograd.grad(loss, own + other, create_graph=True)
            gi, gj = g[:len(own)], g[len(own):]
            m = torch.autograd.grad(sum((u * v).sum() for u, v in zip(gj, d)), own,
                                    allow_unused=True)
            m = [torch.zeros_like(p) if t is None else t for p, t in zip(own, m)]
            prev[i] = values(own)
            for p, a, b in zip(own, _clipped([t.detach() for t in gi], c), m):
                p.grad = a + alpha * b
            adams[i].step()
        for a, b in zip(values(px + py), values(qx + qy)):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_bad_max_grad_norm_and_set_grad():
    px, py = make_params()
    for bad in (0.0, -1.0, float("nan"), "1", (1.0, 2.0, 3.0)):
        with pytest.raises(ValueError, match="max_grad_norm"):
            O.GDA(px, py, lr=0.1, max_grad_norm=bad)
    with pytest.raises(TypeError, match="set_grad"):
        O.GDA(px, py, lr=0.1, set_grad=1)


def test_a_foreign_class_name_is_refused_on_one_line():
    """(Found by tests/test_fuzz_loading.py on a run with torch 2.9.1.)"""
    px, py = make_params()
    opt = O.ExtraAdam(px, py, lr=0.01)
    opt.step(closure_for(px, py))
    sd = copy.deepcopy(opt.state_dict())
    sd["game"]["class"] = "\n"
    with pytest.raises(ValueError, match=r"saved by '\\n', not ExtraAdam") as err:
        opt.load_state_dict(sd)
    assert "\n" not in str(err.value)
