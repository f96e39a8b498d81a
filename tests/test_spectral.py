"""Spectral analysis: autograd Jacobians of the implemented step maps against Thm. 2
(eq. 54), eq. 20 and numpy-built matrices on quadratic games (eq. 13)."""
import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from integrators.spectral import (METHODS, Method, gda_formula_eigenvalues,
                                  lead_formula_eigenvalues, register_method, spectrum,
                                  step_jacobian)
from mechanics import bilinear, fr_g1, quadratic


def field_matrix(h, A):
    """grad v of eq. 13 (eq. 47), built in numpy."""
    n = A.shape[0]
    return np.block([[h * np.eye(n), A], [-A.T, h * np.eye(n)]])


def assert_same_spectrum(a, b, tol):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    cost = np.abs(a[:, None] - b[None, :])
    i, j = linear_sum_assignment(cost)
    assert cost[i, j].max() <= tol, cost[i, j].max()


def random_game(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4))
    A = rng.normal(size=(n, n))
    h = float(rng.uniform(0, 0.5))
    hp = {"lr": float(rng.uniform(0.01, 0.5)), "beta": float(rng.uniform(-0.9, 0.9)),
          "alpha": float(rng.uniform(0, 1.0))}
    return h, A, hp


@pytest.mark.parametrize("seed", range(12))
def test_thm2_eigenvalues_equal_autograd_jacobian_of_lead_step(seed):
    h, A, hp = random_game(seed)
    game = quadratic(h, A)
    s = spectrum("lead", game, **hp)
    formula = lead_formula_eigenvalues(game, **hp)
    assert s.eigenvalues.shape == (4 * A.shape[0],)
    assert_same_spectrum(s.eigenvalues, formula, 1e-9)
    assert abs(s.spectral_radius - s.formula_spectral_radius) <= 1e-9
    # the Jacobian itself is eq. 52 (the coupling acts through off-diag[grad v] only)
    n2 = 2 * A.shape[0]
    DP = field_matrix(0.0, A)
    eq52 = np.block([[(1 + hp["beta"] - hp["lr"] * h) * np.eye(n2) - (hp["lr"] + hp["alpha"]) * DP,
                      -hp["beta"] * np.eye(n2) + hp["alpha"] * DP],
                     [np.eye(n2), np.zeros((n2, n2))]])
    assert np.abs(s.jacobian - eq52).max() <= 1e-13


def test_eq22_full_jacobian_is_not_the_lead_step():
    """README slip: eq. 22 couples through the full grad v; with h != 0 its spectrum differs."""
    h, A, hp = 0.4, np.array([[1.0, 0.3], [0.2, 0.8]]), {"lr": 0.2, "beta": 0.3, "alpha": 0.5}
    J, n2 = field_matrix(h, A), 4
    eq22 = np.block([[(1 + hp["beta"]) * np.eye(n2) - (hp["lr"] + hp["alpha"]) * J,
                      -hp["beta"] * np.eye(n2) + hp["alpha"] * J], [np.eye(n2), np.zeros((n2, n2))]])
    s = spectrum("lead", quadratic(h, A), **hp)
    assert np.abs(np.sort(np.abs(np.linalg.eigvals(eq22))) - np.sort(np.abs(s.eigenvalues))).max() > 1e-3


@pytest.mark.parametrize("seed", range(4))
def test_gda_eg_ogda_momentum_match_numpy_matrices(seed):
    h, A, hp = random_game(100 + seed)
    game, J, lr, beta = quadratic(h, A), field_matrix(h, A), hp["lr"], hp["beta"]
    I, Z = np.eye(len(J)), np.zeros_like(J)
    expected = {
        "gda": I - lr * J,                                          # eq. 19
        "eg": I - lr * J + lr**2 * J @ J,
        "ogda": np.block([[I - 2 * lr * J, lr * J], [I, Z]]),
        "momentum": np.block([[(1 + beta) * I - lr * J, -beta * I], [I, Z]]),  # notes eq. 17
    }
    for name, M in expected.items():
        kw = {"lr": lr, "beta": beta} if name == "momentum" else {"lr": lr}
        got = step_jacobian(name, game, **kw).numpy()
        assert np.abs(got - M).max() <= 1e-13, name
    # eq. 20: Sp(grad F_gda) = 1 - eta h - eta Sp(off-diag)
    assert_same_spectrum(spectrum("gda", game, lr=lr).eigenvalues,
                         gda_formula_eigenvalues(game, lr), 1e-12)
    # EG's closed form: 1 - eta lam + eta^2 lam^2, lam in Sp(grad v)
    lam = np.linalg.eigvals(J)
    assert_same_spectrum(spectrum("eg", game, lr=lr).eigenvalues, 1 - lr * lam + (lr * lam) ** 2,
                         1e-12)


