"""Energies (mechanics.energy) and their verification (mechanics.lyapunov).

Every formula is checked against an independent numpy computation: eq. 37 and eq. 39
written out by hand, the quadratic forms P and M of eq. 36/37 built by hand, the
certified rate by bisection on the smallest eigenvalue of Q - rho P, and growth
witnesses by a central finite difference of E along the flow (tests only).
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from integrators import simulate
from mechanics import (Curl, FunctionEnergy, Friction, GradientFlow, HamiltonianEnergy,
                       KineticEnergy, LeadEnergy, Magnetic, Particle, bilinear, certified_rate,
                       energy_from_name, energy_rate, fr_g1, phase_states_from_iterates,
                       quadratic, thm1_certificate, thm1_rate, ZeroSumGame, thm1_setting, track_energy, track_iterates,
                       verify_energy, verify_iterates)

HMU = [(0.0, 0.5), (0.1, 0.1), (0.1, 1.0), (1.0, 0.5), (3.0, 3.0)]


def lead_particle(h, A, mu, q=None, convention="eq7", mass=1.0):
    q = 2 / mu + mu if q is None else q
    return Particle(quadratic(h, A), Curl() + Magnetic(q, convention) + Friction(mu), mass=mass)


# ----------------------------------------------------------- independent numpy
def np_eq37(h, A, mu, z, typo=False):
    n = A.shape[0]
    X, Y, Xd, Yd = (z[..., i * n:(i + 1) * n] for i in range(4))
    a = Xd + mu * X + mu * Y @ A.T
    b = Yd + mu * Y - mu * X @ A
    b2 = (Xd if typo else Yd) + mu * Y - mu * X @ A
    pot = np.einsum("...i,ij,...j", X, h * np.eye(n) + A @ A.T, X) \
        + np.einsum("...i,ij,...j", Y, h * np.eye(n) + A.T @ A, Y)
    return 0.5 * (a * a).sum(-1) + 0.5 * (b * b2).sum(-1) + 0.5 * ((Xd ** 2).sum(-1)
                                                                 + (Yd ** 2).sum(-1)) + pot


def np_eq39(h, A, mu, z):
    n = A.shape[0]
    X, Y, Xd, Yd = (z[..., i * n:(i + 1) * n] for i in range(4))
    return (-mu * (h * (X ** 2).sum(-1) + h * (Y ** 2).sum(-1) + ((X @ A) ** 2).sum(-1)
                   + ((Y @ A.T) ** 2).sum(-1)) - mu * ((Xd ** 2).sum(-1) + (Yd ** 2).sum(-1)))


def np_P_M(h, A, mu, q, typo=False):
    """E = z^T P z (eq. 37 or 16) and z' = M z (eq. 36), built by hand."""
    n = A.shape[0]
    I, Z = np.eye(n), np.zeros((n, n))
    sel = lambda k: np.hstack([I if j == k else Z for j in range(4)])  # noqa: E731
    X, Y, Xd, Yd = (sel(k) for k in range(4))
    a = Xd + mu * X + mu * A @ Y
    b = Yd + mu * Y - mu * A.T @ X
    b2 = (Xd if typo else Yd) + mu * Y - mu * A.T @ X
    P = (0.5 * a.T @ a + 0.25 * (b.T @ b2 + b2.T @ b) + 0.5 * (Xd.T @ Xd + Yd.T @ Yd)
         + X.T @ (h * I + A @ A.T) @ X + Y.T @ (h * I + A.T @ A) @ Y)
    M = np.vstack([Xd, Yd, -h * X - A @ Y - mu * Xd - q * A @ Yd,
                   A.T @ X - h * Y + q * A.T @ Xd - mu * Yd])
    return P, M


def np_certified_by_bisection(P, M, iters=200):
    """Largest rho with Q - rho P >= 0 (Q = -(M^T P + P M)), by bisection on eigvalsh."""
    Q = -(M.T @ P + P @ M)
    ok = lambda r: np.linalg.eigvalsh(Q - r * P)[0] >= 0  # noqa: E731
    lo, hi = -1.0, 1.0
    while not ok(lo):
        lo *= 2
    while ok(hi):
        hi *= 2
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def np_thm1(h, A, mu):
    s2 = np.linalg.svd(A, compute_uv=False).min() ** 2
    return min(mu / (1 + mu), 2 * mu * (s2 + h) / ((1 + s2 + 2 * h) * (mu ** 2 + mu) + 2 * s2))


