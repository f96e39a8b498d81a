"""Schemes, derived rules and their discrete iteration, checked against an independent
phase-space implementation of each scheme (numpy linear solves on quadratic games) and
against the ODE solution as delta -> 0."""
import numpy as np
import pytest
import torch

from integrators import simulate
from integrators.derive import derive
from integrators.discrete import iterate, rule_step
from integrators.rule import UpdateRule
from mechanics import Curl, Friction, Magnetic, Particle, bilinear, quadratic

FORCES = ("curl", "magnetic", "friction")


def phase_reference(scheme, h, A, p, x0, y0, vx0, vy0, steps, charge=1.0):
    """Step eq. 10 on the quadratic game (eq. 13) in phase space with the scheme's
    explicit/implicit choices, solving one linear system per step (numpy, no sympy)."""
    n = A.shape[0]
    I, Z = np.eye(n), np.zeros((n, n))
    d, mass, mu, qc = p["delta"], p["mass"], p["mu"], charge * p["q"]
    # gradients of L_x = f and L_y = -f: G(z) = K z with z = (x, y); mixed blocks
    K = np.block([[h * I, A], [-A.T, h * I]])
    B = np.block([[Z, A], [-A.T, Z]])      # (B_xy v_y, B_yx v_x) = B @ (v_x, v_y)
    s, c, g, r = (scheme.level(t) for t in ("position", "curl", "magnetic", "friction"))
    gamma = {None: 0.0}.get(scheme.extrapolation, None)
    if gamma is None:
        gamma = 1 - mu * d / mass if scheme.extrapolation == "momentum" else scheme.extrapolation
    z, v = np.concatenate([x0, y0]), np.concatenate([vx0, vy0])
    zs, z_prev = [z.copy()], z - d * v     # only used for extrapolation (implicit position)
    N = 2 * n
    for _ in range(steps):
        # unknowns u = (z', v'); equations:
        #   z' - delta*s*v' = z + delta*(1-s)*v
        #   m v' + delta*(c K z' + g qc B v' + r mu v') = m v - delta*((1-c) K p + (1-g) qc B v + (1-r) mu v)
        p_pt = z + gamma * (z - z_prev)
        M = np.block([[np.eye(N), -d * s * np.eye(N)],
                      [d * c * K, mass * np.eye(N) + d * (g * qc * B + r * mu * np.eye(N))]])
        rhs = np.concatenate([z + d * (1 - s) * v,
                              mass * v - d * ((1 - c) * K @ p_pt + (1 - g) * qc * B @ v
                                              + (1 - r) * mu * v)])
        u = np.linalg.solve(M, rhs)
        z_prev, z, v = z, u[:N], u[N:]
        zs.append(z.copy())
    return np.array(zs)


def random_problem(seed, n=2):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    h = float(rng.uniform(0, 0.5))
    p = {"delta": float(rng.uniform(0.05, 0.3)), "mass": float(rng.uniform(0.5, 2.0)),
         "mu": float(rng.uniform(0.1, 1.0)), "q": float(rng.uniform(0.1, 2.0))}
    x0, y0, vx0, vy0 = (rng.normal(size=n) for _ in range(4))
    return h, A, p, x0, y0, vx0, vy0


@pytest.mark.parametrize("name", ["semi-implicit", "explicit", "implicit-friction",
                                  "implicit-magnetic", "nesterov"])
@pytest.mark.parametrize("convention", ["eq7", "slides"])
@pytest.mark.parametrize("seed", [0, 1])
def test_derived_rule_reproduces_phase_space_scheme(name, convention, seed):
    h, A, p, x0, y0, vx0, vy0 = random_problem(seed)
    derived = derive(FORCES, name, convention=convention)
    charge = {"eq7": 1.0, "slides": 2.0}[convention]
    ref = phase_reference(derived.scheme, h, A, p, x0, y0, vx0, vy0, 25, charge)
    rule = derived.to_update_rule(p["delta"], mu=p["mu"], q=p["q"], mass=p["mass"])
    game = quadratic(h, A)
    n = A.shape[0]
    # start the two-step rule from the reference's first two positions
    traj = iterate(rule, game, ref[1, :n], ref[1, n:], 24, delta=p["delta"],
                   vx0=(ref[1, :n] - ref[0, :n]) / p["delta"],
                   vy0=(ref[1, n:] - ref[0, n:]) / p["delta"])
    got = torch.cat([traj.x, traj.y], -1).numpy()
    scale = np.abs(ref).max()
    assert np.abs(got - ref[1:]).max() <= 1e-11 * max(scale, 1.0)


def test_implicit_curl_coefficients_match_phase_space_scheme():
    """The implicit-curl rule (gradient at the new point) is not runnable by ``iterate``;
    check its derived coefficients by solving it directly on a quadratic game."""
    h, A, p, x0, y0, vx0, vy0 = random_problem(3)
    derived = derive(FORCES, "implicit-curl")
    ref = phase_reference(derived.scheme, h, A, p, x0, y0, vx0, vy0, 10)
    v = derived.values(p["delta"], mu=p["mu"], q=p["q"], mass=p["mass"])
    n = A.shape[0]
    I = np.eye(2 * n)
    K = np.block([[h * np.eye(n), A], [-A.T, h * np.eye(n)]])
    B = np.block([[np.zeros((n, n)), A], [-A.T, np.zeros((n, n))]])
    zp, z = ref[0] - p["delta"] * np.concatenate([vx0, vy0]), ref[0]
    for k in range(10):
        # z' = z + beta dz - eta K z' - alpha B dz   (gradient and mixed block at z')
        z_new = np.linalg.solve(I + v["eta"] * K, z + v["beta"] * (z - zp)
                                - v["alpha"] * B @ (z - zp))
        zp, z = z, z_new
        assert np.allclose(z, ref[k + 1], rtol=1e-12, atol=1e-12)


