"""Contract tests (issue 6) for every optimizer of optimizers/ built on GameOptimizer:
closure forms, exact resume, dtypes, odd shapes, nn.Module params, devices, validation,
non-finite detection and rollback."""
from __future__ import annotations

import copy
import io
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch
import torch.nn as nn

import optimizers as O
from optimizers.autodiff import MIXED_MODES, OTHER
from optimizers.autodiff import Evaluation, GameClosure
from integrators.rule import UpdateRule

FACTORIES = {
    "GDA": lambda px, py, **k: O.GDA(px, py, lr=0.05, **k),
    "GDA-alt": lambda px, py, **k: O.GDA(px, py, lr=0.05, alternating=True, **k),
    "MomentumGDA": lambda px, py, **k: O.MomentumGDA(px, py, lr=0.05, beta=0.5, **k),
    "MomentumGDA-neg-alt": lambda px, py, **k: O.MomentumGDA(px, py, lr=0.05, beta=-0.5,
                                                             alternating=True, **k),
    "LEAD": lambda px, py, **k: O.LEAD(px, py, lr=0.05, beta=0.5, alpha=0.3, **k),
    "LEAD-alt": lambda px, py, **k: O.LEAD(px, py, lr=0.05, beta=0.5, alpha=0.3,
                                           alternating=True, **k),
    "LEAD-forward": lambda px, py, **k: O.LEAD(px, py, lr=0.05, beta=0.5, alpha=0.3,
                                               mixed_mode="forward", **k),
    "LEAD-rof": lambda px, py, **k: O.LEAD(px, py, lr=0.05, beta=0.5, alpha=0.3,
                                           mixed_mode="reverse_over_forward", **k),
    "LEADAdam": lambda px, py, **k: O.LEADAdam(px, py, lr=0.01, alpha=0.3, **k),
    "LEADAdam-rof": lambda px, py, **k: O.LEADAdam(px, py, lr=0.01, alpha=0.3,
                                                   mixed_mode="reverse_over_forward", **k),
    "from_rule": lambda px, py, **k: O.from_rule(
        UpdateRule(beta=0.5, eta=0.05, alpha=0.3, lookahead=0.2), px, py, **k),
    "EG": lambda px, py, **k: O.ExtraGradient(px, py, lr=0.05, **k),
    "ExtraAdam": lambda px, py, **k: O.ExtraAdam(px, py, lr=0.01, **k),
    "OGDA": lambda px, py, **k: O.OGDA(px, py, lr=0.05, **k),
    "OptimisticAdam": lambda px, py, **k: O.OptimisticAdam(px, py, lr=0.01, **k),
}
NAMES = sorted(FACTORIES)
SHAPES_X, SHAPES_Y = [(2, 3), (), (1, 1, 2)], [(4,), (2, 1)]


def make_params(dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    mk = lambda s: torch.randn(s, generator=g, dtype=dtype).to(device).requires_grad_()  # noqa
    return [mk(s) for s in SHAPES_X], [mk(s) for s in SHAPES_Y]


def game(px, py):
    """A smooth, non-quadratic general-sum game on odd-shaped tensors."""
    def vec(ps):
        return torch.cat([p.reshape(-1) for p in ps])

    def lx():
        x, y = vec(px), vec(py)
        return (x[:6] * torch.tanh(y).repeat(2)[:6]).sum() + 0.1 * (x ** 2).sum() \
            + torch.sin(x).sum() * y.mean()

    def ly():
        x, y = vec(px), vec(py)
        return -(x[:6] * torch.tanh(y).repeat(2)[:6]).sum() + 0.1 * (y ** 2).sum() \
            + 0.05 * (x.sum() * y.sum()) ** 2

    return (lambda: (lx(), ly())), (lambda player: lx() if player == "x" else ly())


def run(name, steps, per_player=False, dtype=torch.float64, device="cpu", **kw):
    px, py = make_params(dtype, device)
    opt = FACTORIES[name](px, py, **kw)
    pair, single = game(px, py)
    for _ in range(steps):
        opt.step(single if per_player else pair)
    return px + py, opt


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", NAMES)
def test_closure_forms_give_identical_iterates(name, dtype):
    a, _ = run(name, 6, per_player=False, dtype=dtype)
    b, _ = run(name, 6, per_player=True, dtype=dtype)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert all(u.dtype == dtype and u.shape == v.shape for u, v in zip(a, b))
    assert all(torch.isfinite(u).all() for u in a)


@pytest.mark.parametrize("name", NAMES)
def test_resume_is_exact(name):
    k = 5
    full, _ = run(name, 2 * k)
    px, py = make_params()
    opt = FACTORIES[name](px, py)
    pair, _ = game(px, py)
    for _ in range(k):
        opt.step(pair)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "p": [p.detach().clone() for p in px + py]}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=False)
    qx, qy = make_params(seed=7)                       # fresh tensors, different values
    with torch.no_grad():
        for q, v in zip(qx + qy, ck["p"]):
            q.copy_(v)
    opt2 = FACTORIES[name](qx, qy)
    opt2.load_state_dict(ck["opt"])
    assert opt2.game_step == k
    pair2, _ = game(qx, qy)
    for _ in range(k):
        opt2.step(pair2)
    assert all(torch.equal(u, v) for u, v in zip(full, qx + qy))