def fd_rate(dyn, energy, z, eps=1e-6):
    """dE/dt by a central finite difference along F (tests only)."""
    z = torch.as_tensor(z, dtype=torch.float64)
    with torch.enable_grad():
        F = dyn.vector_field(0.0, z).detach()
        E = lambda s: float(energy(dyn.game, dyn.split(s)).detach())  # noqa: E731
        return (E(z + eps * F) - E(z - eps * F)) / (2 * eps)


def random_nonsym(rng, n):
    A = rng.normal(size=(n, n))
    assert not np.allclose(A, A.T)
    return A


# ------------------------------------------------------------- the energies
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("typo", [False, True])
def test_lead_energy_matches_eq37_and_eq16_in_numpy(rng, n, typo):
    A = random_nonsym(rng, n) if n > 1 else np.array([[1.7]])
    h, mu = 0.3, 0.7
    z = rng.normal(size=(5, 4 * n))
    game = quadratic(h, A)
    dyn = Particle(game, Curl())
    E = LeadEnergy(mu, "eq16" if typo else "eq37")(game, dyn.split(torch.from_numpy(z)))
    np.testing.assert_allclose(E.numpy(), np_eq37(h, A, mu, z, typo), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), h=st.sampled_from([0.0, 0.1, 1.0, 3.0]),
       mu=st.sampled_from([0.1, 0.5, 1.0, 3.0]), seed=st.integers(0, 2**31 - 1))
def test_autograd_rate_is_eq39_for_nonsymmetric_A(n, h, mu, seed):
    """With q = 2/mu + mu, autograd's dE/dt along eq. 36 equals eq. 39 (float64, 1e-8)."""
    r = np.random.default_rng(seed)
    A = r.normal(size=(n, n))
    dyn = lead_particle(h, A, mu)
    z = r.normal(size=(7, 4 * n)) * r.uniform(0.1, 10)
    E, rate = energy_rate(dyn, LeadEnergy(mu), torch.from_numpy(z))
    np.testing.assert_allclose(rate.numpy(), np_eq39(h, A, mu, z), rtol=1e-8)
    np.testing.assert_allclose(E.numpy(), np_eq37(h, A, mu, z), rtol=1e-12)


def test_rate_is_grad_dot_field_not_eq39_when_q_is_wrong(rng):
    """With q != 2/mu + mu the rate is no longer eq. 39; it matches a finite difference."""
    A, h, mu = random_nonsym(rng, 2), 0.2, 0.5
    dyn = lead_particle(h, A, mu, q=1.0)
    z = rng.normal(size=8)
    _, rate = energy_rate(dyn, LeadEnergy(mu), torch.from_numpy(z))
    assert abs(float(rate) - np_eq39(h, A, mu, z)) > 1e-3
    assert float(rate) == pytest.approx(fd_rate(dyn, LeadEnergy(mu), z), rel=1e-6, abs=1e-8)


def test_kinetic_and_hamiltonian_energies(rng):
    A, h = random_nonsym(rng, 2), 0.4
    game = quadratic(h, A)
    dyn = Particle(game, Curl() + Friction(0.3), mass=2.0)
    z = rng.normal(size=(3, 8))
    s = dyn.split(torch.from_numpy(z))
    np.testing.assert_allclose(KineticEnergy(2.0)(game, s).numpy(), (z[:, 4:] ** 2).sum(-1))
    x, y = z[:, :2], z[:, 2:4]
    v = np.hstack([h * x + y @ A.T, h * y - x @ A])  # eq. 14
    np.testing.assert_allclose(HamiltonianEnergy()(game, s).numpy(), 0.5 * (v ** 2).sum(-1))
    # kinetic energy under friction only (no curl): dE/dt = -2 mu E / m exactly
    dyn_f = Particle(game, Friction(0.3), mass=2.0)
    E, rate = energy_rate(dyn_f, KineticEnergy(2.0), torch.from_numpy(z))
    np.testing.assert_allclose(rate.numpy(), -2 * 0.3 / 2.0 * E.numpy(), rtol=1e-12)


def test_user_energy_plain_function_and_wrapper(rng):
    game = bilinear()
    dyn = Particle(game, Curl() + Friction(1.0))
    fn = lambda g, s: (s.x ** 4).sum(-1) + (s.vy ** 2).sum(-1)  # noqa: E731
    z = rng.normal(size=(4, 4))
    for energy in (fn, FunctionEnergy(fn, "quartic")):
        _, rate = energy_rate(dyn, energy, torch.from_numpy(z))
        expect = [fd_rate(dyn, energy, zi) for zi in z]
        np.testing.assert_allclose(rate.numpy(), expect, rtol=1e-6)
    with pytest.raises(TypeError, match="callable"):
        FunctionEnergy(3)


