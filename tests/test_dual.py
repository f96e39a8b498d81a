"""Forward-mode evaluation for the ``reverse_over_forward`` mixed-term mode
(``optimizers._dual``), each piece against an independent computation:

* the bilinear JVP rule of affine layers against PyTorch's own forward-mode AD;
* reverse mode through the tangent of every operation in ``REVERSE_SAFE`` against double
  backward (``grad_W <grad_x L, x'>``);
* the operations left out: PyTorch's reverse-over-forward is shown wrong for them, and
  ``Substitute`` refuses them.
"""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch.overrides import resolve_name

from optimizers._dual import REVERSE_SAFE, Substitute, affine_jvp, dual_level

DT = torch.float64

# ------------------------------------------------------------------ the affine rule
# name -> (op, input shape, weight shape, bias size, extra positional args, kwargs)
CASES = {
    "linear": (F.linear, (5, 4), (3, 4), 3, (), {}),
    "linear-3d": (F.linear, (2, 5, 4), (3, 4), 3, (), {}),
    "conv1d": (F.conv1d, (2, 4, 9), (3, 4, 3), 3, (2, 1), {}),
    "conv2d": (F.conv2d, (2, 4, 7, 6), (6, 2, 3, 3), 6, (), {"stride": 2, "padding": 1,
                                                              "groups": 2}),
    "conv2d-unbatched": (F.conv2d, (4, 7, 6), (3, 4, 3, 3), 3, (1, 1), {}),
    "conv3d": (F.conv3d, (1, 2, 5, 4, 4), (3, 2, 2, 2, 2), 3, (), {}),
    "conv_transpose1d": (F.conv_transpose1d, (2, 4, 5), (4, 3, 3), 3, (2, 1, 1), {}),
    "conv_transpose2d": (F.conv_transpose2d, (2, 4, 4, 4), (4, 3, 4, 4), 3, (),
                         {"stride": 2, "padding": 1}),
}
SUBSETS = [s for k in (1, 2, 3) for s in itertools.combinations(("input", "weight", "bias"), k)]


def _tensors(case, seed=0):
    _, xs, ws, nb, _, _ = case
    g = torch.Generator().manual_seed(seed)
    shapes = (xs, ws, (nb,))
    prim = [torch.randn(*s, generator=g, dtype=DT) for s in shapes]
    tan = [torch.randn(*s, generator=g, dtype=DT) for s in shapes]
    return dict(zip(("input", "weight", "bias"), prim)), dict(zip(("input", "weight", "bias"), tan))