def test_complex_momentum_matches_complex_arithmetic():
    """The real 3-block state map equals one step of b' = beta b - v(z), z' = z + lr Re(b')
    done in numpy complex arithmetic, applied to each basis vector."""
    h, A = 0.2, np.array([[1.0, 0.5], [-0.3, 2.0]])
    J = field_matrix(h, A)
    lr, r, phi = 0.3, 0.7, 0.9
    beta = r * np.exp(1j * phi)
    d = len(J)
    cols = []
    for e in np.eye(3 * d):
        z, b = e[:d], e[d:2 * d] + 1j * e[2 * d:]
        b_new = beta * b - J @ z
        cols.append(np.concatenate([z + lr * b_new.real, b_new.real, b_new.imag]))
    expected = np.array(cols).T
    got = step_jacobian("complex-momentum", quadratic(h, A), lr=lr, beta_abs=r, beta_arg=phi)
    assert np.abs(got.numpy() - expected).max() <= 1e-13


def test_spectral_radius_is_the_largest_modulus_not_its_square():
    s = spectrum("gda", bilinear([[2.0]]), lr=0.5)
    # eigenvalues 1 -+ i eta sigma = 1 -+ i: radius sqrt(2), not 2
    assert s.spectral_radius == pytest.approx(math.sqrt(2), abs=1e-14)


def test_fig1_gda_never_converges_on_bilinear_but_lead_does():
    game = bilinear(np.diag([1.0, 2.0]))
    for lr in (1e-3, 0.1, 0.5, 1.0):
        assert spectrum("gda", game, lr=lr).spectral_radius > 1
    assert spectrum("lead", game, lr=0.1, beta=0.0, alpha=0.3).spectral_radius < 1


def test_formula_needs_eq13_structure():
    s = spectrum("lead", fr_g1())
    assert s.formula_eigenvalues is None and "eq. 13" in s.formula_note
    assert s.as_dict()["formula_spectral_radius"] is None


def test_registry_and_bad_input():
    with pytest.raises(ValueError, match="valid methods: gda"):
        spectrum("adam", bilinear())
    with pytest.raises(ValueError, match="takes no hyperparameter 'alpha'"):
        spectrum("gda", bilinear(), alpha=0.1)
    with pytest.raises(ValueError, match="finite"):
        spectrum("gda", bilinear(), lr=float("nan"))
    with pytest.raises(ValueError, match="already registered"):
        register_method(METHODS["gda"])
    with pytest.raises(ValueError, match="needs a default"):
        Method("x", ("lr",), {}, {}, 1, lambda g, s, hp: s)
    for name in ("gda", "eg", "ogda", "momentum", "lead", "complex-momentum",
                 "positive-momentum", "negative-momentum"):
        assert name in METHODS


def test_user_method_can_be_registered_and_analysed():
    def damped(game, s, hp):  # z - lr v(z) - lr z : GDA plus weight decay
        return METHODS["gda"].step(game, s, hp) - hp["lr"] * s
    m = Method("gda-decay-test", ("lr",), {"lr": 0.1}, {"lr": (1e-3, 1.0)}, 1, damped)
    register_method(m)
    try:
        J = step_jacobian("gda-decay-test", bilinear(), lr=0.1).numpy()
        assert np.allclose(J, np.eye(2) - 0.1 * field_matrix(0.0, np.eye(1)) - 0.1 * np.eye(2),
                           atol=1e-14)
    finally:
        del METHODS["gda-decay-test"]


def test_figure1_plot(tmp_path):
    from mechanics.utils.figures import save_figure
    from gamemech.spectrum_plots import figure1
    fig = figure1(bilinear(np.diag([1.0, 2.0])), ["gda", "lead"], lr=0.1, alpha=0.3, beta=0.0)
    out = tmp_path / "fig1.png"
    save_figure(fig, out)
    assert out.stat().st_size > 1000