def test_bad_energy_shape_is_reported():
    dyn = Particle(bilinear(), Curl())
    with pytest.raises(ValueError, match="one value per state"):
        energy_rate(dyn, lambda g, s: s.x, torch.ones(3, 4))


def test_lead_energy_and_thm1_refuse_what_they_do_not_cover():
    z = torch.ones(4)
    with pytest.raises(ValueError, match="quadratic game of eq. 13"):
        LeadEnergy(0.5)(fr_g1(), Particle(fr_g1(), Curl()).split(z))
    with pytest.raises(ValueError, match="form"):
        LeadEnergy(0.5, "eq15")
    with pytest.raises(ValueError, match="unknown energy"):
        energy_from_name("potential")
    A = np.eye(1)
    with pytest.raises(ValueError, match="charge convention"):
        thm1_setting(lead_particle(0.0, A, 0.5, convention="slides"))
    with pytest.raises(ValueError, match="mass"):
        thm1_setting(lead_particle(0.0, A, 0.5, mass=2.0))
    with pytest.raises(ValueError, match="missing Magnetic"):
        thm1_setting(Particle(quadratic(0.0, A), Curl() + Friction(0.5)))
    with pytest.raises(ValueError, match="quadratic game"):
        thm1_setting(Particle(fr_g1(), Curl() + Magnetic(1.0) + Friction(0.5)))
    with pytest.raises(ValueError, match="mu > 0"):
        thm1_rate(0.0, A, 0.0)
    s = thm1_setting(lead_particle(0.0, A, 0.5))
    assert s.q_matches and s.q_required == pytest.approx(4.5)
    assert not thm1_setting(lead_particle(0.0, A, 0.5, q=4.4)).q_matches


@pytest.mark.parametrize("h,mu", HMU)
def test_thm1_rate_is_eq43(rng, h, mu):
    A = random_nonsym(rng, 3)
    assert thm1_rate(h, A, mu) == pytest.approx(np_thm1(h, A, mu), rel=1e-13)


# ------------------------------------------------------- along trajectories
@pytest.mark.parametrize("backend", ["scipy", "torchdiffeq"])
def test_lead_energy_decays_along_simulated_trajectories(rng, backend):
    A, h, mu = random_nonsym(rng, 2), 0.1, 0.5
    dyn = lead_particle(h, A, mu)
    batch = 1 if backend == "scipy" else 3
    z0 = torch.from_numpy(rng.normal(size=(batch, 8)))
    traj = simulate(dyn, z0, np.linspace(0, 15, 61), backend=backend)
    energy = LeadEnergy(mu)
    trace = track_energy(dyn, energy, traj)
    assert (trace.increments < 0).all() and (trace.rates < 0).all()
    np.testing.assert_allclose(trace.values.numpy(), np_eq37(h, A, mu, traj.zs.numpy()), rtol=1e-12)
    rep = verify_energy(dyn, energy, traj)
    assert rep.monotone and not rep.growth_found
    assert rep.max_energy_rate < 0
    assert rep.energy_final < 1e-2 * rep.energy_initial
    # the certified rate is a proof: E(t) <= E0 exp(-rho_cert t) must hold on the samples
    cert = verify_energy(dyn, energy, traj, bound_rate=rep.certified_rate)
    assert cert.bound_holds
    assert rep.fitted_rate >= rep.certified_rate - 1e-3
    # and a rate clearly above the fitted one must be reported as violated
    assert not verify_energy(dyn, energy, traj, bound_rate=2 * rep.fitted_rate).bound_holds


def test_rates_agree_with_finite_differences_of_a_dense_trajectory(rng):
    """Autograd dE/dt at the samples vs a central difference of E over a fine grid."""
    A, h, mu = random_nonsym(rng, 2), 0.2, 0.5
    dyn = lead_particle(h, A, mu, q=2.0)  # any q: the rate is grad E . F whatever q is
    ts = np.linspace(0, 2, 2001)
    traj = simulate(dyn, torch.from_numpy(rng.normal(size=8)), ts, backend="torchdiffeq",
                    rtol=1e-11, atol=1e-12)
    trace = track_energy(dyn, LeadEnergy(mu), traj)
    E, dt = trace.values.numpy(), ts[1] - ts[0]
    fd = (E[2:] - E[:-2]) / (2 * dt)
    scale = np.abs(trace.rates.numpy()).max()
    np.testing.assert_allclose(trace.rates.numpy()[1:-1], fd, atol=1e-5 * scale)