@pytest.mark.parametrize("dual", SUBSETS, ids="+".join)
@pytest.mark.parametrize("name", sorted(CASES))
def test_affine_rule_equals_native_forward_ad(name, dual):
    func, _, _, _, args, kwargs = CASES[name]
    prim, tan = _tensors(CASES[name])
    with dual_level():
        v = {k: fwAD.make_dual(t, tan[k]) if k in dual else t for k, t in prim.items()}
        native = fwAD.unpack_dual(func(v["input"], v["weight"], v["bias"], *args, **kwargs))
        if args:      # positional, as written
            ours = affine_jvp(func, (v["input"], v["weight"], v["bias"], *args), kwargs)
        else:         # weight and bias by keyword
            ours = affine_jvp(func, (v["input"],), dict(kwargs, weight=v["weight"],
                                                       bias=v["bias"]))
        ours = fwAD.unpack_dual(ours)
        torch.testing.assert_close(ours.primal, native.primal, rtol=0, atol=0)
        torch.testing.assert_close(ours.tangent, native.tangent, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", ["linear", "conv2d"])
def test_affine_rule_without_bias_and_without_duals(name):
    func, _, _, _, args, kwargs = CASES[name]
    prim, tan = _tensors(CASES[name])
    assert affine_jvp(func, (prim["input"], prim["weight"]), kwargs) is NotImplemented
    with dual_level():
        x = fwAD.make_dual(prim["input"], tan["input"])
        native = fwAD.unpack_dual(func(x, prim["weight"], None, *args, **kwargs))
        ours = fwAD.unpack_dual(affine_jvp(func, (x, prim["weight"], None, *args), kwargs))
        torch.testing.assert_close(ours.tangent, native.tangent, rtol=1e-13, atol=1e-13)


# ------------------------------------------- reverse over forward, op by op
def _img(h):
    return h.reshape(8, 6, 1, 1) * torch.linspace(-1, 1, 16, dtype=DT).reshape(1, 1, 4, 4)


_C = torch.linspace(-1.0, 1.0, 48, dtype=DT).reshape(8, 6)
#: every REVERSE_SAFE name -> an expression of h (8 x 6, affine in the dual input)
OPS = {
    "torch.Tensor.add": lambda h: h.add(h * h), "torch.add": lambda h: torch.add(h, h * h),
    "torch.Tensor.sub": lambda h: h.sub(h * h), "torch.sub": lambda h: torch.sub(h, h * h),
    "torch.Tensor.mul": lambda h: h.mul(h), "torch.mul": lambda h: torch.mul(h, h),
    "torch.Tensor.div": lambda h: h.div(h * h + 1), "torch.div": lambda h: torch.div(h, h * h + 1),
    "torch.Tensor.neg": lambda h: h.neg() * h, "torch.neg": lambda h: torch.neg(h) * h,
    "torch.Tensor.pow": lambda h: h.pow(3), "torch.pow": lambda h: torch.pow(h, 3),
    "torch.Tensor.exp": lambda h: h.exp(), "torch.exp": torch.exp,
    "torch.Tensor.log": lambda h: (h * h + 1).log(), "torch.log": lambda h: torch.log(h * h + 1),
    "torch.Tensor.log1p": lambda h: (h * h).log1p(), "torch.log1p": lambda h: torch.log1p(h * h),
    "torch.Tensor.sqrt": lambda h: (h * h + 1).sqrt(), "torch.sqrt": lambda h: torch.sqrt(h * h + 1),
    "torch.Tensor.rsqrt": lambda h: (h * h + 1).rsqrt(),
    "torch.rsqrt": lambda h: torch.rsqrt(h * h + 1),
    "torch.Tensor.abs": lambda h: h.abs() * h, "torch.abs": lambda h: torch.abs(h) * h,
    "torch.Tensor.square": lambda h: h.square(), "torch.square": torch.square,
    "torch.Tensor.sin": lambda h: h.sin(), "torch.sin": torch.sin,
    "torch.Tensor.cos": lambda h: h.cos(), "torch.cos": torch.cos,
    "torch.Tensor.tanh": lambda h: h.tanh(), "torch.tanh": torch.tanh,
    "torch.Tensor.sigmoid": lambda h: h.sigmoid(), "torch.sigmoid": torch.sigmoid,
    "torch.Tensor.relu": lambda h: h.relu() * h, "torch.relu": lambda h: torch.relu(h) * h,
    "torch.Tensor.relu_": lambda h: (h * 1).relu_() * h,
    "torch.Tensor.clamp": lambda h: h.clamp(-0.5, 0.5) * h,
    "torch.clamp": lambda h: torch.clamp(h, -0.5, 0.5) * h,
    "torch.Tensor.maximum": lambda h: h.maximum(h * h - 1),
    "torch.maximum": lambda h: torch.maximum(h, h * h - 1),
    "torch.Tensor.minimum": lambda h: h.minimum(h * h - 1),
    "torch.minimum": lambda h: torch.minimum(h, h * h - 1),
    "torch.Tensor.where": lambda h: h.where(h > 0, h * h),
    "torch.where": lambda h: torch.where(h > 0, h, h * h),
    "torch.Tensor.__rsub__": lambda h: 1 - h * h,
    "torch.Tensor.__rtruediv__": lambda h: 1 / (h * h + 1),
    "torch.Tensor.__pow__": lambda h: h ** 3, "torch.Tensor.__rpow__": lambda h: 2 ** h,
    "torch.Tensor.matmul": lambda h: h @ h.T @ h, "torch.matmul": lambda h: torch.matmul(h, h.T),
    "torch.Tensor.mm": lambda h: h.mm(h.T), "torch.spmm": lambda h: torch.mm(h, h.T),
    "torch.functional.einsum": lambda h: torch.einsum("ni,ij,nj->n", h, _C[:6], h)[:, None] * h,
    "torch.Tensor.bmm": lambda h: h[None].bmm(h.T[None])[0],
    "torch.bmm": lambda h: torch.bmm(h[None], h.T[None])[0],
    "torch.Tensor.sum": lambda h: h.sum(1, keepdim=True) * h,
    "torch.sum": lambda h: torch.sum(h, 0) * h,
    "torch.Tensor.prod": lambda h: h.prod(1, keepdim=True) * h,
    "torch.prod": lambda h: torch.prod(h, 0) * h,
    "torch.Tensor.mean": lambda h: h.mean(0) * h, "torch.mean": lambda h: torch.mean(h, 1, True) * h,
    "torch.Tensor.var": lambda h: h.var(0) * h, "torch.var": lambda h: torch.var(h, 1, keepdim=True) * h,
    "torch.Tensor.std": lambda h: h.std(0) * h, "torch.std": lambda h: torch.std(h, 1, keepdim=True) * h,
    "torch.Tensor.norm": lambda h: h.norm(dim=1, keepdim=True) * h,
    "torch.functional.norm": lambda h: torch.norm(h, dim=0) * h,
    "torch.Tensor.view": lambda h: h.view(6, 8) ** 2, "torch.Tensor.view_as": lambda h: h.view_as(h) ** 2,
    "torch.Tensor.reshape": lambda h: h.reshape(48) ** 2,
    "torch.reshape": lambda h: torch.reshape(h, (48,)) ** 2,
    "torch.Tensor.reshape_as": lambda h: h.reshape_as(h.T.contiguous()) ** 2,
    "torch.Tensor.flatten": lambda h: h.flatten() ** 2, "torch.flatten": lambda h: torch.flatten(h) ** 2,
    "torch.Tensor.unflatten": lambda h: h.unflatten(1, (2, 3)) ** 2,
    "torch.Tensor.squeeze": lambda h: h[None].squeeze(0) ** 2,
    "torch.squeeze": lambda h: torch.squeeze(h[None], 0) ** 2,
    "torch.Tensor.unsqueeze": lambda h: h.unsqueeze(0) ** 2,
    "torch.unsqueeze": lambda h: torch.unsqueeze(h, 0) ** 2,
    "torch.Tensor.expand": lambda h: h.expand(2, 8, 6) ** 2,
    "torch.Tensor.expand_as": lambda h: h[:1].expand_as(h) * h,
    "torch.Tensor.permute": lambda h: h.permute(1, 0) ** 2, "torch.permute": lambda h: torch.permute(h, (1, 0)) ** 2,
    "torch.Tensor.transpose": lambda h: h.transpose(0, 1) ** 2,
    "torch.transpose": lambda h: torch.transpose(h, 0, 1) ** 2,
    "torch.Tensor.t": lambda h: h.t() ** 2, "torch.Tensor.T.__get__": lambda h: h.T ** 2,
    "torch.Tensor.mT.__get__": lambda h: h.mT ** 2,
    "torch.Tensor.contiguous": lambda h: h.T.contiguous() ** 2, "torch.Tensor.clone": lambda h: h.clone() ** 2,
    "torch.Tensor.__getitem__": lambda h: h[1:5, ::2] ** 2,
    "torch.Tensor.chunk": lambda h: h.chunk(2)[1] ** 2, "torch.chunk": lambda h: torch.chunk(h, 2, 1)[0] ** 2,
    "torch.Tensor.split": lambda h: h.split(3)[1] ** 2, "torch.functional.split": lambda h: torch.split(h, 2, 1)[2] ** 2,
    "torch.Tensor.narrow": lambda h: h.narrow(1, 1, 3) ** 2, "torch.Tensor.select": lambda h: h.select(0, 2) ** 2,
    "torch.Tensor.repeat": lambda h: h.repeat(2, 1) ** 2,
    "torch.cat": lambda h: torch.cat([h, h * h]) ** 2, "torch.stack": lambda h: torch.stack([h, h * h]) ** 2,
    "torch.nn.functional.linear": lambda h: F.linear(h, h[:3]) ** 2,
    "torch.nn.functional.conv1d": lambda h: F.conv1d(h[None], h.T[:2, :, None]) ** 2,
    "torch.nn.functional.conv2d": lambda h: F.conv2d(_img(h), _img(h)[:2]) ** 2,
    "torch.nn.functional.conv3d":
        lambda h: F.conv3d(_img(h)[None], _img(h).transpose(0, 1)[:2, :, None]) ** 2,
    "torch.nn.functional.conv_transpose1d":
        lambda h: F.conv_transpose1d(h[None].mT, h[:6, :2, None]) ** 2,
    "torch.nn.functional.conv_transpose2d": lambda h: F.conv_transpose2d(_img(h), _img(h)[:6]) ** 2,
    "torch.nn.functional.conv_transpose3d":
        lambda h: F.conv_transpose3d(_img(h)[None], _img(h)[:, :2, None]) ** 2,
    "torch.nn.functional.relu": lambda h: F.relu(h) * h, "torch.nn.functional.relu_": lambda h: F.relu_(h * 1) * h,
    "torch.nn.functional.leaky_relu": lambda h: F.leaky_relu(h, 0.2) * h,
    "torch.nn.functional.leaky_relu_": lambda h: F.leaky_relu_(h * 1, 0.2) * h,
    "torch.nn.functional.elu": F.elu, "torch.nn.functional.selu": F.selu, "torch.nn.functional.gelu": F.gelu,
    "torch.nn.functional.silu": F.silu, "torch.nn.functional.mish": F.mish,
    "torch.nn.functional.softplus": F.softplus, "torch.nn.functional.logsigmoid": F.logsigmoid,
    "torch.nn.functional.hardtanh": lambda h: F.hardtanh(h) * h,
    "torch.nn.functional.normalize": lambda h: F.normalize(h, dim=1),
    "torch.nn.functional.mse_loss": lambda h: F.mse_loss(h, _C, reduction="none"),
    "torch.nn.functional.binary_cross_entropy_with_logits":
        lambda h: F.binary_cross_entropy_with_logits(h, (_C + 1) / 2, reduction="none"),
    "torch.nn.functional.max_pool2d": lambda h: F.max_pool2d(_img(h), 2) ** 2,
    "torch.nn.functional.avg_pool2d": lambda h: F.avg_pool2d(_img(h), 2) ** 2,
    "torch.nn.functional.adaptive_avg_pool2d": lambda h: F.adaptive_avg_pool2d(_img(h), 3) ** 2,
    "torch.nn.functional.interpolate": lambda h: F.interpolate(_img(h), scale_factor=2, mode="bilinear") ** 2,
    "torch.nn.functional.pad": lambda h: F.pad(h, (1, 2)) ** 2,
    # in-place arithmetic on dual tensors (``loss += ...``), conversions, reductions
    "torch.Tensor.add_": lambda h: (h * 1.0).add_(h * h),
    "torch.Tensor.sub_": lambda h: (h * 1.0).sub_(h * h),
    "torch.Tensor.mul_": lambda h: (h * 1.0).mul_(h),
    "torch.Tensor.div_": lambda h: (h * 1.0).div_(h * h + 1),
    "torch.Tensor.exp_": lambda h: (h * 1.0).exp_(),
    "torch.Tensor.to": lambda h: h.to(DT) * h,
    "torch.Tensor.double": lambda h: h.double() * h,
    "torch.Tensor.type_as": lambda h: h.type_as(h) * h,
    "torch.Tensor.max": lambda h: h.max(1, keepdim=True)[0] * h,
    "torch.Tensor.amax": lambda h: h.amax(1, keepdim=True) * h,
    "torch.Tensor.clamp_min": lambda h: h.clamp_min(0.1) * h,
    "torch.Tensor.masked_fill": lambda h: h.masked_fill(_C > 0.3, 0.0) * h,
    "torch.Tensor.flip": lambda h: h.flip(0) * h,
    "torch.Tensor.roll": lambda h: h.roll(1, 0) * h,
    "torch.mv": lambda h: torch.mv(h, h[0])[:, None] * h,
    "torch.dot": lambda h: torch.dot(h[0], h[1]) * h,
    "torch.vdot": lambda h: torch.vdot(h[0], h[1]) * h,
    "torch.nn.functional.l1_loss": lambda h: F.l1_loss(h, _C, reduction="none") * h,
    "torch.nn.functional.binary_cross_entropy":
        lambda h: F.binary_cross_entropy(torch.sigmoid(h), (_C + 1) / 2, reduction="none"),
    "torch.nn.functional.relu6": lambda h: F.relu6(4 * h) * h,
    "torch.nn.functional.hardswish": lambda h: F.hardswish(2 * h) * h,
    "torch.nn.functional.embedding": lambda h: F.embedding(torch.tensor([3, 1, 4, 1, 5, 0, 2, 6]),
                                                           h) * h,
    "torch.nn.functional.dropout": lambda h: F.dropout(h, 0.5, training=False) * h,
}
#: refused operations, for which PyTorch's reverse pass through the tangent is wrong
WRONG_IN_PYTORCH = {
    "torch.nn.functional.batch_norm": lambda h: F.batch_norm(h, None, None, training=True),
    "torch.nn.functional.layer_norm": lambda h: F.layer_norm(h, (6,)),
    "torch.nn.functional.instance_norm": lambda h: F.instance_norm(_img(h) + _img(h) ** 2),
}


def _head(op, x, W):
    """A scalar, nonlinear after ``op`` (so that second derivatives are not trivial)."""
    return (torch.tanh(op(F.linear(x, W))) * 1.5).sin().sum()


class _Recorder(Substitute):
    """Substitute that records the operations returning dual tensors."""

    def __init__(self, check: bool):
        super().__init__({}, reverse_over_forward=check)
        self.seen = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = super().__torch_function__(func, types, args, kwargs)
        if isinstance(out, torch.Tensor) and fwAD.unpack_dual(out).tangent is not None or \
                isinstance(out, (tuple, list)) and any(
                    isinstance(o, torch.Tensor) and fwAD.unpack_dual(o).tangent is not None
                    for o in out):
            self.seen.add(resolve_name(func))
        return out


def _two_ways(op, check=True):
    """``grad_W <grad_x L, x'>`` by reverse over the tangent (through Substitute) and by
    double backward; the names of the operations that returned dual tensors."""
    g = torch.Generator().manual_seed(3)
    x, tx = (torch.randn(8, 5, generator=g, dtype=DT) for _ in range(2))
    W = torch.randn(6, 5, generator=g, dtype=DT).requires_grad_(True)
    rec = _Recorder(check)
    with dual_level():
        xd = fwAD.make_dual(x, tx)
        with rec:
            loss = _head(op, xd, W)
        tangent = fwAD.unpack_dual(loss).tangent
    (rof,) = torch.autograd.grad(tangent, W)
    xr = x.clone().requires_grad_(True)
    (gx,) = torch.autograd.grad(_head(op, xr, W), xr, create_graph=True)
    (dbl,) = torch.autograd.grad((gx * tx).sum(), W)
    return rof, dbl, rec.seen


def test_every_listed_operation_has_a_check():
    assert set(OPS) == set(REVERSE_SAFE)


@pytest.mark.parametrize("name", sorted(OPS))
def test_reverse_over_forward_is_double_backward(name):
    rof, dbl, seen = _two_ways(OPS[name])
    assert name in seen, f"the expression never called {name} on a dual tensor: {seen}"
    torch.testing.assert_close(rof, dbl, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(WRONG_IN_PYTORCH))
def test_left_out_operations_are_wrong_in_pytorch_and_refused(name):
    """Without the check the reverse pass is off by O(1) (if PyTorch fixes this, the
    first assertion fails: the operation can then join REVERSE_SAFE); with it, an error
    names the operation."""
    rof, dbl, _ = _two_ways(WRONG_IN_PYTORCH[name], check=False)
    assert (rof - dbl).abs().max() > 1e-3
    with pytest.raises(NotImplementedError, match=name.split(".")[-1]):
        _two_ways(WRONG_IN_PYTORCH[name], check=True)


# ------------------------------------------------------- the optimizers' modes
def _gan(norm: bool):
    """A small G, D pair (float64); with ``norm`` D has a BatchNorm layer."""
    torch.manual_seed(0)
    mid = [torch.nn.BatchNorm1d(8)] if norm else []
    G = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).double()
    D = torch.nn.Sequential(torch.nn.Linear(2, 8), *mid, torch.nn.LeakyReLU(0.2),
                            torch.nn.Linear(8, 1)).double()
    z, real = torch.randn(16, 3, dtype=DT), torch.randn(16, 2, dtype=DT)

    def closure(player):
        if player == "x":
            return F.softplus(-D(G(z))).mean()
        return F.softplus(-D(real)).mean() + F.softplus(D(G(z))).mean()
    return list(G.parameters()), list(D.parameters()), closure


