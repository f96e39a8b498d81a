"""Fast vector fields (mechanics.fields) against today's autograd field, to rounding.

The reference is ``Particle.vector_field`` / ``GradientFlow.vector_field`` (autograd of the
losses). The closed form of a constant-Hessian game differs from it only by the order of
floating-point sums, so the bound is the standard one for a dot product: a few units of
roundoff times the dimension times the sum of the magnitudes of the terms
(``|M| |z| + |c|``, with M from central differences of the reference field, which are
exact up to rounding for an affine map, and independent of how either field is built).
"""
import numpy as np
import pytest
import torch

import mechanics as M
from mechanics.fields import DENSE_MAX_DIM, FastField
from integrators import simulate

EPS = np.finfo(np.float64).eps
FORCE_SETS = [
    lambda: M.Curl() + M.Magnetic(2.5) + M.Friction(0.5),
    lambda: M.Curl(),
    lambda: M.Magnetic(1.5, "slides") + M.Friction(0.3),
    lambda: M.Curl() + M.Curl() + M.Friction(0.1) + M.Magnetic(0.7) + M.Magnetic(-0.2),
    lambda: M.Friction(0.4),
]
LINEAR = {"bilinear", "quadratic", "coop-adversarial", "gamma-quadratic", "fr-g1", "fr-g2",
          "fr-e2-quadratic"}


def rounding_bound(dyn, z: torch.Tensor) -> np.ndarray:
    """``8 dim eps (|J| |z| + |F(0)|)``, J by central differences of the reference field
    (exact to rounding for these affine fields; only its magnitudes enter the bound)."""
    eye = torch.eye(dyn.dim, dtype=torch.float64)
    J = ((dyn.vector_field(0.0, eye) - dyn.vector_field(0.0, -eye)) / 2).T.detach().numpy()
    c = dyn.vector_field(0.0, torch.zeros(dyn.dim, dtype=torch.float64)).detach().numpy()
    return 8 * dyn.dim * EPS * (np.abs(z.numpy()) @ np.abs(J).T + np.abs(c))


@pytest.mark.parametrize("name", sorted(M.GAMES))
@pytest.mark.parametrize("forces", range(len(FORCE_SETS)))
def test_every_catalogue_game_matches_the_autograd_field(rng, name, forces):
    dyn = M.Particle(M.make_game(name), FORCE_SETS[forces](), mass=1.7)
    field = dyn.fast_field()
    z = torch.as_tensor(rng.normal(size=(6, 3, dyn.dim)) * 3)
    fast, ref = field(0.0, z), dyn.vector_field(0.0, z)
    assert fast.shape == ref.shape and fast.dtype == ref.dtype
    if name in LINEAR:
        assert field.kind == "linear"
        err = np.abs((fast - ref).numpy())
        assert (err <= rounding_bound(dyn, z.reshape(-1, dyn.dim)).reshape(err.shape)).all()
        M_, c = field.matrix  # the numpy form serves scipy: the same map
        np.testing.assert_allclose(z.numpy() @ M_.T + c, ref.numpy(), rtol=1e-12, atol=1e-12)
    else:  # fr-g3, dirac-gan: no closed form, the autograd field itself
        assert field.kind == "autograd"
        assert torch.equal(fast, ref)


@pytest.mark.parametrize("name", sorted(M.GAMES))
def test_gradient_flows_match(rng, name):
    flow = M.GradientFlow(M.make_game(name))
    z = torch.as_tensor(rng.normal(size=(5, flow.dim)))
    fast, ref = flow.fast_field()(0.0, z), flow.vector_field(0.0, z)
    assert flow.fast_field().kind == ("linear" if name in LINEAR else "autograd")
    assert (np.abs((fast - ref).numpy()) <= rounding_bound(flow, z)).all()


@pytest.mark.parametrize("n, h", [(50, 0.1), (20, 0.0), (9, -0.3)])
def test_block_form_of_large_games(rng, n, h):
    """Phase dimension above DENSE_MAX_DIM uses the block form (diagonal blocks as vectors)."""
    A = rng.normal(size=(n, n)) / np.sqrt(n)
    game = M.quadratic(h, A) if h else M.bilinear(A)
    for forces in FORCE_SETS:
        dyn = M.Particle(game, forces(), mass=0.8)
        assert dyn.dim > DENSE_MAX_DIM
        z = torch.as_tensor(rng.normal(size=(40, dyn.dim)))
        fast, ref = dyn.fast_field()(0.0, z), dyn.vector_field(0.0, z)
        assert (np.abs((fast - ref).numpy()) <= rounding_bound(dyn, z)).all()
        z3 = z.reshape(4, 10, dyn.dim)  # any leading batch shape
        torch.testing.assert_close(dyn.fast_field()(0.0, z3), fast.reshape(4, 10, dyn.dim),
                                   rtol=1e-14, atol=1e-14)
    # and the coop-adversarial game, whose diagonal blocks are full matrices
    B1 = rng.normal(size=(n, n))
    coop = M.Particle(M.coop_adversarial(rng.uniform(0, 1, n), A, B1, B1.T), M.Curl())
    z = torch.as_tensor(rng.normal(size=(3, coop.dim)))
    err = np.abs((coop.fast_field()(0.0, z) - coop.vector_field(0.0, z)).numpy())
    assert (err <= rounding_bound(coop, z)).all()