def test_conserved_energy_counts_as_monotone_within_tolerance():
    """Bilinear f = xy under the gradient flow rotates: 1/2|v|^2 is conserved, so the
    computed increments are pure numerical noise and must fall within the tolerance."""
    dyn = GradientFlow(bilinear())
    traj = simulate(dyn, torch.tensor([1.0, 0.5]), np.linspace(0, 20, 201), backend="torchdiffeq")
    trace = track_energy(dyn, HamiltonianEnergy(), traj)
    assert trace.increments.abs().max() > 0  # really noisy, not exactly constant
    rep = verify_energy(dyn, HamiltonianEnergy(), traj)
    assert rep.monotone and abs(rep.max_energy_rate) < 1e-12
    assert rep.certified_rate == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("h", [0.3, 2.0])
def test_certified_rate_of_hamiltonian_under_gradient_flow_is_2h(rng, h):
    """For eq. 13 under the gradient flow, d/dt 1/2|v|^2 = -2h (1/2|v|^2) exactly."""
    dyn = GradientFlow(quadratic(h, random_nonsym(rng, 3)))
    assert certified_rate(dyn, HamiltonianEnergy()).rate == pytest.approx(2 * h, rel=1e-10)


def test_certified_rate_refuses_non_quadratic_or_nonlinear(rng):
    dyn = lead_particle(0.1, random_nonsym(rng, 2), 0.5)
    with pytest.raises(ValueError, match="positive definite"):
        certified_rate(dyn, KineticEnergy())
    with pytest.raises(ValueError, match="not a quadratic form"):
        certified_rate(dyn, lambda g, s: (s.x ** 4).sum(-1) + (s.vx ** 2).sum(-1))
    quartic = ZeroSumGame(lambda x, y: (x ** 4).sum(-1) - (y ** 2).sum(-1), 1, 1,
                          equilibrium=([0.0], [0.0]))
    with pytest.raises(ValueError, match="not linear"):
        certified_rate(GradientFlow(quartic), lambda g, s: (s.x ** 2 + s.y ** 2).sum(-1))


# ---------------------------------------------- certified vs Thm. 1, independently
def matrix_with_singular_values(r, svals):
    """A random non-symmetric matrix U diag(s) V^T with the given singular values."""
    n = len(svals)
    U, _ = np.linalg.qr(r.normal(size=(n, n)))
    V, _ = np.linalg.qr(r.normal(size=(n, n)))
    A = U @ np.diag(svals) @ V.T
    assert not np.allclose(A, A.T)
    return A


def test_certified_verdict_matches_independent_computation_over_h_mu_sweep():
    """Thm. 1's verdict per game (thm1_certificate: autograd P, M; scipy eigh) against a
    hand-built P, M and bisection, over a sweep of (sigma_min, h, mu). The theorem is not
    assumed: the sweep holds games where its rate is certified and games where it is not."""
    r = np.random.default_rng(7)
    verdicts = []
    for svals in ([0.05, 1.5], [0.7, 2.0]):
        A = matrix_with_singular_values(r, svals)
        for h in (0.0, 0.1, 1.0):
            for mu in (0.1, 0.5, 3.0):
                cert = thm1_certificate(lead_particle(h, A, mu))
                P, M = np_P_M(h, A, mu, 2 / mu + mu)
                indep = np_certified_by_bisection(P, M)
                bound = np_thm1(h, A, mu)
                assert cert.certified_rate == pytest.approx(indep, abs=1e-9)
                assert cert.thm1_rate == pytest.approx(bound, rel=1e-12)
                if abs(indep - bound) > 1e-8:  # clear of ties, the verdicts must agree
                    assert cert.certified == (indep >= bound), (svals, h, mu, indep, bound)
                verdicts.append(cert.certified)
    assert any(verdicts) and not all(verdicts)


@pytest.mark.parametrize("n", [1, 3])
def test_library_P_and_M_are_eq37_and_eq36(rng, n):
    A, h, mu = random_nonsym(rng, n) if n > 1 else np.array([[0.4]]), 0.3, 0.5
    for form in ("eq37", "eq16"):
        cert = certified_rate(lead_particle(h, A, mu), LeadEnergy(mu, form))
        P, M = np_P_M(h, A, mu, 2 / mu + mu, typo=form == "eq16")
        np.testing.assert_allclose(cert.P, P, atol=1e-12)
        np.testing.assert_allclose(cert.M, M, atol=1e-12)