@pytest.mark.parametrize("name", NAMES)
def test_state_is_lazy_and_keyed_by_param(name):
    px, py = make_params()
    opt = FACTORIES[name](px, py)
    assert len(opt.state) == 0
    pair, _ = game(px, py)
    opt.step(pair)
    assert set(opt.state.keys()) <= set(px + py)


@pytest.mark.parametrize("name", NAMES)
def test_nn_module_parameters(name):
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    z, real = torch.randn(16, 3), torch.randn(16, 2)
    before = [p.detach().clone() for p in list(G.parameters()) + list(D.parameters())]
    opt = FACTORIES[name](G.parameters(), D.parameters())

    sp = nn.functional.softplus

    def closure(player):                    # non-saturating GAN losses (general-sum)
        if player == "x":
            return sp(-D(G(z))).mean()
        return sp(D(G(z))).mean() + sp(-D(real)).mean()
    for _ in range(3):
        opt.step(closure)
    after = list(G.parameters()) + list(D.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after))


def test_forward_and_double_backward_agree_on_modules():
    """Both forward-mode evaluations through the parameter-substituting mode == double
    backward."""
    res = {}
    for mode in MIXED_MODES:
        torch.manual_seed(1)
        G = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
        D = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
        z, real = torch.randn(16, 3), torch.randn(16, 2)
        opt = O.LEAD(G.parameters(), D.parameters(), lr=0.05, beta=0.5, alpha=0.5,
                     mixed_mode=mode)
        for _ in range(5):
            opt.step(lambda: (-D(G(z)).mean(), D(G(z)).mean() - D(real).mean()))
        res[mode] = torch.cat([p.reshape(-1) for p in list(G.parameters()) +
                               list(D.parameters())])
    for mode in MIXED_MODES:
        assert torch.allclose(res[mode], res["double_backward"], rtol=0, atol=1e-12), mode


def test_hvp_is_the_hessian_block_in_every_mode():
    """ev.hvp(s, i, j, v) == (d^2 L_s / d theta_i d theta_j) v from the full Hessian."""
    x = torch.randn(3, requires_grad=True)
    y = torch.randn(2, requires_grad=True)
    L = lambda a, b: (torch.sin(a).sum() * b.prod() + (a ** 3).sum() * b.sum())  # noqa
    H = torch.autograd.functional.hessian(lambda w: L(w[:3], w[3:]),
                                          torch.cat([x, y]).detach())
    v = {"x": [torch.randn(3)], "y": [torch.randn(2)]}
    sl = {"x": slice(0, 3), "y": slice(3, 5)}
    for mode in MIXED_MODES:
        for i in "xy":
            for j in "xy":
                ev = Evaluation(GameClosure(lambda: (L(x, y), -L(x, y))), {"x": [x], "y": [y]},
                                mixed_mode=mode, second_order=True)
                got = ev.hvp("x", i, j, v[j])[0]
                assert torch.allclose(got, H[sl[i], sl[j]] @ v[j][0], atol=1e-12)