def test_float32_and_a_general_sum_affine_game(rng):
    """A user's own general-sum game with linear terms (v(0) != 0), flagged quadratic."""
    P, Q = rng.normal(size=(2, 3)), rng.normal(size=(3, 2))
    Pt, Qt = torch.as_tensor(P), torch.as_tensor(Q)

    def lx(x, y):
        return (x * x).sum(-1) + torch.einsum("...i,ij,...j->...", x, Pt.to(x), y) + x[..., 0]

    def ly(x, y):
        return 0.5 * (y * y).sum(-1) - torch.einsum("...i,ij,...j->...", y, Qt.to(y), x) - 2 * y[..., 1]
    game = M.Game(lx, ly, 2, 3)
    game.constant_hessian = True
    dyn = M.Particle(game, M.Curl() + M.Magnetic(1.3) + M.Friction(0.2))
    z = torch.as_tensor(rng.normal(size=(4, dyn.dim)))
    field = dyn.fast_field()
    assert field.kind == "linear" and field.matrix[1].any()
    assert (np.abs((field(0.0, z) - dyn.vector_field(0.0, z)).numpy())
            <= rounding_bound(dyn, z)).all()
    z32 = z.float()
    out = field(0.0, z32)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, dyn.vector_field(0.0, z32), rtol=1e-5, atol=1e-5)


def test_a_wrong_constant_hessian_flag_falls_back_to_autograd(rng):
    game = M.ZeroSumGame(lambda x, y: (x ** 3).sum(-1) * y[..., 0], 2, 1)
    game.constant_hessian = True  # wrong: the field is not affine
    dyn = M.Particle(game, M.Curl() + M.Friction(0.1))
    z = torch.as_tensor(rng.normal(size=(5, dyn.dim)))
    field = dyn.fast_field()
    out = field(0.0, z)
    assert field.kind == "autograd"
    assert torch.equal(out, dyn.vector_field(0.0, z))


def test_user_forces_games_and_dynamics_use_the_autograd_field(rng):
    def drag(game, s):  # a user-written force
        return -0.3 * s.vx ** 3, -0.3 * s.vy ** 3
    z = torch.as_tensor(rng.normal(size=(4, 4)))
    for force in (drag, M.Curl() + drag):
        dyn = M.Particle(M.bilinear(), force)
        assert dyn.fast_field().kind == "autograd"
        assert torch.equal(dyn.fast_field()(0.0, z), dyn.vector_field(0.0, z))

    class Scaled(M.ZeroSumGame):  # overrides its derivatives: never bypassed
        def vector_field(self, x, y):
            gx, gy = super().vector_field(x, y)
            return 2 * gx, 2 * gy
    game = Scaled(lambda x, y: (x * y).sum(-1), 1, 1)
    game.constant_hessian = True
    assert M.Particle(game, M.Curl()).fast_field().kind == "autograd"

    class Custom(M.Particle):
        def vector_field(self, t, z):
            return super().vector_field(t, z) * (1 + t)
    assert Custom(M.bilinear(), M.Curl()).fast_field().kind == "autograd"


def test_a_quadratic_game_with_trainable_parameters_keeps_its_gradients(rng):
    """constant_hessian on losses that close over a parameter: the closed form would cut
    the gradient to it, so the autograd field is used and d final / d A is right."""
    A = torch.tensor([[0.7]], dtype=torch.float64, requires_grad=True)
    game = M.ZeroSumGame(lambda x, y: torch.einsum("...i,ij,...j->...", x, A, y), 1, 1)
    game.constant_hessian = True
    dyn = M.Particle(game, M.Curl() + M.Friction(0.5))
    assert dyn.fast_field().kind == "autograd"
    # the autograd field keeps its graph when the state is differentiated (as before)
    z0 = torch.tensor([1.0, 0.5, 0.0, 0.0], dtype=torch.float64, requires_grad=True)

    def final_x(a):
        g = M.ZeroSumGame(lambda x, y: torch.einsum("...i,ij,...j->...", x, a, y), 1, 1)
        return simulate(M.Particle(g, M.Curl() + M.Friction(0.5)), z0, [0.0, 1.0],
                        method="rk4", options={"step_size": 0.05}).final[0]
    final_x(A).backward()
    assert A.grad is not None and A.grad.abs().item() > 0
    assert torch.autograd.gradcheck(final_x, (A,), atol=1e-6)


