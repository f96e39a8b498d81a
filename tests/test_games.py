"""Games: autograd derivatives against hand-written numpy formulas and finite differences."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mechanics as M


def t(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def test_quadratic_gradients_and_mixed_match_numpy(rng):
    n = 3
    A, h = rng.normal(size=(n, n)), 0.7
    g = M.quadratic(h, A)
    x, y, dx, dy = (rng.normal(size=n) for _ in range(4))
    gx, gy = g.vector_field(t(x), t(y))
    np.testing.assert_allclose(gx.detach(), h * x + A @ y, rtol=1e-13)
    np.testing.assert_allclose(gy.detach(), -(-h * y + A.T @ x), rtol=1e-13)  # grad_y(-f)
    mx, my = g.mixed(t(x), t(y), t(dx), t(dy))
    np.testing.assert_allclose(mx.detach(), A @ dy, rtol=1e-13)
    np.testing.assert_allclose(my.detach(), -A.T @ dx, rtol=1e-13)
    J = np.block([[h * np.eye(n), A], [-A.T, h * np.eye(n)]])  # LEAD eq. 47
    np.testing.assert_allclose(g.jacobian(x, y), J, atol=1e-13)
    jx, jy = g.hvp(t(x), t(y), t(dx), t(dy))
    np.testing.assert_allclose(np.concatenate([jx.detach(), jy.detach()]),
                               J @ np.concatenate([dx, dy]), rtol=1e-12)


def test_rectangular_bilinear_and_general_sum(rng):
    A = rng.normal(size=(2, 3))
    g = M.bilinear(A)
    assert (g.n, g.m) == (2, 3)
    x, y = rng.normal(size=2), rng.normal(size=3)
    gx, gy = g.vector_field(t(x), t(y))
    np.testing.assert_allclose(gx.detach(), A @ y)
    np.testing.assert_allclose(gy.detach(), -A.T @ x)
    # a general-sum game: each player has its own loss
    gs = M.Game(lambda x, y: (x**2).sum(-1) * (y**2).sum(-1), lambda x, y: ((x - y) ** 2).sum(-1), 2, 2)
    x, y, dx, dy = (rng.normal(size=2) for _ in range(4))
    mx, my = gs.mixed(t(x), t(y), t(dx), t(dy))
    np.testing.assert_allclose(mx.detach(), 4 * x * (y @ dy), rtol=1e-12)   # d/dy (2x|y|^2) . dy
    np.testing.assert_allclose(my.detach(), -2 * dx, rtol=1e-12)            # d/dx (-2(x-y)) . dx


@pytest.mark.parametrize("name", sorted(M.GAMES))
def test_every_catalogue_game_is_stationary_at_its_equilibrium(name):
    g = M.make_game(name)
    xs, ys = g.equilibrium_tensors()
    gx, gy = g.vector_field(xs, ys)
    assert torch.allclose(gx, torch.zeros_like(gx), atol=1e-14)
    assert torch.allclose(gy, torch.zeros_like(gy), atol=1e-14)


@pytest.mark.parametrize("name", sorted(M.GAMES))
def test_autograd_jacobian_matches_central_differences(name, rng):
    g = M.make_game(name)
    x, y = rng.normal(size=g.n) * 0.7, rng.normal(size=g.m) * 0.7
    z, eps = np.concatenate([x, y]), 1e-6

    def v(z):
        a, b = g.vector_field(t(z[: g.n]), t(z[g.n:]))
        return np.concatenate([a.detach().numpy(), b.detach().numpy()])
    fd = np.stack([(v(z + eps * e) - v(z - eps * e)) / (2 * eps) for e in np.eye(len(z))], 1)
    np.testing.assert_allclose(g.jacobian(x, y), fd, atol=1e-6 * (1 + np.abs(fd).max()))


def test_fr_games_match_hand_derivatives():
    x, y = 0.3, -0.7
    g1, g2 = M.fr_g1(), M.fr_g2()
    assert np.allclose(g1.jacobian([x], [y]), [[-6, 4], [-4, 2]])   # v = (g_x, -g_y)
    assert np.allclose(g2.jacobian([x], [y]), [[6, 4], [-4, -2]])
    Hxx, Hxy, Hyx, Hyy = g1.hessian_blocks([0.0], [0.0])
    assert float(Hxx) == -6 and float(Hxy) == 4 and float(Hyy) == -2


def test_dirac_gan_is_a_rotation_at_equilibrium():
    J = M.dirac_gan().jacobian([0.0], [0.0]).numpy()
    np.testing.assert_allclose(J, [[0, -0.5], [0.5, 0]], atol=1e-15)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_batched_evaluation_equals_one_at_a_time(n, seed):
    rng = np.random.default_rng(seed)
    g = M.quadratic(rng.normal(), rng.normal(size=(n, n)))
    X, Y, DX, DY = (t(rng.normal(size=(5, n))) for _ in range(4))
    bx, by = g.mixed(X, Y, DX, DY)
    for i in range(5):
        mx, my = g.mixed(X[i], Y[i], DX[i], DY[i])
        assert torch.allclose(bx[i], mx, rtol=1e-13) and torch.allclose(by[i], my, rtol=1e-13)


def test_float32_stays_float32():
    g = M.quadratic(0.5, [[1.0, 2.0], [0.0, 1.0]])
    gx, gy = g.vector_field(torch.ones(2, dtype=torch.float32), torch.ones(2, dtype=torch.float32))
    assert gx.dtype == torch.float32 and gy.dtype == torch.float32


@pytest.mark.parametrize("bad, match", [
    (lambda: M.bilinear([[1, 2], [3]]), "numeric matrix"),
    (lambda: M.bilinear([[float("nan")]]), "non-finite"),
    (lambda: M.quadratic(0.0, [[1, 2, 3], [4, 5, 6]]), "square"),
    (lambda: M.quadratic(float("inf")), "finite"),
    (lambda: M.make_game("nope"), "unknown game 'nope'; valid games"),
    (lambda: M.coop_adversarial([0.1, 0.2], A=np.eye(3)), "gamma has 2 entries"),
    (lambda: M.Game(lambda x, y: x, lambda x, y: y, 0, 1), "positive integer"),
])
def test_bad_games_raise_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()