def test_rule_step_matches_eq12_by_hand():
    """LEAD eq. 12 written out for f = x^T A y + h/2(|x|^2 - |y|^2)."""
    rng = np.random.default_rng(5)
    A, h = rng.normal(size=(3, 3)), 0.3
    rule = UpdateRule(beta=0.9, eta=0.05, alpha=0.2)
    x, y, xp, yp = (rng.normal(size=3) for _ in range(4))
    z = torch.tensor(np.concatenate([x, y]))
    zp = torch.tensor(np.concatenate([xp, yp]))
    got = rule_step(rule, quadratic(h, A), z, zp).numpy()
    dx, dy = x - xp, y - yp
    ex = x + 0.9 * dx - 0.05 * (h * x + A @ y) - 0.2 * A @ dy
    ey = y + 0.9 * dy + 0.05 * (-h * y + A.T @ x) + 0.2 * A.T @ dx
    assert np.allclose(got, np.concatenate([ex, ey]), rtol=0, atol=1e-13)


def test_implicit_magnetic_is_cgd_like_inverse():
    """alpha_implicit solves [[I, a A], [-a A^T, I]]: x step = (I + a^2 A A^T)^-1 (r_x - a A r_y)."""
    rng = np.random.default_rng(2)
    A = rng.normal(size=(2, 2))
    rule = UpdateRule(beta=0.0, eta=0.1, alpha_implicit=0.7)
    x, y = rng.normal(size=2), rng.normal(size=2)
    z = torch.tensor(np.concatenate([x, y]))
    got = rule_step(rule, bilinear(A), z, z).numpy()
    rx, ry = -0.1 * A @ y, 0.1 * A.T @ x
    sx = np.linalg.solve(np.eye(2) + 0.49 * A @ A.T, rx - 0.7 * A @ ry)
    assert np.allclose(got[:2], x + sx, rtol=0, atol=1e-13)


def test_batched_iteration_matches_single():
    g = quadratic(0.2, [[1.0, 0.3], [0.0, 1.5]])
    rule = derive(FORCES).to_update_rule(0.1, mu=0.5, q=2 / 0.5 + 0.5)
    x0 = torch.tensor([[1.0, 0.0], [0.5, -1.0]], dtype=torch.float64)
    y0 = torch.tensor([[0.0, 1.0], [2.0, 0.5]], dtype=torch.float64)
    both = iterate(rule, g, x0, y0, 30, delta=0.1)
    one = iterate(rule, g, x0[1], y0[1], 30, delta=0.1)
    assert both.zs.shape == (31, 2, 8)
    assert torch.allclose(both.zs[:, 1], one.zs, atol=1e-13, rtol=0)


def test_divergence_is_flagged_and_frozen():
    rule = derive("curl").to_update_rule(0.5)         # GDA with momentum 1 on xy: diverges
    traj = iterate(rule, bilinear(), 1.0, 1.0, 400, divergence_threshold=1e3)
    assert bool(traj.diverged) and torch.isfinite(traj.zs).all()
    assert float(traj.distance((np.zeros(1), np.zeros(1)))[-1]) <= 1e3


def test_iterate_bad_input():
    rule = UpdateRule(beta=0.9, eta=0.1)
    g = bilinear()
    with pytest.raises(ValueError, match="steps"):
        iterate(rule, g, 1.0, 1.0, 0)
    with pytest.raises(ValueError, match="need delta"):
        iterate(rule, g, 1.0, 1.0, 3, vx0=1.0)
    with pytest.raises(ValueError, match="dimensions"):
        iterate(rule, g, [1.0, 2.0], 1.0, 3)
    with pytest.raises(TypeError, match="UpdateRule"):
        rule_step({"beta": 1}, g, torch.zeros(2), torch.zeros(2))


def test_semi_implicit_converges_to_ode_with_order_one():
    """Error at T of the semi-implicit (LEAD) iteration against a tight ODE solution,
    for delta = T / N; the fitted slope of log error vs log delta is the order."""
    mu_, q_, T = 1.0, 2 / 1.0 + 1.0, 1.0
    g = quadratic(0.1, [[1.0, 0.5], [0.0, 2.0]])
    dyn = Particle(g, Curl() + Magnetic(q_) + Friction(mu_))
    x0, y0 = [1.0, -0.5], [0.5, 1.0]
    exact = simulate(dyn, dyn.state(x0, y0), [0.0, T], backend="scipy", rtol=1e-12,
                     atol=1e-13).zs[-1, :4].numpy()
    derived = derive(FORCES)
    deltas, errors = [], []
    for N in (50, 100, 200, 400):
        d = T / N
        traj = iterate(derived.to_update_rule(d, mu=mu_, q=q_), g, x0, y0, N, delta=d)
        assert abs(float(traj.ts[-1]) - T) < 1e-12
        deltas.append(d)
        errors.append(np.linalg.norm(traj.zs[-1, :4].numpy() - exact))
    slope = np.polyfit(np.log(deltas), np.log(errors), 1)[0]
    assert errors[-1] < errors[0] / 4
    assert 0.9 < slope < 1.1, (slope, errors)