@pytest.mark.parametrize("name", ["LEAD-alt", "LEADAdam", "GDA-alt"])
def test_alternating_methods_ask_only_for_needed_losses(name):
    px, py = make_params()
    opt = FACTORIES[name](px, py)
    _, single = game(px, py)
    asked = []
    opt.step(lambda player: asked.append(player) or single(player))
    assert asked == ["x", "y"]


def test_step_returns_losses_used():
    px, py = make_params()
    opt = O.GDA(px, py, lr=0.1)
    pair, _ = game(px, py)
    lx, ly = pair()
    out = opt.step(pair)
    assert torch.equal(out[0], lx.detach()) and torch.equal(out[1], ly.detach())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(name):
    a, _ = run(name, 4)
    b, _ = run(name, 4, device="cuda")
    assert all(torch.allclose(u, v.cpu(), atol=1e-10) for u, v in zip(a, b))


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("ctor, match", [
    (lambda px, py: O.LEAD(px, py, lr=0.0, beta=0.5, alpha=0.1), "lr"),
    (lambda px, py: O.LEAD(px, py, lr=-1.0, beta=0.5, alpha=0.1), "lr"),
    (lambda px, py: O.LEAD(px, py, lr=(0.1, -0.1), beta=0.5, alpha=0.1), r"lr \(player y\)"),
    (lambda px, py: O.LEAD(px, py, lr=0.1, beta=1.0, alpha=0.1), "beta"),
    (lambda px, py: O.MomentumGDA(px, py, lr=0.1, beta=-1.0), "beta"),
    (lambda px, py: O.LEAD(px, py, lr=0.1, beta=0.5, alpha=math.nan), "alpha"),
    (lambda px, py: O.LEADAdam(px, py, lr=0.1, alpha=0.1, eps=0.0), "eps"),
    (lambda px, py: O.ExtraAdam(px, py, lr=0.1, eps=-1e-8), "eps"),
    (lambda px, py: O.OptimisticAdam(px, py, lr=0.1, betas=(0.9, 1.0)), r"betas\[1\]"),
    (lambda px, py: O.LEADAdam(px, py, lr=0.1, alpha=0.1, betas=((0.9, 0.99), (1.5, 0.9))),
     r"betas \(player y\)\[0\]"),
    (lambda px, py: O.GDA(px, py, lr=(0.1, 0.2, 0.3)), "lr"),
    (lambda px, py: O.LEAD(px, py, 0.1, 0.5, 0.1, mixed_mode="fast"), "mixed_mode"),
    (lambda px, py: O.LEAD(px, py, 0.1, 0.5, 0.1, mixed_source="both"), "mixed_source"),
    (lambda px, py: O.GDA(px, py, lr=0.1, nonfinite="ignore"), "nonfinite"),
    (lambda px, py: O.GDA(px, px, lr=0.1), "shared by both players"),
    (lambda px, py: O.GDA(px + py[:1], py, lr=0.1), "shared by both players"),
    (lambda px, py: O.GDA([], py, lr=0.1), "params_x is empty"),
    (lambda px, py: O.GDA([{"params": px, "lr": 0.0}], py, lr=0.1), "lr"),
    (lambda px, py: O.GDA([{"params": px, "momentum": 0.9}], py, lr=0.1), "momentum"),
])
def test_bad_hyperparameters_raise_value_error(ctor, match):
    px, py = make_params()
    with pytest.raises(ValueError, match=match):
        ctor(px, py)


def test_bad_params_raise_type_error():
    px, py = make_params()
    with pytest.raises(TypeError, match="set"):
        O.GDA(set(px), py, lr=0.1)
    with pytest.raises(TypeError, match="single tensor"):
        O.GDA(px[0], py, lr=0.1)
    with pytest.raises(TypeError, match="floating point"):
        O.GDA([torch.zeros(2, dtype=torch.long)], py, lr=0.1)
    with pytest.raises(TypeError, match="alternating"):
        O.GDA(px, py, lr=0.1, alternating="yes")


@pytest.mark.parametrize("closure, err, match", [
    (lambda: 1.0, TypeError, r"\(loss_x, loss_y\)"),
    (lambda: (torch.ones(2), torch.ones(())), ValueError, "loss_x must be a real scalar"),
    (lambda: (torch.ones(()), "a"), TypeError, "loss_y is str"),
    (lambda: (torch.ones(()), torch.ones(()), torch.ones(())), TypeError, "length 3"),
    (lambda a, b: (a, b), TypeError, "takes no argument or one"),
    ("not callable", TypeError, "closure"),
])
def test_bad_closures(closure, err, match):
    px, py = make_params()
    opt = O.LEAD(px, py, lr=0.1, beta=0.5, alpha=0.1)
    with pytest.raises(err, match=match):
        opt.step(closure)