def test_the_cache_follows_the_dynamics():
    dyn = M.Particle(M.bilinear(), M.Curl())
    first = dyn.fast_field()
    assert isinstance(first, FastField) and dyn.fast_field() is first
    dyn.force = M.Curl() + M.Friction(1.0)  # a new force rebuilds the field
    z = torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    assert dyn.fast_field() is not first
    torch.testing.assert_close(dyn.fast_field()(0.0, z), dyn.vector_field(0.0, z))


# ---------------------------------------------------------- gradients through simulate
def _expm_gradient(dyn, z0, t):
    """d sum(z(t)) / d z0 = expm(M t)^T 1 for the affine field (M from autograd)."""
    import scipy.linalg
    J = dyn.jacobian(torch.zeros(dyn.dim, dtype=torch.float64)).numpy()
    return scipy.linalg.expm(J * t).T @ np.ones(dyn.dim)


@pytest.mark.parametrize("backend, adjoint, n", [("torchdiffeq", False, 2),
                                                 ("torchdiffeq", True, 2),
                                                 ("torchode", False, 2),
                                                 ("torchdiffeq", False, 9)])  # block form
def test_gradients_through_simulate_on_the_closed_form(rng, backend, adjoint, n):
    if backend == "torchode":
        pytest.importorskip("torchode")
    dyn = M.Particle(M.quadratic(0.2, rng.normal(size=(n, n)) / np.sqrt(n)),
                     M.Curl() + M.Magnetic(4.5) + M.Friction(0.5))
    assert dyn.fast_field().kind == "linear"
    z0 = torch.as_tensor(rng.normal(size=(3, dyn.dim)), dtype=torch.float64).requires_grad_()
    traj = simulate(dyn, z0, [0.0, 0.7, 1.5], backend=backend, adjoint=adjoint,
                    rtol=1e-10, atol=1e-12)
    traj.final.sum().backward()
    want = _expm_gradient(dyn, z0, 1.5)
    # the solver's tolerance 1e-10 bounds the error of the differentiated solve
    np.testing.assert_allclose(z0.grad.numpy(), np.tile(want, (3, 1)), rtol=1e-6, atol=1e-7)


def test_gradients_through_simulate_on_the_autograd_field(rng):
    """dirac-gan has no closed form: gradcheck through a fixed-step solve still passes."""
    dyn = M.Particle(M.dirac_gan(), M.Curl() + M.Magnetic(1.0) + M.Friction(0.3))
    z0 = torch.as_tensor(rng.normal(size=dyn.dim), dtype=torch.float64).requires_grad_()

    def final(z):
        return simulate(dyn, z, [0.0, 0.3], method="rk4", options={"step_size": 0.05}).final
    assert torch.autograd.gradcheck(final, (z0,), atol=1e-6)


@pytest.mark.parametrize("name", ["quadratic", "dirac-gan"])
def test_numpy_right_hand_side_and_jacobian_for_scipy(rng, name):
    """numpy in, numpy out, for one state (dim,) and for solve_ivp's vectorized (dim, k)."""
    dyn = M.Particle(M.make_game(name), M.Curl() + M.Magnetic(2.5) + M.Friction(0.5))
    field = dyn.fast_field()
    Z = rng.normal(size=(dyn.dim, 5))
    rhs = field.numpy(Z[:, 0])
    ref = dyn.vector_field(0.0, torch.as_tensor(Z.T)).detach().numpy().T
    one = rhs(0.0, Z[:, 0])
    assert isinstance(one, np.ndarray) and one.shape == (dyn.dim,)
    np.testing.assert_allclose(one, ref[:, 0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(rhs(0.0, Z), ref, rtol=1e-13, atol=1e-13)
    jac = field.numpy_jacobian()(0.0, Z[:, 0])
    want = dyn.jacobian(torch.as_tensor(Z[:, 0])).numpy()
    np.testing.assert_allclose(jac, want, rtol=1e-12, atol=1e-12)
    traj = simulate(dyn, Z[:, 0], [0.0, 0.5], backend="scipy", method="BDF",
                    options={"vectorized": True}, rtol=1e-9, atol=1e-11)
    tight = simulate(dyn, Z[:, 0], [0.0, 0.5], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(traj.final.numpy(), tight.final.numpy(), atol=1e-6)