def _lead_adam_run(mode, norm, steps=4):
    import optimizers as O
    px, py, closure = _gan(norm)
    opt = O.LEADAdam(px, py, lr=1e-2, alpha=0.3, mixed_mode=mode)
    for _ in range(steps):
        opt.step(closure)
    return [p.detach().clone() for p in px + py], opt


class _FakeWatch:
    """Stands in for ``auto_mode.Stopwatch``: the i-th timed block takes ``times[i]``."""

    def __init__(self, times):
        self.times = list(times)

    def __call__(self, device):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.seconds = self.times.pop(0) if self.times else 0.0
        return False


def test_calibration_schedule_and_choice_by_the_median_ratio():
    """Warm-up (reverse over forward, untimed), then interleaved pairs of the two modes,
    which one goes first alternating from pair to pair; reverse over forward is kept iff
    the median over the pairs of its time over double backward's is below 1 - MARGIN."""
    from optimizers.auto_mode import CANDIDATES, MARGIN, ROUNDS, ModeCalibration
    rof, db = CANDIDATES
    assert ROUNDS >= 5

    def calibrate(times, rounds=5):
        cal, seen, times = ModeCalibration(rounds), [], {m: list(v) for m, v in times.items()}
        while cal.choice["x"] is None:
            mode, timing = cal.mode("x"), cal.timing("x")
            seen.append((mode, timing))
            cal.record("x", mode, times[mode].pop(0) if timing else None)
        return cal, seen
    cal, seen = calibrate({db: [5.0, 4.0, 6.0, 5.0, 5.0], rof: [2.0, 3.0, 3.0, 9.0, 4.0]})
    assert seen == [(rof, False)] + [(db, True), (rof, True), (rof, True), (db, True)] * 2 \
        + [(db, True), (rof, True)]
    assert cal.choice == {"x": rof, "y": None}
    assert cal.mode("x") == rof and cal.mode("y") == rof and not cal.timing("y")
    # slower on the median, though much faster in two pairs
    assert calibrate({db: [5.0, 5.0, 1.0, 1.0, 1.0], rof: [1.0, 1.0, 2.0, 2.0, 2.0]}
                     )[0].choice["x"] == db
    # faster by less than the margin: double backward, the mode every closure can take
    close = 1.0 - MARGIN / 2
    assert calibrate({db: [1.0] * 5, rof: [close] * 5})[0].choice["x"] == db
    assert calibrate({db: [1.0] * 5, rof: [1.0 - 2 * MARGIN] * 5})[0].choice["x"] == rof
    restored = ModeCalibration()
    restored.load_state_dict(cal.state_dict())
    assert restored.state_dict() == cal.state_dict()
    with pytest.raises(ValueError, match="choice"):
        restored.load_state_dict(dict(cal.state_dict(), choice={"x": "forward", "y": None}))