def test_load_state_dict_checks():
    px, py = make_params()
    pair, _ = game(px, py)
    a = O.LEAD(px, py, 0.1, 0.5, 0.1)
    a.step(pair)
    with pytest.raises(ValueError, match="alternating"):
        O.LEAD(px, py, 0.1, 0.5, 0.1, alternating=True).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="saved by LEAD"):
        O.MomentumGDA(px, py, 0.1, 0.5).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="players"):
        O.LEAD(py, px, 0.1, 0.5, 0.1).load_state_dict(
            {**a.state_dict(), "param_groups": a.state_dict()["param_groups"][::-1]})


# ------------------------------------------------------------------ non-finite
def _explosive(px, py, which="both"):
    """Finite losses whose gradients overflow a float64 step with lr = 1e10."""
    def lx():
        s = sum(p.sum() for p in px)
        return 1e300 * s if which in ("both", "x") else (s * sum(p.sum() for p in py))

    def ly():
        s = sum(p.sum() for p in py)
        return 1e300 * s if which in ("both", "y") else (s * sum(p.sum() for p in px))
    return lambda: (lx(), ly())


@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_iterates_raise_with_step_number(name):
    px, py = make_params()
    opt = FACTORIES[name](px, py)
    pair, _ = game(px, py)
    opt.step(pair)
    opt.step(pair)
    before = [p.detach().clone() for p in px + py]
    state_before = copy.deepcopy(opt.state_dict())
    for g in opt.param_groups:
        g["lr"] = 1e10
    with pytest.raises(O.NonFiniteError, match="step 3") as info:
        opt.step(_explosive(px, py))
    assert info.value.step == 3 and opt.game_step == 2
    assert all(torch.equal(a, b) for a, b in zip(before, px + py))
    sd = opt.state_dict()["state"]
    for k, st in state_before["state"].items():
        assert all(torch.equal(v, sd[k][n]) for n, v in st.items())


@pytest.mark.parametrize("name", ["LEAD-alt", "LEADAdam", "GDA-alt"])
def test_alternating_rollback_restores_first_player(name):
    """x's update is finite and committed; y's explodes: x is restored too."""
    px, py = make_params()
    opt = FACTORIES[name](px, py)
    before = [p.detach().clone() for p in px + py]
    for g in opt.param_groups:
        if g["player"] == "y":
            g["lr"] = 1e10
    with pytest.raises(O.NonFiniteError, match=r"step 1"):
        opt.step(_explosive(px, py, which="y"))
    assert all(torch.equal(a, b) for a, b in zip(before, px + py))
    assert opt.game_step == 0


def test_nonfinite_flag_mode_skips_and_records():
    px, py = make_params()
    opt = O.LEAD(px, py, lr=0.1, beta=0.5, alpha=0.1, nonfinite="flag")
    pair, _ = game(px, py)
    opt.step(pair)
    before = [p.detach().clone() for p in px + py]
    with pytest.warns(RuntimeWarning, match="step 2"):
        assert opt.step(lambda: (torch.tensor(math.inf), torch.tensor(0.0))) is None
    assert opt.nonfinite_steps == [2] and opt.game_step == 1
    assert all(torch.equal(a, b) for a, b in zip(before, px + py))
    opt.step(pair)
    assert opt.game_step == 2
    assert O.LEAD(px, py, 0.1, 0.5, 0.1).load_state_dict(opt.state_dict()) is None


def test_nonfinite_loss_raises():
    px, py = make_params()
    opt = O.GDA(px, py, lr=0.1)
    with pytest.raises(O.NonFiniteError, match="non-finite loss_y .* step 1"):
        opt.step(lambda: (torch.tensor(1.0), torch.tensor(math.nan)))


