"""Reliability of the optimizers (issue 18): closures whose losses cannot be differentiated
are refused, FR resumes exactly in float32, and CG's default tolerance fits the dtype."""
from __future__ import annotations

import io

import pytest
import torch

import optimizers as O
from optimizers.cgd import conjugate_gradient
try:
    from optimizers.cgd import default_cg_tol
except ImportError:  # before the fix
    default_cg_tol = None


def _players(dtype=torch.float64, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=dtype).requires_grad_()
    y = torch.randn(n, generator=g, dtype=dtype).requires_grad_()
    A = torch.randn(n, n, generator=g, dtype=dtype)
    return x, y, A


MAKERS = {
    "GDA": lambda x, y: O.GDA([x], [y], lr=0.1),
    "LEAD": lambda x, y: O.LEAD([x], [y], lr=0.1, beta=0.5, alpha=0.1),
    "LEADAdam": lambda x, y: O.LEADAdam([x], [y], lr=0.1, alpha=0.1),
    "ExtraAdam": lambda x, y: O.ExtraAdam([x], [y], lr=0.1),
    "CO": lambda x, y: O.CO([x], [y], lr=0.1),
    "CGD": lambda x, y: O.CGD([x], [y], lr=0.1),
    "FR": lambda x, y: O.FR([x], [y], lr=0.1),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("form", ["detached pair", "floats", "detached per player"])
def test_closure_without_grad_is_refused(name, form):
    x, y, A = _players()
    opt = MAKERS[name](x, y)
    x0, y0 = x.detach().clone(), y.detach().clone()

    def f():
        return x @ A @ y + 0.1 * (x @ x)

    closures = {"detached pair": lambda: (f().detach(), -f().detach()),
                "floats": lambda: (float(f()), -float(f())),
                "detached per player": lambda player: (f() if player == "x" else -f()).detach()}
    with pytest.raises(ValueError, match="does not require grad"):
        opt.step(closures[form])
    assert opt.game_step == 0, "the step counter advanced without an update"
    assert torch.equal(x, x0) and torch.equal(y, y0)
    opt.step(lambda: (f(), -f()))             # a proper closure still works afterwards
    assert opt.game_step == 1 and not torch.equal(x, x0)


def _fr_problem(dtype):
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).to(dtype)
    D = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).to(dtype)
    z, real = torch.randn(32, 3, dtype=dtype), torch.randn(32, 2, dtype=dtype) + 1.0

    def closure():
        f = torch.nn.functional.softplus(-D(real)).mean() + torch.nn.functional.softplus(D(G(z))).mean()
        return -f, f
    return G, D, closure


def _fr(G, D):
    return O.FR(list(G.parameters()), list(D.parameters()), lr=0.05, momentum=0.5,
                preconditioner="rmsprop", damping=0.1, adaptive_damping=True, cg_max_iter=10)


def test_fr_float32_resume_from_state_dict_is_bitwise_exact():
    """The Levenberg-Marquardt lambda survives ``state_dict``/``load_state_dict`` exactly
    (it used to be a float64 tensor that torch.optim casts to the parameters' float32)."""
    G, D, closure = _fr_problem(torch.float32)
    opt = _fr(G, D)
    for _ in range(6):
        opt.step(closure)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "G": G.state_dict(), "D": D.state_dict()}, buf)
    lam_before = opt.damping_value
    for _ in range(6):
        opt.step(closure)

    G2, D2, closure2 = _fr_problem(torch.float32)
    saved = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    G2.load_state_dict(saved["G"])
    D2.load_state_dict(saved["D"])
    opt2 = _fr(G2, D2)
    opt2.load_state_dict(saved["opt"])
    assert opt2.damping_value == lam_before
    for _ in range(6):
        opt2.step(closure2)
    assert opt2.damping_value == opt.damping_value
    for a, b in zip(list(G.parameters()) + list(D.parameters()),
                    list(G2.parameters()) + list(D2.parameters())):
        assert torch.equal(a, b)


@pytest.mark.parametrize("cls", [O.CGD, O.FR])
def test_cg_tol_default_follows_the_dtype(cls):
    for dtype, want in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        x, y, _ = _players(dtype)
        assert cls([x], [y], lr=0.1).options["cg_tol"] == want == default_cg_tol(dtype)
    x, y, _ = _players(torch.float32)
    assert cls([x], [y], lr=0.1, cg_tol=1e-9).options["cg_tol"] == 1e-9   # explicit wins


def test_float32_cg_stops_at_the_default_tolerance_not_the_dimension():
    """A float32 system whose true residual stalls near 3e-5: the old default 1e-12 ran CG
    to the dimension (400 iterations); the dtype's default stops about halfway with the same
    true residual."""
    torch.manual_seed(0)
    n = 400
    Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64))
    A = (Q * torch.logspace(0, 3, n, dtype=torch.float64)) @ Q.T
    b = torch.randn(n, dtype=torch.float64)
    A32, b32 = A.float(), b.float()

    def true_residual(res):
        return float((A @ res.x[0].double() - b).norm() / b.norm())
    old = conjugate_gradient(lambda v: [A32 @ v[0]], [b32], tol=1e-12)
    new = conjugate_gradient(lambda v: [A32 @ v[0]], [b32], tol=default_cg_tol(torch.float32))
    assert old.iterations == n
    assert new.iterations < 0.7 * n
    assert true_residual(new) < 2 * true_residual(old)