#: fake step times of the 5 calibration pairs, players x and y alternating at each step
#: (x: rof faster in every pair; y: rof faster, then slower in 3 of the 5 pairs)
_PAIRS_X = [(3, 1)] * 5                 # (double backward, reverse over forward)
_PAIRS_Y = [(3, 1), (1, 3), (1, 3), (3, 1), (1, 3)]


def _fake_times(pairs_x, pairs_y):
    """The times the Stopwatch returns, in the order of the timed steps: pair k runs
    double backward first for even k (x then y at each step)."""
    out = []
    for k, ((dx, rx), (dy, ry)) in enumerate(zip(pairs_x, pairs_y)):
        first, second = ((dx, dy), (rx, ry)) if k % 2 == 0 else ((rx, ry), (dx, dy))
        out += list(first) + list(second)
    return out


@pytest.mark.parametrize("pairs_y, choice", [
    (_PAIRS_X, ("reverse_over_forward", "reverse_over_forward")),
    (_PAIRS_Y, ("reverse_over_forward", "double_backward"))])
def test_auto_chooses_the_mode_measured_faster_per_player(monkeypatch, pairs_y, choice):
    """auto: each player's first steps time both exact modes (here a fake clock); then
    the faster one is used, and checkpointed."""
    import optimizers as O
    from optimizers import autodiff, lead_adam
    from optimizers.auto_mode import ROUNDS
    monkeypatch.setattr(lead_adam, "Stopwatch",
                        _FakeWatch([0, 0] + _fake_times(_PAIRS_X, pairs_y)))   # 0: warm-ups
    duals = []
    real_dual = autodiff.Evaluation._dual_loss
    monkeypatch.setattr(autodiff.Evaluation, "_dual_loss",
                        lambda self, s, *a, **k: duals.append(s) or real_dual(self, s, *a, **k))
    px, py, closure = _gan(norm=False)
    opt = O.LEADAdam(px, py, lr=1e-2, alpha=0.3)
    for _ in range(1 + 2 * ROUNDS):
        opt.step(closure)
    assert (opt._calibration.choice["x"], opt._calibration.choice["y"]) == choice
    assert duals == ["x", "y"] * (1 + ROUNDS)       # rof at the warm-up and in every pair
    duals.clear()
    opt.step(closure)
    assert duals == [p for p, c in zip("xy", choice) if c == "reverse_over_forward"]
    assert opt.state_dict()["game"]["auto_mode"]["choice"] == dict(zip("xy", choice))