def test_report_verdict_and_a_violated_bound_from_the_witness():
    """Where Thm. 1 is not certified (sigma_min ~ 0, h = mu = 0.1), the report says so, and
    starting from the witness state the claimed E(t) <= E0 exp(-rho t) fails at once."""
    A, h, mu = np.array([[0.03]]), 0.1, 0.1
    dyn = lead_particle(h, A, mu)
    cert = thm1_certificate(dyn)
    assert not cert.certified and cert.certified_rate < cert.thm1_rate
    ts = np.linspace(0, 0.5, 6)
    traj = simulate(dyn, cert.witness, ts, backend="torchdiffeq", method="rk4",
                    options={"step_size": 1e-2})
    rep = verify_energy(dyn, LeadEnergy(mu), traj, bound_rate=cert.thm1_rate)
    assert rep.bound_certified is False and rep.bound_holds is False
    assert rep.certified_rate == pytest.approx(cert.certified_rate, rel=1e-12)
    # the energy itself still decays (it is a Lyapunov function), only slower than claimed
    assert rep.monotone and not rep.growth_found
    assert verify_energy(dyn, LeadEnergy(mu), traj, bound_rate=cert.certified_rate).bound_holds


def test_certified_rate_is_tight_by_sampling(rng):
    """Sampled states never beat the certified rate, the witness attains it, and the
    best of many samples comes close to it."""
    A, h, mu = random_nonsym(rng, 2), 0.1, 0.1
    dyn = lead_particle(h, A, mu)
    cert = certified_rate(dyn, LeadEnergy(mu))
    P, M = np_P_M(h, A, mu, 2 / mu + mu)
    z = rng.normal(size=(20000, 8))
    ratio = -np.einsum("bi,ij,bj->b", z, M.T @ P + P @ M, z) / np.einsum("bi,ij,bj->b", z, P, z)
    assert ratio.min() >= cert.rate - 1e-10
    w = cert.witness.numpy()
    assert -fd_rate(dyn, LeadEnergy(mu), w) / np_eq37(h, A, mu, w) == pytest.approx(cert.rate, rel=1e-5)
    assert ratio.min() - cert.rate < 0.5 * (np.median(ratio) - cert.rate)


# ------------------------------------------------------ catching false claims
def short_run(dyn, z0):
    return simulate(dyn, torch.as_tensor(z0), np.linspace(0, 0.04, 3), backend="torchdiffeq",
                    method="rk4", options={"step_size": 1e-2})


@pytest.mark.parametrize("h,mu", HMU)
def test_wrong_q_or_eq16_typo_is_caught(rng, h, mu):
    """With q != 2/mu + mu, or with eq. 16's typo, the report looks for a state where the
    energy grows. Its finding must agree with the independent numpy computation, and a
    finite difference along the flow must confirm growth at the state it names. A large
    q (10x) and the eq. 16 typo are caught on every game of the sweep."""
    A = random_nonsym(rng, 2)
    q_star = 2 / mu + mu
    for q, form in ((0.25 * q_star, "eq37"), (4 * q_star, "eq37"), (10 * q_star, "eq37"),
                    (q_star, "eq16")):
        dyn = lead_particle(h, A, mu, q=q)
        energy = LeadEnergy(mu, form)
        rep = verify_energy(dyn, energy, short_run(dyn, rng.normal(size=8)))
        indep = np_certified_by_bisection(*np_P_M(h, A, mu, q, typo=form == "eq16"))
        assert rep.certified_rate == pytest.approx(indep, abs=1e-9)
        assert rep.growth_found == (indep < 0), (q, form, indep)
        assert rep.q_matches == (form == "eq16")
        if rep.growth_found:
            assert fd_rate(dyn, energy, rep.growth_state) > 0
            assert rep.bound_certified is False
        if q == 10 * q_star or form == "eq16":
            assert rep.growth_found, (q, form)


def test_q_near_the_theorem_still_certifies(rng):
    """An honest negative: a small change of q keeps dE/dt negative definite (eq. 38's
    cross terms are dominated), so only q far from 2/mu + mu is caught."""
    A, h, mu = random_nonsym(rng, 2), 1.0, 0.5
    q_star = 2 / mu + mu
    near = certified_rate(lead_particle(h, A, mu, q=q_star * (1 + 1e-3)), LeadEnergy(mu)).rate
    assert near > 0
    P, M = np_P_M(h, A, mu, q_star * (1 + 1e-3))
    assert near == pytest.approx(np_certified_by_bisection(P, M), abs=1e-9)


