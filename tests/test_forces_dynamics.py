"""Forces and the particle against eq. 36 written out in numpy."""
import numpy as np
import pytest
import torch

import mechanics as M
from conftest import quadratic_phase_matrix


@pytest.mark.parametrize("convention, factor", [("eq7", 1.0), ("slides", 2.0)])
@pytest.mark.parametrize("mass", [1.0, 2.5])
def test_particle_is_eq36(rng, convention, factor, mass):
    n, h, mu, q = 3, 0.4, 0.3, 1.7
    A = rng.normal(size=(n, n))
    p = M.Particle(M.quadratic(h, A), M.Curl() + M.Magnetic(q, convention) + M.Friction(mu), mass)
    P = quadratic_phase_matrix(h, A, mu, factor * q, mass)
    z = rng.normal(size=(4, 4 * n))
    out = p.vector_field(0.0, torch.from_numpy(z)).detach().numpy()
    np.testing.assert_allclose(out, z @ P.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p.jacobian().numpy(), P, atol=1e-13)


@pytest.mark.parametrize("names", [["curl"], ["curl", "friction"], ["curl", "magnetic"],
                                   ["magnetic", "friction"]])
def test_force_subsets(rng, names):
    n, h, mu, q = 2, 0.2, 0.6, 0.9
    A = rng.normal(size=(n, n))
    p = M.Particle(M.quadratic(h, A), M.forces_from_names(names, mu=mu, q=q))
    P = quadratic_phase_matrix(h, A, mu, q, curl="curl" in names, magnetic="magnetic" in names,
                               friction="friction" in names)
    np.testing.assert_allclose(p.jacobian().numpy(), P, atol=1e-13)


def test_forces_compose_flat_and_accept_user_callables():
    gravity = lambda game, s: (-0.1 * torch.ones_like(s.x), torch.zeros_like(s.y))  # noqa: E731
    total = M.Curl() + (M.Friction(0.2) + M.Magnetic(1.0)) + gravity
    assert isinstance(total, M.ForceSum) and len(total.forces) == 4
    p = M.Particle(M.bilinear(), total)
    z = p.state([0.0], [0.0], [1.0], [0.0])
    dz = p.vector_field(0.0, z)
    # at x = y = 0, vx = 1: curl 0, friction -0.2, magnetic on y: +q*1, gravity -0.1 on x
    np.testing.assert_allclose(dz.detach().numpy(), [1.0, 0.0, -0.3, 1.0])


def test_gradient_flow_and_stability():
    g = M.quadratic(0.5, [[0.0, 1.0], [-1.0, 0.0]])
    flow = M.GradientFlow(g)
    eig = flow.eigenvalues()
    np.testing.assert_allclose(sorted(eig.real), [-0.5] * 4, atol=1e-12)
    # bilinear: curl alone is unstable (GDA with momentum 1 diverges); LEAD's q = 2/mu + mu is stable
    bil = M.bilinear()
    assert M.Particle(bil, M.Curl()).max_real_eigenvalue() > 0
    mu = 0.5
    assert M.Particle(bil, M.Curl() + M.Magnetic(2 / mu + mu) + M.Friction(mu)).max_real_eigenvalue() < 0


@pytest.mark.parametrize("bad, err, match", [
    (lambda: M.Friction(-0.1), ValueError, "friction mu must be >= 0"),
    (lambda: M.Friction(float("nan")), ValueError, "finite"),
    (lambda: M.Magnetic(1.0, "both"), ValueError, "unknown charge convention"),
    (lambda: M.Particle(M.bilinear(), M.Curl(), mass=0), ValueError, "mass must be positive"),
    (lambda: M.Particle(M.bilinear(), M.Curl(), mass=-2), ValueError, "mass must be positive"),
    (lambda: M.Particle(M.bilinear(), 3.0), TypeError, "force must be callable"),
    (lambda: M.forces_from_names(["curl", "gravity"]), ValueError, "unknown force 'gravity'"),
    (lambda: M.Particle(M.bilinear(), M.Curl()).state([1.0, 2.0], [1.0]), ValueError, "last dimension 4"),
    (lambda: M.Particle(M.bilinear(), M.Curl()).state([float("inf")], [1.0]), ValueError, "non-finite"),
])
def test_bad_forces_and_states(bad, err, match):
    with pytest.raises(err, match=match):
        bad()