def test_auto_iterates_agree_with_double_backward_and_lead_is_unchanged(recwarn):
    """Whatever auto picks, LEAD-Adam's iterates are double backward's up to rounding
    (float64); LEAD (Algorithm 1, which takes g and M apart) is double backward exactly."""
    import optimizers as O
    auto, opt = _lead_adam_run(None, norm=False, steps=13)     # calibration and after
    assert opt.mixed_mode == "auto" and opt._auto_fallback is None
    assert None not in opt._calibration.choice.values()
    dbl, _ = _lead_adam_run("double_backward", norm=False, steps=13)
    assert max(float((a - b).abs().max()) for a, b in zip(auto, dbl)) < 1e-12
    runs = {}
    for mode in ("auto", "double_backward"):
        px, py, closure = _gan(norm=False)
        lead = O.LEAD(px, py, lr=1e-2, beta=0.5, alpha=0.3, mixed_mode=mode)
        for _ in range(3):
            lead.step(closure)
        runs[mode] = px + py
    assert all(torch.equal(a, b) for a, b in zip(runs["auto"], runs["double_backward"]))
    assert not [w for w in recwarn if "mixed_mode" in str(w.message)]


def test_auto_mode_falls_back_to_double_backward_once_and_warns(monkeypatch):
    from optimizers import autodiff
    with pytest.warns(RuntimeWarning, match="batch_norm") as rec:
        auto, opt = _lead_adam_run("auto", norm=True)
    assert len([w for w in rec if "mixed_mode='auto'" in str(w.message)]) == 1
    assert opt._auto_fallback == "torch.nn.functional.batch_norm"
    dbl, _ = _lead_adam_run("double_backward", norm=True)
    assert all(torch.equal(a, b) for a, b in zip(auto, dbl))


