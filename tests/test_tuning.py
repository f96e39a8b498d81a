"""Tuning to optimality against closed-form optima."""
import numpy as np
import pytest

from integrators.tuning import tune
from mechanics import bilinear, coop_adversarial, quadratic


@pytest.mark.parametrize("strategy", ["nelder-mead", "differential_evolution"])
def test_gda_optimum_matches_closed_form(strategy):
    """|1 - eta h -+ i eta s|^2 = (1 - eta h)^2 + eta^2 s^2 is smallest at
    eta = h / (h^2 + s_max^2), with radius s_max / sqrt(h^2 + s_max^2)."""
    h, s = 0.5, 2.0
    r = tune("gda", quadratic(h, np.diag([1.0, s])), strategy=strategy, maxiter=30)
    assert r.params["lr"] == pytest.approx(h / (h * h + s * s), rel=1e-6)
    assert r.spectral_radius == pytest.approx(s / np.hypot(h, s), abs=1e-10)


def test_heavy_ball_optimum_is_polyaks():
    """A cooperative game (gamma = 0 in eq. 31) is minimisation with grad v eigenvalues
    {1, 4, 2, 8}: heavy ball's optimum is rho = (sqrt(L) - sqrt(m)) / (sqrt(L) + sqrt(m))
    at eta = 4 / (sqrt(L) + sqrt(m))^2, beta = rho^2."""
    g = coop_adversarial([0.0, 0.0], B1=np.diag([0.5, 2.0]), B2=np.diag([1.0, 4.0]))
    L, m = 8.0, 1.0
    rho = (np.sqrt(L) - np.sqrt(m)) / (np.sqrt(L) + np.sqrt(m))
    r = tune("momentum", g, maxiter=25, popsize=10)
    assert r.spectral_radius == pytest.approx(rho, abs=1e-6)
    assert r.params["lr"] == pytest.approx(4 / (np.sqrt(L) + np.sqrt(m)) ** 2, rel=1e-3)
    assert r.params["beta"] == pytest.approx(rho**2, rel=1e-3)


def test_fixed_hyperparameters_and_bounds_are_respected():
    g = bilinear(np.diag([1.0, 2.0]))
    r = tune("lead", g, fixed={"beta": 0.0}, bounds={"alpha": (0.1, 0.2)},
             strategy="nelder-mead", starts=4)
    assert r.params["beta"] == 0.0 and 0.1 <= r.params["alpha"] <= 0.2
    assert r.tuned == ("lr", "alpha") and r.spectral_radius < 1
    # GDA cannot converge on a bilinear game (Fig. 1); tuned LEAD does
    assert tune("gda", g, strategy="nelder-mead", starts=4).spectral_radius >= 1


def test_bad_input():
    g = bilinear()
    with pytest.raises(ValueError, match="strategy"):
        tune("gda", g, strategy="grid")
    with pytest.raises(ValueError, match="nothing to tune"):
        tune("gda", g, fixed={"lr": 0.1})
    with pytest.raises(ValueError, match="low < high"):
        tune("gda", g, bounds={"lr": (1.0, 0.5)})
    with pytest.raises(ValueError, match="no hyperparameter 'beta'"):
        tune("gda", g, bounds={"beta": (0, 1)})