def test_growth_found_along_a_trajectory_with_wrong_q():
    """The trajectory itself shows it: with q = 1, mu = 0.5 the particle spirals out."""
    dyn = lead_particle(0.0, np.eye(1), 0.5, q=1.0)
    traj = simulate(dyn, torch.tensor([1.0, 1.0, 0.0, 0.0]), np.linspace(0, 10, 101),
                    backend="torchdiffeq")
    rep = verify_energy(dyn, LeadEnergy(0.5), traj, bound_rate=thm1_rate(0.0, np.eye(1), 0.5))
    assert not rep.monotone and rep.max_energy_rate > 0 and rep.bound_holds is False
    assert rep.fitted_rate < 0
    assert fd_rate(dyn, LeadEnergy(0.5), rep.max_rate_state) > 0


# --------------------------------------------------------------- iterates
def test_discrete_iterates_differences(rng):
    """Iterates of the implicit-explicit scheme (eq. 32, small delta, numpy) of Thm. 1's
    particle: E_k - E_{k-1} are the increments, and they are negative."""
    A, h, mu, delta = random_nonsym(rng, 2), 0.2, 0.5, 0.01
    q = 2 / mu + mu
    x, y = rng.normal(size=2), rng.normal(size=2)
    vx, vy = np.zeros(2), np.zeros(2)
    xs, ys = [x], [y]
    for _ in range(400):
        vx, vy = (vx - q * delta * A @ vy - mu * delta * vx - delta * (h * x + A @ y),
                  vy + q * delta * A.T @ vx - mu * delta * vy + delta * (A.T @ x - h * y))
        x, y = x + delta * vx, y + delta * vy
        xs.append(x)
        ys.append(y)
    zs = phase_states_from_iterates(np.array(xs), np.array(ys), delta)
    assert zs.shape == (400, 8)
    dyn = lead_particle(h, A, mu)
    trace = track_iterates(dyn, LeadEnergy(mu), zs)
    E = np_eq37(h, A, mu, zs.numpy())
    np.testing.assert_allclose(trace.increments.numpy(), np.diff(E), rtol=1e-9, atol=1e-15)
    rep = verify_iterates(dyn, LeadEnergy(mu), zs, ts=delta * np.arange(1, 401))
    assert rep.monotone and rep.max_energy_increase < 0 and rep.max_energy_rate is None
    assert 0 < rep.fitted_rate < 2.0
    with pytest.raises(ValueError, match="delta"):
        phase_states_from_iterates(np.array(xs), np.array(ys), 0.0)


def test_report_is_json_ready(rng):
    import json
    dyn = lead_particle(0.1, random_nonsym(rng, 2), 0.5)
    traj = simulate(dyn, torch.ones(8), np.linspace(0, 2, 11), backend="torchdiffeq")
    d = verify_energy(dyn, LeadEnergy(0.5), traj).to_dict()
    json.dumps(d)
    for key in ("energy_initial", "energy_final", "max_energy_rate", "monotone", "fitted_rate",
                "bound_rate", "certified_rate", "thm1_rate", "bound_certified"):
        assert key in d
    assert math.isfinite(d["certified_rate"])


def test_float32_trajectory_gets_float32_tolerances(rng):
    """Round-off tolerances follow the states' dtype: a float32 run of Thm. 1's particle is
    monotone, and its tolerances are far wider than float64's."""
    A, h, mu = random_nonsym(rng, 2), 0.1, 0.5
    dyn = lead_particle(h, A, mu)
    z0 = torch.from_numpy(rng.normal(size=8))
    ts = np.linspace(0, 5, 26)
    t32 = simulate(dyn, z0.float(), ts, backend="torchdiffeq", rtol=1e-5, atol=1e-6)
    t64 = simulate(dyn, z0, ts, backend="torchdiffeq", rtol=1e-5, atol=1e-6)
    assert t32.zs.dtype == torch.float32
    rep = verify_energy(dyn, LeadEnergy(mu), t32)
    assert rep.monotone and rep.max_energy_rate < 0
    tol32 = track_energy(dyn, LeadEnergy(mu), t32).rate_tol
    tol64 = track_energy(dyn, LeadEnergy(mu), t64).rate_tol
    assert (tol32 > tol64).all()