def test_forced_reverse_over_forward_refuses_batch_norm_and_leaves_parameters():
    import optimizers as O
    from optimizers._dual import NotReverseSafe
    px, py, closure = _gan(norm=True)
    before = [p.detach().clone() for p in px + py]
    opt = O.LEADAdam(px, py, lr=1e-2, alpha=0.3, mixed_mode="reverse_over_forward")
    with pytest.raises(NotReverseSafe, match="batch_norm.*mixed_mode='auto'"):
        opt.step(closure)
    assert all(torch.equal(a, b) for a, b in zip(before, px + py))
    assert opt.game_step == 0      # state, where created, is the initial one
    assert all(not st["exp_avg"].any() and torch.equal(st["prev"], p)
               for p, st in opt.state.items())


# ------------------------------------- what reverse over forward must refuse
def _refused(fn, match):
    """``fn(x)`` (x dual, W plain) under the checking Substitute must raise, naming ``match``."""
    from optimizers._dual import NotReverseSafe
    g = torch.Generator().manual_seed(4)
    x, tx = (torch.randn(8, 5, generator=g, dtype=DT) for _ in range(2))
    W = torch.randn(6, 5, generator=g, dtype=DT).requires_grad_(True)
    with dual_level():
        xd = fwAD.make_dual(x, tx)
        with pytest.raises(NotReverseSafe, match=match):
            with Substitute({}, reverse_over_forward=True):
                fn(xd, W)


class _Sin(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0].cos()

    @staticmethod
    def jvp(ctx, t):
        return t * ctx.saved_tensors[0].cos()