# ------------------------------------------------------------ the finiteness check
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_FLOAT_DTYPES), st.integers(0, 40),
                          st.floats(-3.0, 1.0), st.sampled_from([None, math.nan, math.inf,
                                                                 -math.inf]),
                          st.integers(0, 10 ** 6)), min_size=1, max_size=5))
def test_all_finite_is_exact(specs):
    """all_finite (one fused norm reduction) agrees with the elementwise check, also when
    finite entries near the dtype's maximum overflow the norm."""
    from optimizers.functional import all_finite
    ts = []
    for dtype, n, scale, bad, seed in specs:
        g = torch.Generator().manual_seed(seed)
        t = torch.rand(n, generator=g, dtype=torch.float64) * torch.finfo(dtype).max ** (
            (scale + 3.0) / 4.0)          # magnitudes from ~max^0.0 up to max itself
        t = t.to(dtype)
        if bad is not None and n:
            t[seed % n] = bad
        ts.append(t)
    ts.append(torch.arange(3))            # integer tensors are always finite
    assert all_finite(ts) == all(bool(torch.isfinite(t).all()) for t in ts)


def test_large_finite_iterates_are_not_rejected():
    """Entries 1e38 overflow a float32 norm (8e38) but are finite: the step commits;
    one NaN among them is still caught."""
    from optimizers.functional import all_finite
    big = torch.full((64,), 1e38, dtype=torch.float32)
    assert bool(torch.isinf(torch._foreach_norm([big])[0])) and all_finite([big])
    big[17] = math.nan
    assert not all_finite([big])
    px = [torch.full((64,), 1e38, dtype=torch.float32, requires_grad=True)]
    py = [torch.ones(3, dtype=torch.float32, requires_grad=True)]
    opt = O.GDA(px, py, lr=1e-3)
    opt.step(lambda: (px[0][0] * 1e-38, py[0].sum()))   # iterates stay ~1e38: finite
    assert opt.game_step == 1 and bool(torch.isfinite(px[0]).all())