def test_refuses_results_under_no_grad():
    """Forward mode ignores no_grad, reverse mode does not: the two would disagree."""
    def fn(x, W):
        with torch.no_grad():
            h = F.linear(x, W)
        return (h * F.linear(x, W)).sum()
    _refused(fn, "no_grad")


def test_refuses_custom_autograd_functions():
    _refused(lambda x, W: (_Sin.apply(F.linear(x, W)) * 2).sum(), "custom autograd.Function")


@pytest.mark.parametrize("p", [1, 3, float("inf")])
def test_refuses_norms_other_than_the_2_norm(p):
    """Reverse mode through the tangent of the p-norm fails for p = 1 (in-place sign) in
    torch 2.13; only p = 2 is checked (tests above), so only it is allowed."""
    _refused(lambda x, W: F.linear(x, W).norm(p=p) * 1, "norm")
    _refused(lambda x, W: F.normalize(F.linear(x, W), p=p).sum(), "normalize")


def test_namedtuple_arguments_are_rebuilt():
    from collections import namedtuple
    Pair = namedtuple("Pair", "a b")
    t = torch.randn(3)
    with Substitute({id(t): t * 2}):
        out = torch.cat(Pair(t, t))
    assert torch.equal(out, torch.cat([t * 2, t * 2]))


@pytest.mark.filterwarnings("ignore:LEADAdam. mixed_mode='auto'")
def test_an_opponent_parameter_reached_only_through_a_view_is_refused(monkeypatch):
    """W.t() made outside the closure is not W: its tangent would be lost; auto falls back
    and then agrees with double backward."""
    import optimizers as O
    from optimizers import autodiff
    from optimizers._dual import NotReverseSafe
    torch.manual_seed(0)
    x = torch.randn(4, dtype=DT, requires_grad=True)
    W = torch.randn(3, 4, dtype=DT, requires_grad=True)
    Wt = W.t()                                         # made outside the closure
    x0, W0 = x.detach().clone(), W.detach().clone()

    def closure(player):
        f = torch.tanh(x @ Wt).sum() + (x * x).sum() - (W * W).sum()
        return f if player == "x" else -f
    opt = O.LEADAdam([x], [W], lr=1e-2, alpha=0.3, mixed_mode="reverse_over_forward")
    with pytest.raises(NotReverseSafe, match="view"):
        opt.step(closure)
    runs = {}
    for mode in ("auto", "double_backward"):
        with torch.no_grad():
            x.copy_(x0)
            W.copy_(W0)
        opt = O.LEADAdam([x], [W], lr=1e-2, alpha=0.3, mixed_mode=mode)
        for _ in range(3):
            opt.step(closure)
        runs[mode] = [x.detach().clone(), W.detach().clone()]
    assert all(torch.equal(a, b) for a, b in zip(runs["auto"], runs["double_backward"]))


def test_auto_fallback_puts_the_random_state_back(monkeypatch):
    """A refused dual evaluation that drew random numbers (dropout is refused before it
    runs; here noise drawn before the refused op) is undone: auto == double backward."""
    from optimizers import autodiff

    def run(mode):
        import optimizers as O
        px, py, _ = _gan(norm=False)
        torch.manual_seed(7)

        def closure(player):
            h = px[0].sum() * torch.ones(4, 2, dtype=DT) + torch.randn(4, 2, dtype=DT)
            f = F.layer_norm(h @ py[0].T, (8,)).pow(2).mean() + sum(
                (p * p).sum() for p in px + py)        # layer_norm: refused
            return f if player == "x" else -f
        opt = O.LEADAdam(px, py, lr=1e-2, alpha=0.3, mixed_mode=mode)
        with pytest.warns(RuntimeWarning) if mode == "auto" else _nullcontext():
            for _ in range(3):
                opt.step(closure)
        return [p.detach().clone() for p in px + py]
    assert all(torch.equal(a, b) for a, b in zip(run("auto"), run("double_backward")))


def _nullcontext():
    import contextlib
    return contextlib.nullcontext()


def test_an_in_place_write_into_a_plain_tensor_is_refused_before_it_happens():
    """A module-buffer update from a dual value (forward mode would make the buffer dual;
    a fallback would run the update twice) is refused, and the buffer is untouched."""
    from optimizers._dual import NotReverseSafe
    buf = torch.zeros(8, 6, dtype=DT)
    g = torch.Generator().manual_seed(5)
    x, tx = (torch.randn(8, 5, generator=g, dtype=DT) for _ in range(2))
    W = torch.randn(6, 5, generator=g, dtype=DT, requires_grad=True)
    with dual_level():
        xd = fwAD.make_dual(x, tx)
        for write in (lambda b, h: b.add_(h), lambda b, h: b.__iadd__(h),
                      lambda b, h: torch.add(h, h, out=b)):
            with pytest.raises(NotReverseSafe, match="plain tensor"):
                with Substitute({}, reverse_over_forward=True):
                    write(buf, F.linear(xd, W))
    assert not buf.any()


def test_unused_opponent_parameters_and_shared_flat_buffers_are_fine():
    """Feature-matching style (G's loss never touches D's last layer) and both players'
    parameters as views of ONE flat buffer: reverse over forward == double backward."""
    import optimizers as O
    runs = {}
    for mode in ("reverse_over_forward", "double_backward"):
        torch.manual_seed(0)
        flat = torch.randn(5 * 3 + 3 + 4 * 3 + 2 * 4, dtype=DT)
        chunks = torch.split(flat.clone(), [15, 3, 12, 8])
        Wg, bg, Wd, Wlast = (torch.nn.Parameter(c) for c in chunks)
        z, real = torch.randn(6, 5, dtype=DT), torch.randn(6, 3, dtype=DT)

        def feats(v):
            return torch.tanh(F.linear(v, Wd.view(4, 3)))

        def closure(player):
            fake = F.linear(z, Wg.view(3, 5), bg)
            if player == "x":                       # never uses Wlast
                return (feats(fake).mean(0) - feats(real).mean(0)).pow(2).sum()
            logit = lambda v: F.linear(feats(v), Wlast.view(2, 4)).sum(1)   # noqa: E731
            return F.softplus(-logit(real)).mean() + F.softplus(logit(fake)).mean()
        opt = O.LEADAdam([Wg, bg], [Wd, Wlast], lr=1e-2, alpha=0.3, mixed_mode=mode)
        for _ in range(4):
            opt.step(closure)
        runs[mode] = [p.detach().clone() for p in (Wg, bg, Wd, Wlast)]
    for a, b in zip(runs["reverse_over_forward"], runs["double_backward"]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_auto_stays_with_double_backward_under_data_parallel(monkeypatch):
    """Ranks could not agree on a fallback, so auto never tries the dual evaluation when a
    reducer averages over ranks."""
    from optimizers import autodiff
    calls = []
    monkeypatch.setattr(autodiff.Evaluation, "_dual_loss",
                        lambda self, *a, **k: calls.append(1) or (_ for _ in ()).throw(
                            AssertionError("dual evaluation under a reducer")))
    px, py, closure = _gan(norm=False)
    params = {"x": px, "y": py}
    ev = autodiff.Evaluation(autodiff.GameClosure(closure), params, mixed_mode="auto",
                             second_order=True, reducer=list)
    out = ev.grad_plus_mixed("x", [torch.zeros_like(p) for p in py], 0.3)
    assert not calls and len(out) == len(px)


def test_private_torch_canary():
    """The package's only private torch APIs, both used in optimizers/_dual.py alone,
    still behave as that module relies on. A failure here after a torch upgrade names
    the call to replace: ``torch._unpack_dual`` (by the public, slower
    ``fwAD.unpack_dual`` in ``split_dual``) or ``torch.autograd.function.
    BackwardCFunction`` (the class of a custom ``autograd.Function``'s graph node, in
    ``custom_function`` and ``Substitute._check``)."""
    version = torch.__version__
    assert callable(getattr(torch, "_unpack_dual", None)), \
        f"torch {version} has no torch._unpack_dual: replace it in optimizers/_dual.split_dual"
    x, t = torch.randn(3, dtype=DT), torch.randn(3, dtype=DT)
    with dual_level() as level:
        d = fwAD.make_dual(x, t)
        primal, tangent = torch._unpack_dual(d, level)
        public = fwAD.unpack_dual(d)
        assert torch.equal(primal, public.primal) and torch.equal(tangent, public.tangent), \
            f"torch {version}: torch._unpack_dual disagrees with fwAD.unpack_dual"
        assert torch._unpack_dual(x, level)[1] is None, \
            f"torch {version}: torch._unpack_dual gives a plain tensor a tangent"
    cls = getattr(torch.autograd.function, "BackwardCFunction", None)
    assert isinstance(cls, type), \
        f"torch {version} has no torch.autograd.function.BackwardCFunction (optimizers/_dual.py)"

    class Twice(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return 2 * a

        @staticmethod
        def backward(ctx, g):
            return 2 * g
    a = torch.randn(3, dtype=DT, requires_grad=True)
    assert isinstance(Twice.apply(a).grad_fn, cls), \
        f"torch {version}: a custom Function's node is no longer a BackwardCFunction"
    assert not isinstance((2 * a).grad_fn, cls), \
        f"torch {version}: a built-in op's node is a BackwardCFunction"


def test_optimizers_use_no_other_private_torch_call():
    """Outside optimizers/_dual.py (canary above), no ``torch._x`` call but the ``_foreach``
    family (the formulas torch.optim's foreach Adam itself runs; issue 17)."""
    import pathlib
    import re
    root = pathlib.Path(__file__).resolve().parent.parent / "optimizers"
    found = {}
    for path in sorted(root.glob("*.py")):
        if path.name == "_dual.py":
            continue
        text = path.read_text()
        hits = set(re.findall(r"torch\._[A-Za-z]\w*", text)) | set(
            re.findall(r"fwAD\._\w+", text))
        hits = {h for h in hits if not h.startswith("torch._foreach_")}
        if hits:
            found[path.name] = sorted(hits)
    assert not found, found