# ------------------------------------------------------------ LEAD-Adam, alpha = 0 skip
def _mlp_gan(seed=0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    z, real = torch.randn(16, 3), torch.randn(16, 2)

    def closure(player):
        if player == "x":
            return nn.functional.softplus(-D(G(z))).mean()
        return nn.functional.softplus(-D(real)).mean() + nn.functional.softplus(D(G(z))).mean()
    return list(G.parameters()), list(D.parameters()), closure


def _ref_lead_adam(px, py, closure, steps, lr, alpha, b1, b2, eps):
    """Alg. 2 with the mixed term always formed by double backward and scaled by alpha
    (also when alpha = 0), written independently of optimizers/."""
    ps = {"x": px, "y": py}
    prev = {i: [p.detach().clone() for p in ps[i]] for i in ps}
    m = {i: [torch.zeros_like(p) for p in ps[i]] for i in ps}
    v = {i: [torch.zeros_like(p) for p in ps[i]] for i in ps}
    for t in range(1, steps + 1):
        for i, j, a in (("x", "y", alpha[0]), ("y", "x", alpha[1])):
            d_j = [p.detach() - q for p, q in zip(ps[j], prev[j])]
            gs = torch.autograd.grad(closure(i), ps[i] + ps[j], create_graph=True)
            g, g_j = gs[:len(ps[i])], gs[len(ps[i]):]
            mixed = torch.autograd.grad(sum((u * w).sum() for u, w in zip(g_j, d_j)), ps[i])
            prev[i] = [p.detach().clone() for p in ps[i]]
            with torch.no_grad():
                for k, p in enumerate(ps[i]):
                    gt = g[k].detach() + a * mixed[k]
                    m[i][k] = b1 * m[i][k] + (1 - b1) * gt
                    v[i][k] = b2 * v[i][k] + (1 - b2) * gt * gt
                    u = (m[i][k] / (1 - b1 ** t)) / ((v[i][k] / (1 - b2 ** t)).sqrt() + eps)
                    p.copy_(p + (-lr) * u)
    return [p.detach().clone() for p in px + py]


@pytest.mark.parametrize("alpha", [(0.0, 0.3), (0.3, 0.0), (0.3, 0.3)])
def test_lead_adam_uncoupled_player_skips_mixed_term_same_iterates(alpha, monkeypatch):
    """A player with alpha = 0 in every group gets no mixed term computed. Its float32
    iterates equal, bit for bit, those of the same optimizer made to form every mixed term
    and scale it (by 0); and those of an independent elementwise Alg. 2 up to rounding:
    the fused Adam kernel rounds each update differently, at most ~1 ulp of |theta| < 1
    per step, so 4 steps stay within 8 ulps(1.0) (2x margin). (Double backward, the mode
    whose mixed term the "formed" run computes apart.)"""
    hyper = dict(lr=1e-2, betas=(0.5, 0.9), eps=1e-8, mixed_mode="double_backward")
    px, py, closure = _mlp_gan()
    ref = _ref_lead_adam(px, py, closure, 4, hyper["lr"], alpha, 0.5, 0.9, 1e-8)

    def run(always_form):
        px, py, closure = _mlp_gan()
        opt = O.LEADAdam(px, py, alpha=alpha, **hyper)
        if always_form:
            monkeypatch.setattr(opt, "_coupled", lambda i: True)
            monkeypatch.setattr(opt, "_direction", lambda ev, i: ev.grad_and_mixed(
                i, opt._displacement(OTHER[i]), "own"))
        for _ in range(4):
            opt.step(closure)
        return px + py

    mixed_for = []
    real_mixed = Evaluation.grad_and_mixed
    monkeypatch.setattr(Evaluation, "grad_and_mixed",
                        lambda self, i, *a, **k: mixed_for.append(i) or real_mixed(self, i, *a, **k))
    got = run(always_form=False)
    assert mixed_for == [p for _ in range(4) for p, a in zip("xy", alpha) if a != 0]
    formed = run(always_form=True)
    assert all(torch.equal(a, b) for a, b in zip(got, formed))
    ulp = torch.finfo(torch.float32).eps
    assert max(float((a - b).abs().max()) for a, b in zip(ref, got)) <= 8 * ulp
    assert not all(torch.equal(a, b) for a, b in zip(ref, _mlp_gan()[0] + _mlp_gan()[1]))


@pytest.mark.parametrize("donate", [False, True])
def test_scale_by_adam_foreach_equals_elementwise_bitwise(donate):
    """The _foreach form gives, bit for bit, the elementwise formulas (float32); with
    donate the direction lands in the gradients' buffers; jacrev still runs through it."""
    from optimizers.functional import axpy, scale_by_adam
    g = torch.Generator().manual_seed(3)
    shapes = [(7, 5), (5,), ()]
    grads = [torch.randn(s, generator=g) for s in shapes]
    m = [torch.randn(s, generator=g) for s in shapes]
    v = [torch.rand(s, generator=g) for s in shapes]
    b1, b2, eps, t = 0.7, 0.95, 1e-6, 4
    m_ref = [b1 * a + (1 - b1) * x for a, x in zip(m, grads)]
    v_ref = [b2 * a + (1 - b2) * x * x for a, x in zip(v, grads)]
    d_ref = [(a / (1 - b1 ** t)) / ((b / (1 - b2 ** t)).sqrt() + eps) for a, b in zip(m_ref, v_ref)]
    mine = [x.clone() for x in grads]
    d, m1, v1 = scale_by_adam(mine, m, v, t, b1=b1, b2=b2, eps=eps, donate=donate)
    for got, want in ((d, d_ref), (m1, m_ref), (v1, v_ref)):
        assert all(torch.equal(a, b) for a, b in zip(got, want))
    assert all((a.data_ptr() == b.data_ptr()) == donate for a, b in zip(d, mine))
    p = [torch.randn(s, generator=g) for s in shapes]
    assert all(torch.equal(a, x + (-0.1) * y) for a, x, y in zip(axpy(p, -0.1, d), p, d_ref))
    m0, v0, x0 = m[0].double(), v[0].double(), grads[0].double()   # float64: exactness
    jac = torch.func.jacrev(lambda x: scale_by_adam([x], [m0], [v0], t, b1=b1, b2=b2,
                                                    eps=eps)[0][0])(x0)
    ref = torch.autograd.functional.jacobian(
        lambda x: ((b1 * m0 + (1 - b1) * x) / (1 - b1 ** t))
        / (((b2 * v0 + (1 - b2) * x * x) / (1 - b2 ** t)).sqrt() + eps), x0)
    torch.testing.assert_close(jac, ref, rtol=1e-12, atol=0)


def _adam_lists(dtype, seed=5):
    g = torch.Generator().manual_seed(seed)
    shapes = [(7, 5), (5,), ()]
    return [[(torch.rand if k == 3 else torch.randn)(s, generator=g, dtype=dtype)
             for s in shapes] for k in range(4)]            # params, grads, m, v (v >= 0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_adam_step_is_algorithm_2_lines_8_to_12(dtype):
    """adam_ (torch's fused kernel) against the elementwise formulas; the kernel rounds in
    its own order, so float32 agrees to a few ulps of each quantity, float64 to ~1e-15."""
    from optimizers.functional import adam_
    p, gr, m, v = _adam_lists(dtype)
    b1, b2, eps, t, lr = 0.7, 0.95, 1e-6, 4, 0.1
    m_ref = [b1 * a + (1 - b1) * x for a, x in zip(m, gr)]
    v_ref = [b2 * a + (1 - b2) * x * x for a, x in zip(v, gr)]
    p_ref = [q - lr * (a / (1 - b1 ** t)) / ((b / (1 - b2 ** t)).sqrt() + eps)
             for q, a, b in zip(p, m_ref, v_ref)]
    adam_(p, gr, m, v, t, lr=lr, b1=b1, b2=b2, eps=eps)
    tol = 8 * torch.finfo(dtype).eps
    for got, want in ((p, p_ref), (m, m_ref), (v, v_ref)):
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_adam_step_falls_back_to_the_foreach_formulas():
    """Lists the fused kernel cannot take (two dtypes) go through scale_by_adam: bit for
    bit its direction, added with -lr."""
    from optimizers.functional import _fusable, adam_, scale_by_adam
    lists = [a[:2] + b[2:] for a, b in zip(_adam_lists(torch.float32), _adam_lists(torch.float64))]
    assert not _fusable(*lists)
    p, gr, m, v = [[t.clone() for t in ts] for ts in lists]
    u, m1, v1 = scale_by_adam(gr, m, v, 3, b1=0.8, b2=0.9, eps=1e-8)
    want = [q + (-0.05) * a for q, a in zip(p, u)]
    adam_(p, gr, m, v, 3, lr=0.05, b1=0.8, b2=0.9, eps=1e-8)
    for got, ref in ((p, want), (m, m1), (v, v1)):
        assert all(torch.equal(a, b) for a, b in zip(got, ref))


def test_lead_adam_reuses_the_replaced_state_buffers():
    """After warm-up a step allocates no new state: the state tensors of step t+2 are the
    buffers of step t (the replaced ones are recycled), and the iterates are unchanged by
    it (same as a fresh optimizer loaded from a saved state dict at each step)."""
    px, py, closure = _mlp_gan()
    opt = O.LEADAdam(px, py, lr=1e-2, alpha=0.3)
    ptrs = []
    for _ in range(4):
        opt.step(closure)
        ptrs.append({k: v.data_ptr() for k, v in opt.state[px[0]].items()})
    assert ptrs[1] == ptrs[3] and ptrs[0] == ptrs[2] and ptrs[0] != ptrs[1]
    qx, qy, closure2 = _mlp_gan()
    ref = O.LEADAdam(qx, qy, lr=1e-2, alpha=0.3)
    for _ in range(4):
        buf = io.BytesIO()
        torch.save(ref.state_dict(), buf)
        ref = O.LEADAdam(qx, qy, lr=1e-2, alpha=0.3)
        buf.seek(0)
        ref.load_state_dict(torch.load(buf, weights_only=True))
        ref.step(closure2)
    assert all(torch.equal(a, b) for a, b in zip(px + py, qx + qy))


def test_fused_adam_takes_gradients_in_any_layout():
    """torch's fused kernel pairs elements by memory order: a gradient laid out unlike its
    parameter (transposed, expanded) is first put in the parameter's layout, so the
    result equals the one with a contiguous gradient, bit for bit; a parameter whose
    moments are laid out differently goes through the foreach formulas."""
    from optimizers.functional import _fusable, adam_
    g = torch.Generator().manual_seed(2)
    p0 = torch.randn(4, 3, generator=g)
    gr = torch.randn(3, 4, generator=g).t()                  # strides (1, 4)
    runs = []
    for grad in (gr, gr.contiguous()):
        p, m, v = p0.clone(), torch.zeros(4, 3), torch.zeros(4, 3)
        adam_([p], [grad], [m], [v], 1, lr=0.1, b1=0.9, b2=0.99, eps=1e-8)
        runs.append((p, m, v))
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    row = torch.randn(3, generator=g)
    p, m, v = p0.clone(), torch.zeros(4, 3), torch.zeros(4, 3)
    adam_([p], [row.expand(4, 3)], [m], [v], 1, lr=0.1, b1=0.9, b2=0.99, eps=1e-8)
    q, mq, vq = p0.clone(), torch.zeros(4, 3), torch.zeros(4, 3)
    adam_([q], [row.expand(4, 3).contiguous()], [mq], [vq], 1, lr=0.1, b1=0.9, b2=0.99, eps=1e-8)
    assert torch.equal(p, q) and torch.equal(m, mq)
    mt = torch.zeros(3, 4).t()                                # moments transposed
    assert not _fusable([p0], [gr.contiguous()], [mt], [mt.clone()])


def test_lead_adam_interrupted_mid_player_leaves_the_parameters(monkeypatch):
    """An exception inside Adam's in-place update (here in the second group) restores the
    player's parameters: the step is undone as a whole."""
    import optimizers.lead_adam as la
    px, py, closure = _mlp_gan()
    opt = O.LEADAdam([{"params": px[:2]}, {"params": px[2:]}], py, lr=1e-2, alpha=0.3)
    opt.step(closure)
    before = [p.detach().clone() for p in px + py]
    calls, real = [], la.adam_

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(la, "adam_", flaky)
    with pytest.raises(KeyboardInterrupt):
        opt.step(closure)
    assert all(torch.equal(a, b) for a, b in zip(before, px + py))
    assert opt.game_step == 1


def test_lead_adam_loaded_state_is_its_own():
    """One state dict loaded into two optimizers (and a checkpoint whose moments are one
    tensor, or numbers): no optimizer writes into another's or the caller's tensors."""
    px, py, closure = _mlp_gan()
    src = O.LEADAdam(px, py, lr=1e-2, alpha=0.3)
    for _ in range(2):
        src.step(closure)
    sd = src.state_dict()
    start = [p.detach().clone() for p in px + py]
    kept = {k: {n: t.clone() for n, t in v.items()} for k, v in sd["state"].items()}

    def resumed(lr, state, partner=None):
        qx, qy, cl = _mlp_gan()
        with torch.no_grad():
            for q, s in zip(qx + qy, start):
                q.copy_(s)
        opt = O.LEADAdam(qx, qy, lr=lr, alpha=0.3)
        opt.load_state_dict(dict(sd, state=state))
        return opt, qx + qy, cl

    alone, p_alone, cl = resumed(1e-2, sd["state"])
    for _ in range(3):
        alone.step(cl)
    a, pa, ca = resumed(1e-2, sd["state"])
    b, _, cb = resumed(5e-2, sd["state"])                    # the same dict, twice
    for _ in range(3):
        a.step(ca)
        b.step(cb)
    assert all(torch.equal(u, w) for u, w in zip(pa, p_alone))
    assert all(torch.equal(t, kept[k][n]) for k, v in sd["state"].items() for n, t in v.items())
    one = {k: dict(v, exp_avg_sq=v["exp_avg"].abs()) for k, v in kept.items()}
    for v in one.values():
        v["exp_avg"] = v["exp_avg_sq"]                       # one tensor for both moments
    numbers = {k: dict(v, exp_avg=0.0, exp_avg_sq=0.0) for k, v in kept.items()}
    for state in (one, numbers):
        opt, ps, cl = resumed(1e-2, state)
        for _ in range(3):
            opt.step(cl)
        assert all(torch.isfinite(p).all() for p in ps)


def test_param_group_given_as_a_generator_keeps_its_parameters():
    G, D = nn.Linear(3, 2), nn.Linear(2, 1)
    opt = O.LEADAdam([{"params": G.parameters()}], D.parameters(), lr=1e-2, alpha=0.3)
    assert [len(g["params"]) for g in opt.param_groups] == [2, 2]
