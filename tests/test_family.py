"""The scheme family, runnable: every member of ``derive`` as a torch optimizer
(``from_rule``), checked against independent references -- each scheme written in
velocity form (numpy linear solves, v0 = 0), consensus optimization and proximal point
written from their definitions, and the package's hand-written optimizers -- plus a force
defined outside the package that is derived, simulated and run."""
import dataclasses
import json

import numpy as np
import pytest
import sympy as sp
import torch

import optimizers as O
from integrators import simulate
from integrators.derive import delta, derive, m
from integrators.discrete import iterate
from integrators.family import KNOWN_AS, family
from integrators.schemes import SCHEMES
from mechanics import (Consensus, Curl, Friction, Particle, PhaseState, ZeroSumGame,
                       quadratic)
from mechanics.forces import REGISTRY, Force, Term, register_force, symbol
from optimizers.rule import RuleAdam

STEPS = 12


# ------------------------------------------------------------------ references
def quadratic_problem(seed=0, n=2, h=0.3):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    return h, A, rng.normal(size=n), rng.normal(size=n)


def velocity_form(scheme, forces, h, A, z0, steps, *, delta_, mass=1.0, mu=0.0, q=0.0,
                  gamma=0.0, kappa=0.0):
    """Eq. 10 with the scheme's levels on f = h/2 |x|^2 + x^T A y - h/2 |y|^2, in
    velocity form from rest (v0 = 0): per step, solve for (z', v') in numpy

        z' = z + delta v'                                   (implicit position)
        m (v' - v) = delta F,  F = -G(point) - q B v_opp[g] - mu v[r]

    with G z = K z (+ gamma K^T K z for consensus, + kappa z for an anchor) and the
    point z (explicit curl), z + beta (z - z_prev) (nesterov) or z' (implicit curl)."""
    n = A.shape[0]
    N = 2 * n
    I = np.eye(N)
    K = np.block([[h * np.eye(n), A], [-A.T, h * np.eye(n)]])
    B = np.block([[np.zeros((n, n)), A], [-A.T, np.zeros((n, n))]])
    G = (K if "curl" in forces else 0 * K) + (gamma * K.T @ K if "consensus" in forces else 0) \
        + (kappa * I if "anchor" in forces else 0)
    qc = q if "magnetic" in forces else 0.0
    fr = mu if "friction" in forces else 0.0
    c, g, r = (scheme.level(t) for t in ("curl", "magnetic", "friction"))
    beta = 1 - fr * delta_ / mass
    la = beta if scheme.extrapolation == "momentum" else 0.0
    z, v, z_prev = z0.copy(), np.zeros(N), z0.copy()
    out = []
    for _ in range(steps):
        p = z + la * (z - z_prev)
        # unknowns (z', v'): z' - delta v' = z ; m v' + delta (c G z' + g qc B v' + r fr v')
        #                    = m v - delta ((1-c) G p + (1-g) qc B v + (1-r) fr v)
        M = np.block([[I, -delta_ * I],
                      [delta_ * c * G, mass * I + delta_ * (g * qc * B + r * fr * I)]])
        rhs = np.concatenate([z, mass * v - delta_ * ((1 - c) * G @ p + (1 - g) * qc * B @ v
                                                      + (1 - r) * fr * v)])
        sol = np.linalg.solve(M, rhs)
        z_prev, z, v = z, sol[:N], sol[N:]
        out.append(z)
    return np.array(out)


def torch_quadratic(h, A):
    At = torch.tensor(A)

    def f(x, y):
        return 0.5 * h * (x * x).sum() + x @ At @ y - 0.5 * h * (y * y).sum()
    return f


def run_optimizer(make, f, x0, y0, steps=STEPS):
    x = torch.tensor(x0, requires_grad=True)
    y = torch.tensor(y0, requires_grad=True)
    opt = make([x], [y])
    out = []
    for _ in range(steps):
        opt.step(lambda: (f(x, y), -f(x, y)))
        out.append(torch.cat([x, y]).detach().numpy().copy())
    return np.array(out), opt


def nonlinear_game():
    """A zero-sum game with non-constant Hessian blocks."""
    A = torch.tensor([[1.0, 0.4], [-0.3, 0.8]], dtype=torch.float64)

    def f(x, y):
        return ((x @ A) * y).sum(-1) + 0.1 * (x ** 4).sum(-1) - 0.05 * (y ** 4).sum(-1) \
            + 0.2 * x[..., 0] * y[..., 1] ** 2
    return ZeroSumGame(f, 2, 2, name="nonlinear"), f


PHYS = dict(mu=1.5, q=0.7, gamma=0.4)


# ------------------------------------------------------------- every member runs
@pytest.mark.parametrize("scheme", ["semi-implicit", "implicit-friction", "implicit-magnetic",
                                    "nesterov", "implicit-curl"])
@pytest.mark.parametrize("forces", [("curl", "magnetic", "friction"),
                                    ("curl", "friction", "consensus"),
                                    ("magnetic", "friction", "consensus")])     # no curl
def test_member_equals_velocity_form(scheme, forces):
    h, A, x0, y0 = quadratic_problem(1)
    d = 0.15
    rule = derive(list(forces), scheme).to_update_rule(d, **PHYS)
    ref = velocity_form(SCHEMES[scheme], forces, h, A, np.concatenate([x0, y0]), STEPS,
                        delta_=d, **PHYS)
    got, opt = run_optimizer(lambda px, py: O.from_rule(rule, px, py), torch_quadratic(h, A),
                             x0, y0)
    assert np.abs(got - ref).max() <= 1e-8 * max(1.0, np.abs(ref).max())
    if not rule.is_explicit:      # the inner solve is reported
        assert opt.last_solve is not None and opt.last_solve.iterations >= 1
        assert opt.last_solve.residual <= 1e-10 and opt.inner_iterations >= STEPS


@pytest.mark.parametrize("forces,scheme", [("curl,magnetic,friction", "semi-implicit"),
                                           ("curl,friction,consensus", "semi-implicit"),
                                           ("curl,magnetic,friction", "implicit-magnetic"),
                                           ("curl,magnetic,friction,consensus", "nesterov"),
                                           ("curl,magnetic,friction", "implicit-curl"),
                                           ("curl,friction,consensus", "explicit"),
                                           ("magnetic,friction,consensus", "implicit-magnetic"),
                                           ("friction,consensus", "implicit-curl")])
def test_from_rule_pinned_to_iterate(forces, scheme):
    """The torch optimizer and ``iterate`` (the analysis path) agree on a nonlinear game."""
    game, f = nonlinear_game()
    rule = derive(forces, scheme).to_update_rule(0.1, **PHYS)
    x0, y0 = np.array([0.7, -0.4]), np.array([0.3, 0.9])
    traj = iterate(rule, game, x0, y0, STEPS)
    ref = torch.cat([traj.x, traj.y], -1).numpy()[1:]
    got, _ = run_optimizer(lambda px, py: O.from_rule(rule, px, py), f, x0, y0)
    assert np.abs(got - ref).max() <= 1e-9


def test_implicit_options_and_nonconvergence():
    h, A, x0, y0 = quadratic_problem(2, n=12)
    f = torch_quadratic(h, A)
    rule = derive("curl,magnetic,friction", "implicit-magnetic").to_update_rule(0.3, mu=1, q=2)
    _, opt = run_optimizer(lambda px, py: O.from_rule(rule, px, py, tol=1e-3), f, x0, y0, 1)
    loose = opt.last_solve
    _, opt = run_optimizer(lambda px, py: O.from_rule(rule, px, py), f, x0, y0, 1)
    assert loose.kind == "gmres" and loose.iterations < opt.last_solve.iterations
    assert loose.residual <= 1e-3 and opt.last_solve.residual <= 1e-10
    # a proximal step too large for the fixed point: a clear error, parameters unchanged
    big = derive("curl,friction", "implicit-curl").to_update_rule(3.0, mu=1 / 3.0)
    x, y = torch.tensor(x0, requires_grad=True), torch.tensor(y0, requires_grad=True)
    opt = O.from_rule(big, [x], [y], max_iter=30)
    with pytest.raises(ValueError, match="did not converge"):
        opt.step(lambda: (f(x, y), -f(x, y)))
    assert np.array_equal(x.detach().numpy(), x0) and opt.game_step == 0
    with pytest.raises(ValueError, match="alternating"):
        O.from_rule(big, [x], [y], alternating=True)


@pytest.mark.parametrize("adam", [False, True])
def test_unconverged_gmres_raises_or_is_accepted_and_counted(adam):
    """A GMRES solve capped at one iteration on a problem that needs more (n=12, strong
    coupling): ``unconverged="raise"`` (default) raises naming residual, tol and max_iter
    with the parameters unchanged; ``"accept"`` takes the one-iteration iterate (for the
    plain rule's first step, from rest: ``c r`` with ``r`` the gradient step, so parallel
    to the vector field), counts every solve in ``solve_unconverged`` and the count
    survives ``state_dict`` (a resumed run equals the straight one)."""
    import copy
    h, A, x0, y0 = quadratic_problem(2, n=12)
    f = torch_quadratic(h, A)
    rule = derive("curl,magnetic,friction", "implicit-magnetic").to_update_rule(0.3, mu=1, q=2)
    kw = dict(precondition="adam", lr=0.02) if adam else {}
    solves = 2 if adam else 1                      # per game step (RuleAdam: one per player)
    traj, full = run_optimizer(lambda px, py: O.from_rule(rule, px, py, **kw), f, x0, y0, 1)
    assert full.last_solve.iterations > 1 and full.unconverged_solves == 0
    x, y = torch.tensor(x0, requires_grad=True), torch.tensor(y0, requires_grad=True)
    opt = O.from_rule(rule, [x], [y], max_iter=1, **kw)
    with pytest.raises(ValueError, match=r"did not converge at step 1: relative residual "
                       r"\S+ > tol 1e-10 after 1 iterations \(max_iter 1\)\. Raise max_iter.*"
                       r"unconverged='accept'.*Parameters left at step 0"):
        opt.step(lambda: (f(x, y), -f(x, y)))
    assert np.array_equal(x.detach().numpy(), x0) and opt.game_step == 0
    assert opt.unconverged_solves == 0 and opt.last_solve is None

    def run(steps, x, y, sd=None):
        opt = O.from_rule(rule, [x], [y], max_iter=1, unconverged="accept", **kw)
        if sd is not None:
            opt.load_state_dict(sd)
        for _ in range(steps):
            opt.step(lambda: (f(x, y), -f(x, y)))
        return opt

    def start():
        return torch.tensor(x0, requires_grad=True), torch.tensor(y0, requires_grad=True)

    xa, ya = start()
    first = run(1, xa, ya)
    assert first.last_solve.iterations == 1 and first.last_solve.residual > 1e-3
    assert first.unconverged_solves == solves
    if not adam:      # one GMRES iteration from x = 0: x = c r, r = -eta v(z0)
        At = torch.tensor(A)
        v = torch.cat([h * torch.tensor(x0) + At @ torch.tensor(y0),
                       -At.T @ torch.tensor(x0) + h * torch.tensor(y0)])
        step = torch.cat([xa, ya]).detach() - torch.tensor(np.concatenate([x0, y0]))
        cos = float(step @ v / (step.norm() * v.norm()))
        assert abs(abs(cos) - 1) <= 1e-12
        full_step = torch.tensor(traj[0]) - torch.tensor(np.concatenate([x0, y0]))
        # (the converged step is not parallel: the check can fail)
        assert abs(abs(float(full_step @ v / (full_step.norm() * v.norm()))) - 1) > 1e-3
    sd = copy.deepcopy(first.state_dict())
    assert sd["state"][0]["solve_unconverged"] == 1
    xs, ys = start()
    straight = run(3, xs, ys)
    resumed = run(2, xa, ya, sd)
    assert torch.equal(xs, xa) and torch.equal(ys, ya)
    assert resumed.unconverged_solves == straight.unconverged_solves == 3 * solves
    assert resumed.inner_iterations == straight.inner_iterations == 3 * solves
    with pytest.raises(ValueError, match="Invalid unconverged"):
        O.from_rule(rule, [xs], [ys], unconverged="ignore", **kw)


def test_nonfinite_gmres_result_is_the_nonfinite_policys(monkeypatch):
    """A GMRES result with a non-finite residual and iterate (here a stand-in solver) is
    not an unconverged solve: NonFiniteError under nonfinite="raise", a skipped step under
    "flag" (so a training run's rollback still applies), whatever ``unconverged`` says."""
    import optimizers.rule as R
    from optimizers.krylov import KrylovResult
    monkeypatch.setattr(R, "gmres", lambda mv, b, **kw: KrylovResult(
        [torch.full_like(t, float("nan")) for t in b], 1, float("nan")))
    h, A, x0, y0 = quadratic_problem(2, n=3)
    f = torch_quadratic(h, A)
    rule = derive("curl,magnetic,friction", "implicit-magnetic").to_update_rule(0.3, mu=1, q=2)
    x, y = torch.tensor(x0, requires_grad=True), torch.tensor(y0, requires_grad=True)
    with pytest.raises(O.NonFiniteError):
        O.from_rule(rule, [x], [y]).step(lambda: (f(x, y), -f(x, y)))
    opt = O.from_rule(rule, [x], [y], nonfinite="flag")
    with pytest.warns(RuntimeWarning, match="step skipped"):
        opt.step(lambda: (f(x, y), -f(x, y)))
    assert opt.nonfinite_steps == [1] and np.array_equal(x.detach().numpy(), x0)


# ------------------------------------------------------------- known members
def test_known_as_table_names_members_of_the_family():
    for (forces, scheme), (name, _) in KNOWN_AS.items():
        assert scheme in SCHEMES and set(forces) <= set(REGISTRY), name
    assert {n for n, _ in KNOWN_AS.values()} >= {
        "heavy ball", "Nesterov", "LEAD", "consensus optimization", "proximal point", "CGD"}


def _rule(forces, scheme, d, **kw):
    return derive(forces, scheme).to_update_rule(d, **kw)


def test_gda_and_heavy_ball():
    game, f = nonlinear_game()
    x0, y0 = np.array([0.5, -0.2]), np.array([0.1, 0.6])
    d = 0.2
    gda = _rule("curl,friction", "semi-implicit", d, mu=1 / d)          # mu = m / delta
    assert gda.beta == 0 and gda.eta == pytest.approx(d * d)
    got, _ = run_optimizer(lambda px, py: O.from_rule(gda, px, py), f, x0, y0)
    ref, _ = run_optimizer(lambda px, py: O.GDA(px, py, lr=gda.eta), f, x0, y0)
    assert np.abs(got - ref).max() <= 1e-14
    hb = _rule("curl,friction", "semi-implicit", d, mu=2.0)
    got, _ = run_optimizer(lambda px, py: O.from_rule(hb, px, py), f, x0, y0)
    ref, _ = run_optimizer(lambda px, py: O.MomentumGDA(px, py, lr=hb.eta, beta=hb.beta),
                           f, x0, y0)
    assert np.abs(got - ref).max() <= 1e-14


def test_nesterov_from_its_definition():
    """z[k+1] = z[k] + beta dz - eta v(z[k] + beta dz) (Nesterov's look-ahead)."""
    h, A, x0, y0 = quadratic_problem(3)
    rule = _rule("curl,friction", "nesterov", 0.2, mu=1.0)
    K = np.block([[h * np.eye(2), A], [-A.T, h * np.eye(2)]])
    z = zp = np.concatenate([x0, y0])
    ref = []
    for _ in range(STEPS):
        la = z + rule.beta * (z - zp)
        zp, z = z, la - rule.eta * K @ la
        ref.append(z)
    got, _ = run_optimizer(lambda px, py: O.from_rule(rule, px, py), torch_quadratic(h, A),
                           x0, y0)
    assert np.abs(got - np.array(ref)).max() <= 1e-13


def test_lead():
    game, f = nonlinear_game()
    x0, y0 = np.array([0.5, -0.2]), np.array([0.1, 0.6])
    rule = _rule("curl,magnetic,friction", "semi-implicit", 0.2, mu=1.0, q=1.5)
    got, _ = run_optimizer(lambda px, py: O.from_rule(rule, px, py), f, x0, y0)
    ref, _ = run_optimizer(lambda px, py: O.LEAD(px, py, lr=rule.eta, beta=rule.beta,
                                                 alpha=rule.alpha), f, x0, y0)
    assert np.abs(got - ref).max() <= 1e-14


def test_consensus_derivation_is_consensus_optimization():
    r = derive(["curl", "consensus", "friction"], "semi-implicit")
    gamma, mu = symbol("gamma"), symbol("mu")
    co = {k: sp.simplify(v.subs(mu, m / delta)) for k, v in r.coefficients().items()}
    assert co["beta"] == 0 and sp.simplify(co["eta"] - delta ** 2 / m) == 0
    assert sp.simplify(co["consensus"] - gamma * delta ** 2 / m) == 0     # eta * gamma
    d, g = 0.3, 0.7
    rule = r.to_update_rule(d, mu=1 / d, gamma=g)
    # against CO written from its definition on a quadratic game: z - eta (K z + g K^T K z)
    h, A, x0, y0 = quadratic_problem(4)
    K = np.block([[h * np.eye(2), A], [-A.T, h * np.eye(2)]])
    z, ref = np.concatenate([x0, y0]), []
    for _ in range(STEPS):
        z = z - d * d * (K @ z + g * K.T @ K @ z)
        ref.append(z)
    got, _ = run_optimizer(lambda px, py: O.from_rule(rule, px, py), torch_quadratic(h, A),
                           x0, y0)
    assert np.abs(got - np.array(ref)).max() <= 1e-12
    # and against the hand-written optimizers.CO on a nonlinear game
    game, f = nonlinear_game()
    x0, y0 = np.array([0.5, -0.2]), np.array([0.1, 0.6])
    got, _ = run_optimizer(lambda px, py: O.from_rule(rule, px, py), f, x0, y0)
    ref, _ = run_optimizer(lambda px, py: O.CO(px, py, lr=d * d, gamma=g), f, x0, y0)
    assert np.abs(got - ref).max() <= 1e-13


def test_consensus_alone_is_hamiltonian_gradient_descent():
    """Consensus + friction with mu = m/delta (beta = 0, eta = 0: no curl) is Hamiltonian
    gradient descent (Balduzzi et al. 2018; Loizou et al. 2020), z <- z - lr grad H,
    H = 1/2 |v|^2, lr = gamma delta^2/m: against it written in numpy on a quadratic game
    (grad H = K^T K z) and by plain autograd on a nonlinear game."""
    d, g = 0.3, 0.8
    rule = _rule("friction,consensus", "semi-implicit", d, mu=1 / d, gamma=g)
    assert rule.eta == 0 and rule.beta == 0 and rule.unit == pytest.approx(g * d * d)
    key = (frozenset({"friction", "consensus"}), "semi-implicit")
    assert KNOWN_AS[key][0] == "Hamiltonian gradient descent"
    h, A, x0, y0 = quadratic_problem(11)
    K = np.block([[h * np.eye(2), A], [-A.T, h * np.eye(2)]])
    z, ref = np.concatenate([x0, y0]), []
    for _ in range(STEPS):
        z = z - g * d * d * K.T @ K @ z
        ref.append(z)
    got, opt = run_optimizer(lambda px, py: O.from_rule(rule, px, py), torch_quadratic(h, A),
                             x0, y0)
    assert np.abs(got - np.array(ref)).max() <= 1e-13
    _, f = nonlinear_game()
    z = torch.tensor([0.5, -0.2, 0.1, 0.6], dtype=torch.float64)
    ref = []
    for _ in range(STEPS):
        zz = z.clone().requires_grad_(True)
        x, y = zz[:2], zz[2:]
        gx, = torch.autograd.grad(f(x, y), zz, create_graph=True)
        gy, = torch.autograd.grad(-f(x, y), zz, create_graph=True)
        v = torch.cat([gx[:2], gy[2:]])
        gH, = torch.autograd.grad(0.5 * (v * v).sum(), zz)
        z = (zz - g * d * d * gH).detach()
        ref.append(z.numpy())
    got, _ = run_optimizer(lambda px, py: O.from_rule(rule, px, py), f, np.array([0.5, -0.2]),
                           np.array([0.1, 0.6]))
    assert np.abs(got - np.array(ref)).max() <= 1e-13
    # members with no position-dependent force cannot run, and say why
    with pytest.raises(ValueError, match="never moves from rest"):
        derive("magnetic,friction").to_update_rule(0.1, mu=1.0, q=1.0)


def test_consensus_force_value_and_simulation():
    h, A, x0, y0 = quadratic_problem(5)
    game = quadratic(h, A)
    K = np.block([[h * np.eye(2), A], [-A.T, h * np.eye(2)]])
    z = np.concatenate([x0, y0])
    t = lambda a: torch.tensor(a)  # noqa: E731
    fx, fy = Consensus(0.7)(game, PhaseState(t(x0), t(y0), t(np.zeros(2)), t(np.zeros(2))))
    assert np.allclose(np.concatenate([fx, fy]), -0.7 * K.T @ K @ z, rtol=0, atol=1e-13)
    ref = ode_reference(K + 0.7 * K.T @ K, 1.0, z, 1.5)
    traj = simulate(Particle(game, Curl() + Consensus(0.7) + Friction(1.0)),
                    np.concatenate([z, np.zeros(4)]), [0.0, 1.5], backend="scipy",
                    rtol=1e-11, atol=1e-12)
    assert np.allclose(traj.zs[-1].numpy(), ref, rtol=0, atol=1e-7)


def ode_reference(G, mu, z0, t1):
    """z'' = -G z - mu z' from rest (scipy, numpy right-hand side)."""
    import scipy.integrate
    N = len(z0)
    rhs = lambda t, s: np.concatenate([s[N:], -G @ s[:N] - mu * s[N:]])  # noqa: E731
    return scipy.integrate.solve_ivp(rhs, (0.0, t1), np.concatenate([z0, np.zeros(N)]),
                                     rtol=1e-11, atol=1e-12).y[:, -1]


def test_proximal_point_from_its_definition():
    """z[k+1] = z[k] - eta v(z[k+1]), i.e. (I + eta K) z[k+1] = z[k] on a quadratic game."""
    h, A, x0, y0 = quadratic_problem(6)
    d = 0.4
    rule = _rule("curl,friction", "implicit-curl", d, mu=1 / d)
    assert rule.proximal and rule.beta == 0
    K = np.block([[h * np.eye(2), A], [-A.T, h * np.eye(2)]])
    z, ref = np.concatenate([x0, y0]), []
    for _ in range(STEPS):
        z = np.linalg.solve(np.eye(4) + d * d * K, z)
        ref.append(z)
    got, _ = run_optimizer(lambda px, py: O.from_rule(rule, px, py), torch_quadratic(h, A),
                           x0, y0)
    assert np.abs(got - np.array(ref)).max() <= 1e-8


def test_implicit_magnetic_is_cgd():
    """With mu = m/delta and charge q = delta (eq. 7): alpha_implicit = eta, beta = 0, the
    coupled step is CGD's local Nash step (Schaefer & Anandkumar)."""
    game, f = nonlinear_game()
    d = 0.3
    rule = _rule("curl,magnetic,friction", "implicit-magnetic", d, mu=1 / d, q=d)
    assert rule.beta == 0 and rule.alpha == 0
    assert rule.alpha_implicit == pytest.approx(rule.eta, rel=1e-15)
    x0, y0 = np.array([0.5, -0.2]), np.array([0.1, 0.6])
    got, _ = run_optimizer(lambda px, py: O.from_rule(rule, px, py), f, x0, y0)
    ref, _ = run_optimizer(lambda px, py: O.CGD(px, py, lr=rule.eta), f, x0, y0)
    assert np.abs(got - ref).max() <= 1e-9


# ------------------------------------------------------------- a force of one's own
@dataclasses.dataclass(frozen=True)
class Anchor(Force):
    """A pull towards the origin, ``-kappa z`` (weight decay as a force), written
    outside the package: only its terms."""

    kappa: float = 0.1
    name = "anchor"

    def terms(self):
        return (Term(-symbol("kappa"), "position", label="anchor"),)


def test_a_force_defined_outside_the_package():
    h, A, x0, y0 = quadratic_problem(7)
    game = quadratic(h, A)
    # derive
    r = derive([Curl(), Friction(), Anchor()], "semi-implicit")
    assert sp.simplify(r.coefficients()["anchor"] - symbol("kappa") * delta ** 2 / m) == 0
    # simulate: the force from its terms, against the ODE written in numpy
    K = np.block([[h * np.eye(2), A], [-A.T, h * np.eye(2)]])
    kappa, mu = 0.5, 0.8
    z0 = np.concatenate([x0, y0])
    traj = simulate(Particle(game, Curl() + Friction(mu) + Anchor(kappa)),
                    np.concatenate([z0, np.zeros(4)]), [0.0, 2.0], backend="scipy",
                    rtol=1e-11, atol=1e-12)
    ref = ode_reference(K + kappa * np.eye(4), mu, z0, 2.0)
    assert np.allclose(traj.zs[-1].numpy(), ref, rtol=0, atol=1e-7)
    # run as an optimizer, against the velocity form with the anchor in G
    d = 0.2
    rule = r.to_update_rule(d, mu=mu, kappa=kappa)
    got, _ = run_optimizer(lambda px, py: O.from_rule(rule, px, py), torch_quadratic(h, A),
                           x0, y0)
    ref = velocity_form(SCHEMES["semi-implicit"], ("curl", "friction", "anchor"), h, A,
                        np.concatenate([x0, y0]), STEPS, delta_=d, mu=mu, kappa=kappa)
    assert np.abs(got - ref).max() <= 1e-12
    # registered, it is known by name
    register_force(Anchor)
    try:
        assert derive("curl,anchor").forces == ("curl", "anchor")
    finally:
        REGISTRY.pop("anchor")


# ------------------------------------------------------------- Adam preconditioning
def test_adam_preconditioned_lead_rule_is_lead_adam():
    game, f = nonlinear_game()
    x0, y0 = np.array([0.5, -0.2]), np.array([0.1, 0.6])
    rule = _rule("curl,magnetic,friction", "semi-implicit", 0.2, mu=1.0, q=1.5)
    kw = dict(lr=0.01, betas=(0.8, 0.99), eps=1e-8)
    got, _ = run_optimizer(lambda px, py: O.from_rule(rule, px, py, precondition="adam", **kw),
                           f, x0, y0)
    ref, _ = run_optimizer(lambda px, py: O.LEADAdam(px, py, alpha=rule.alpha / rule.eta, **kw),
                           f, x0, y0)
    assert np.abs(got - ref).max() <= 1e-12


def test_adam_preconditioned_consensus_rule_from_algorithm_2():
    """Alternating Adam on the direction g + gamma J^T v (consensus' term over eta)."""
    h, A, x0, y0 = quadratic_problem(8)
    g_, lr, (b1, b2), eps = 0.5, 0.05, (0.9, 0.99), 1e-8
    rule = _rule("curl,friction,consensus", "semi-implicit", 0.2, mu=1.0, gamma=g_)
    K = np.block([[h * np.eye(2), A], [-A.T, h * np.eye(2)]])
    z = np.concatenate([x0, y0])
    mom, sq, ref = np.zeros(4), np.zeros(4), []
    for t in range(1, STEPS + 1):
        for sl in (slice(0, 2), slice(2, 4)):          # x, then y at (x_{t+1}, y_t)
            u = (K @ z + g_ * K.T @ K @ z)[sl]
            mom[sl] = b1 * mom[sl] + (1 - b1) * u
            sq[sl] = b2 * sq[sl] + (1 - b2) * u * u
            z[sl] = z[sl] - lr * (mom[sl] / (1 - b1 ** t)) / (np.sqrt(sq[sl] / (1 - b2 ** t)) + eps)
        ref.append(z.copy())
    got, _ = run_optimizer(lambda px, py: O.from_rule(rule, px, py, precondition="adam", lr=lr,
                                                      betas=(b1, b2), eps=eps),
                           torch_quadratic(h, A), x0, y0)
    assert np.abs(got - np.array(ref)).max() <= 1e-12


def adam_rule_reference(rule, h, A, z0, steps, *, lr, betas, eps):
    """Adam preconditioning of ``rule`` on f = h/2 |x|^2 + x^T A y - h/2 |y|^2, written
    from its definition in numpy: alternating (x at (x_t, y_t), then y at (x_{t+1}, y_t),
    d the players' last steps), each player's direction ``u = -s0 / unit`` with ``s0``
    the step of the rule with beta = 0, solved densely:

        s0 = -eta v(P) - alpha B d - c K^T v(P) - a B s0      (v = K z, B the mixed blocks)

    with ``P`` = z + lookahead d (explicit, implicit coupling) or z + s0 (proximal),
    ``a`` = alpha_implicit, ``c`` the consensus coefficient, ``unit`` = eta (or |c|
    when eta = 0); then Adam's lines 8-12 on u."""
    n = A.shape[0]
    N, I = 2 * n, np.eye(2 * n)
    K = np.block([[h * np.eye(n), A], [-A.T, h * np.eye(n)]])
    B = np.block([[np.zeros((n, n)), A], [-A.T, np.zeros((n, n))]])
    co = rule.coefficients()
    eta, alpha, a, la = rule.eta, rule.alpha, rule.alpha_implicit, rule.lookahead
    c = co.get("consensus", 0.0)
    unit = eta if eta > 0 else abs(c)
    G = eta * K + c * K.T @ K                            # the field terms' matrix
    b1, b2 = betas
    z, prev = z0.copy(), z0.copy()
    mom, sq, out = np.zeros(N), np.zeros(N), []
    for t in range(1, steps + 1):
        for sl in (slice(0, n), slice(n, N)):
            d = z - prev
            if rule.proximal:        # s0 = -G (z + s0) - alpha B d - a B s0
                s0 = np.linalg.solve(I + G + a * B, -G @ z - alpha * B @ d)
            else:                    # s0 = -G (z + la d) - alpha B d - a B s0
                s0 = np.linalg.solve(I + a * B, -G @ (z + la * d) - alpha * B @ d)
            u = -s0[sl] / unit
            mom[sl] = b1 * mom[sl] + (1 - b1) * u
            sq[sl] = b2 * sq[sl] + (1 - b2) * u * u
            prev[sl] = z[sl]
            z[sl] = z[sl] - lr * (mom[sl] / (1 - b1 ** t)) / (np.sqrt(sq[sl] / (1 - b2 ** t)) + eps)
        out.append(z.copy())
    return np.array(out)


ADAM_MEMBERS = [("curl,magnetic,friction", "implicit-magnetic", 0.3, {}),
                ("curl,magnetic,friction", "implicit-magnetic", 0.3, dict(mu=1 / 0.3, q=0.3)),
                ("curl,magnetic,friction", "implicit-curl", 0.15, {}),
                ("curl,friction", "implicit-curl", 0.4, dict(mu=1 / 0.4)),
                ("curl,magnetic,friction", "nesterov", 0.2, {}),
                ("curl,magnetic,friction", "explicit", 0.2, {}),
                ("curl,friction,consensus", "implicit-curl", 0.15, {}),
                ("curl,friction,consensus", "nesterov", 0.2, {}),
                ("friction,consensus", "semi-implicit", 0.2, dict(mu=1 / 0.2)),
                ("magnetic,consensus", "implicit-magnetic", 0.2, {})]


@pytest.mark.parametrize("forces,scheme,d,phys", ADAM_MEMBERS,
                         ids=[f"{f}-{s}-{i}" for i, (f, s, _, _) in enumerate(ADAM_MEMBERS)])
def test_adam_preconditioned_member_from_its_definition(forces, scheme, d, phys):
    """Every member through Adam (implicit coupling, proximal, lookahead, no curl), against
    the numpy reference above, iterate by iterate. The inner solves stop at relative
    residual 1e-10 (the fixed point's error amplified by 1/(1 - its contraction factor)),
    so the iterates carry errors below 1e-9."""
    h, A, x0, y0 = quadratic_problem(9)
    rule = derive(forces, scheme).to_update_rule(d, **{**PHYS, **phys})
    kw = dict(lr=0.05, betas=(0.8, 0.99), eps=1e-8)
    ref = adam_rule_reference(rule, h, A, np.concatenate([x0, y0]), STEPS, **kw)
    got, opt = run_optimizer(lambda px, py: O.from_rule(rule, px, py, precondition="adam",
                                                        **kw), torch_quadratic(h, A), x0, y0)
    assert np.abs(got - ref).max() <= 1e-9
    if not rule.is_explicit:         # both players' solves, in the state
        assert opt.last_solve.kind == ("fixed_point" if rule.proximal else "gmres")
        assert opt.last_solve.residual <= 1e-10 and opt.inner_iterations >= 2 * STEPS


# the explicit members of examples/gan_derived.py whose Adam direction is not LEAD-Adam's
# (lookahead, consensus), with its physical parameters (delta 0.1, q 0.06, gamma 0.3)
GAN_MEMBERS = [("curl", "explicit"), ("curl", "nesterov"),
               ("curl,magnetic", "explicit"), ("curl,magnetic", "nesterov"),
               ("curl,consensus", "semi-implicit"), ("curl,consensus", "explicit"),
               ("curl,consensus", "nesterov"), ("curl,magnetic,consensus", "semi-implicit"),
               ("curl,magnetic,consensus", "explicit"), ("curl,magnetic,consensus", "nesterov")]


def _gan_member(forces, scheme):
    kw = {"q": 0.06} if "magnetic" in forces else {}
    if "consensus" in forces:
        kw["gamma"] = 0.3
    return derive(forces, scheme).to_update_rule(0.1, **kw)


def small_gan(dtype, width=8):
    """A small GAN (ReLU/Tanh/Softplus MLPs, non-saturating loss) on one fixed batch, with
    gans.train's per-player closure (each call recomputes G(z)); ``calls`` counts them."""
    from gans.losses import non_saturating
    torch.manual_seed(0)
    nn = torch.nn
    G = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, width), nn.Tanh(),
                      nn.Linear(width, 2)).to(dtype)
    D = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width), nn.Softplus(),
                      nn.Linear(width, 1)).to(dtype)
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(16, 2, generator=gen, dtype=dtype)
    z = torch.randn(16, 4, generator=gen, dtype=dtype)
    calls = [0]

    def closure(player):
        calls[0] += 1
        return non_saturating(D, real, G(z), player)
    return list(G.parameters()), list(D.parameters()), closure, calls


class JointRuleAdam(RuleAdam):
    """Reference: each player's direction is its part of the JOINT step of both players
    (both gradients, both mixed-block products, every term on the whole joint field), as
    RuleAdam took it before it computed one player's part alone."""

    def _timed_direction(self, closure, i):
        if i == "y":
            self._grads_set.discard("y")
        theta = {j: [p.detach() for p in self.player_params(j)] for j in "xy"}
        d = {j: [t.detach() for t in self._displacement(j)] for j in "xy"}
        ev, step, _ = self._rule_solve(closure, theta, d)
        return ev, ([-t for t in step[i]], None)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("forces,scheme", GAN_MEMBERS, ids=[f"{f}-{s}" for f, s in GAN_MEMBERS])
def test_adam_preconditioned_explicit_member_takes_one_players_step(forces, scheme, dtype,
                                                                    monkeypatch):
    """An explicit rule through Adam computes each player's direction alone (its gradient,
    its mixed-block product, its component of J^T v) with bitwise the parameters, state
    and .grad of taking it from the joint step of both players, on a small GAN, 20 steps;
    and with fewer closure calls and autograd inputs."""
    rule = _gan_member(forces, scheme)
    assert rule.is_explicit and (rule.terms or rule.lookahead != 0)
    passes = []
    grad = torch.autograd.grad

    def counted(outputs, inputs, *a, **kw):
        passes.append(len(inputs))
        return grad(outputs, inputs, *a, **kw)
    monkeypatch.setattr(torch.autograd, "grad", counted)
    out = {}
    for name, cls in (("joint", JointRuleAdam), ("alone", RuleAdam)):
        px, py, closure, calls = small_gan(dtype)
        opt = cls(px, py, rule, lr=(3e-3, 2e-3), betas=((0.5, 0.9), (0.55, 0.9)))
        passes.clear()
        for _ in range(20):
            opt.step(closure)
        out[name] = (px + py, [opt.state[p] for p in px + py], calls[0], sum(passes))
    (pj, sj, cj, nj), (pa, sa, ca, na) = out["joint"], out["alone"]
    assert all(torch.equal(a, b) and torch.equal(a.grad, b.grad) for a, b in zip(pa, pj))
    assert all(set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
               for a, b in zip(sa, sj))
    # a player's step evaluates only its own loss unless consensus needs the opponent's
    assert ca == (cj if "consensus" in forces else cj // 2) and cj == 20 * 4
    assert na < nj


@pytest.mark.parametrize("forces,scheme", GAN_MEMBERS, ids=[f"{f}-{s}" for f, s in GAN_MEMBERS])
def test_adam_preconditioned_explicit_member_direction_by_autograd(forces, scheme):
    """Each player's direction ``u_i = g_i + (alpha/eta) grad_ij L_i d_j + (c/eta)
    (J^T v)_i`` at ``p = theta + lookahead d``, against plain autograd through the full
    joint field (``J^T v = grad 1/2 |v|^2``) at every player step of 6 steps on the small
    GAN in float64: equal to rounding (1e-12 of the direction's size)."""
    rule = _gan_member(forces, scheme)
    errors = []

    class Checked(RuleAdam):
        def _timed_direction(self, closure, i):
            ev, (u, m) = super()._timed_direction(closure, i)
            ref = _autograd_direction(self, raw, i)
            scale = max(float(t.abs().max()) for t in ref)
            errors.append(max(float((a - b).abs().max()) for a, b in zip(u, ref)) / scale)
            return ev, (u, m)
    px, py, raw, _ = small_gan(torch.float64)
    opt = Checked(px, py, rule, lr=(3e-3, 2e-3), betas=((0.5, 0.9), (0.55, 0.9)))
    for _ in range(6):
        opt.step(raw)
    assert len(errors) == 12 and max(errors) <= 1e-12


def _autograd_direction(opt, closure, i):
    rule = opt.rule
    assert {t.label for t in rule.terms} <= {"consensus"}
    ps = opt.player_params("x") + opt.player_params("y")
    n = len(opt.player_params("x"))
    own, other = (slice(0, n), slice(n, None)) if i == "x" else (slice(n, None), slice(0, n))
    d = [(p - opt.state[p]["prev"]).detach() for p in ps]
    theta = [p.detach().clone() for p in ps]
    with torch.no_grad():
        for p, t in zip(ps, d):
            p.add_(rule.lookahead * t)
    try:
        g = {"x": torch.autograd.grad(closure("x"), ps, create_graph=True),
             "y": torch.autograd.grad(closure("y"), ps, create_graph=True)}
        v = list(g["x"][:n]) + list(g["y"][n:])
        u = [t.detach() for t in v[own]]
        if rule.alpha != 0:            # grad_i <grad_j L_i, d_j>
            inner = sum((a * b).sum() for a, b in zip(g[i][other], d[other]))
            m = torch.autograd.grad(inner, ps[own], retain_graph=True)
            u = [a + rule.alpha / rule.eta * b for a, b in zip(u, m)]
        for t in rule.terms:           # consensus: grad_i 1/2 |v|^2
            half = 0.5 * sum((a * a).sum() for a in v)
            jtv = torch.autograd.grad(half, ps[own], retain_graph=True)
            u = [a + t.coefficient / rule.eta * b for a, b in zip(u, jtv)]
    finally:
        with torch.no_grad():
            for p, t in zip(ps, theta):
                p.copy_(t)
    return u


# ------------------------------------------------------------- the map
def test_family_members_and_json(tmp_path, capsys):
    from gamemech.cli import main
    members = family(quadratic(0.5, [[1.0]]), forces=("curl", "magnetic", "friction"),
                     schemes=("semi-implicit", "implicit-magnetic"), starts=1,
                     polish_maxiter=40)
    assert len(members) == 7 * 2
    lead = [mb for mb in members if mb.known_as == "LEAD"]
    assert lead and lead[0].runnable and lead[0].tuned_spectral_radius < 1
    assert all(not mb.runnable and "never moves from rest" in mb.as_dict()["reason"]
               for mb in members if "curl" not in mb.forces)
    no_curl = family(forces=("friction", "consensus"), tune_radius=False)
    assert all(mb.runnable == ("consensus" in mb.forces) for mb in no_curl)  # consensus moves it
    assert {mb.known_as for mb in no_curl} >= {"Hamiltonian gradient descent"}
    radii = [mb.tuned_spectral_radius for mb in members if mb.tuned_spectral_radius is not None]
    assert radii == sorted(radii)
    rc = main(["family", "--game", "quadratic", "--h", "0.5", "--A", "[[1]]", "--forces",
               "curl,friction", "--starts", "1", "--polish-maxiter", "30", "--json",
               "--plot", str(tmp_path / "family.png")])
    assert rc == 0 and (tmp_path / "family.png").stat().st_size > 0
    out = json.loads(capsys.readouterr().out)
    keys = {"forces", "scheme", "known_as", "runnable", "coefficients", "tuned_spectral_radius"}
    assert all(keys <= set(mb) for mb in out["members"])
    assert len(out["members"]) == 3 * len(SCHEMES)
    assert main(["family", "--game", "coop", "--forces", "curl,gravity"]) == 2


def test_train_derived_with_adam_preconditioning(tmp_path):
    """``--optimizer derived --precondition adam`` trains as LEAD-Adam with
    alpha = rule.alpha / rule.eta (CLI and config)."""
    from gamemech.cli import main
    from gans.train import TrainConfig, train
    delta, mu, q = 0.1, 0.5, 2.0
    base = dict(iters=3, width=4, batch_size=8, progress=False, eval_samples=50, lr_g=1e-3,
                lr_d=2e-3)
    d = train(TrainConfig(optimizer="derived", precondition="adam", delta=delta, mu=mu, q=q,
                          **base))
    lead = train(TrainConfig(optimizer="lead-adam", alpha_g=q / delta, alpha_d=q / delta,
                             **base))
    a = {**d.G.state_dict(), **{f"D{k}": v for k, v in d.D.state_dict().items()}}
    b = {**lead.G.state_dict(), **{f"D{k}": v for k, v in lead.D.state_dict().items()}}
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)
    argv = ["train", "--task", "mog1d", "--iters", "1", "--width", "4", "--batch-size", "8",
            "--eval-samples", "50", "--no-progress", "--optimizer", "derived",
            "--forces", "curl,friction,consensus", "--delta", "0.1", "--mu", "1",
            "--gamma", "0.3", "--precondition", "adam", "--lr", "1e-3",
            "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    assert main(argv[:-2] + ["--alpha", "1", "--out", str(tmp_path / "r2")]) == 2


# ------------------------------------------------------------- inner solves in the state
@pytest.mark.parametrize("adam", [False, True], ids=["plain", "adam"])
@pytest.mark.parametrize("forces,scheme,phys", [
    ("curl,magnetic,friction", "implicit-magnetic", {}),
    ("curl,magnetic,friction", "implicit-curl", {}),
    ("curl,friction", "implicit-curl", dict(mu=1 / 0.3))])          # proximal point: no prev
def test_inner_solves_live_in_the_state_and_resume_bitwise(forces, scheme, phys, adam):
    """2k steps equal k steps, ``state_dict`` (deep-copied), a fresh optimizer,
    ``load_state_dict``, k more (torch.equal); the inner iterations travel with it."""
    import copy
    _, f = nonlinear_game()
    rule = derive(forces, scheme).to_update_rule(0.3, **{**PHYS, **phys})
    kw = dict(precondition="adam", lr=0.02, betas=(0.8, 0.99)) if adam else {}
    x0, y0 = torch.tensor([0.7, -0.4], dtype=torch.float64), torch.tensor([0.3, 0.9],
                                                                          dtype=torch.float64)

    def run(steps, x=None, y=None, sd=None):
        x = x0.clone().requires_grad_(True) if x is None else x
        y = y0.clone().requires_grad_(True) if y is None else y
        opt = O.from_rule(rule, [x], [y], **kw)
        if sd is not None:
            opt.load_state_dict(sd)
        for _ in range(steps):
            opt.step(lambda: (f(x, y), -f(x, y)))
        return x, y, opt

    k = 4
    x, y, straight = run(2 * k)
    xa, ya, first = run(k)
    sd = copy.deepcopy(first.state_dict())
    st = sd["state"][0]
    assert st["solve_iterations"] >= 1 and st["solve_residual"] <= 1e-10
    xb, yb = xa.detach().clone().requires_grad_(True), ya.detach().clone().requires_grad_(True)
    xb, yb, resumed = run(k, xb, yb, sd)
    assert torch.equal(x, xb) and torch.equal(y, yb)
    for p, q in zip([x, y], [xb, yb]):
        a, b = straight.state[p], resumed.state[q]
        assert set(a) == set(b) and all(torch.equal(a[k_], b[k_]) if torch.is_tensor(a[k_])
                                        else a[k_] == b[k_] for k_ in a)
    assert resumed.last_solve == straight.last_solve
    assert resumed.inner_iterations == straight.inner_iterations > first.inner_iterations
    last = straight.last_solve
    assert straight.state[y]["solve_iterations"] == last.iterations
    assert last.kind == ("fixed_point" if rule.proximal else "gmres")
    with pytest.raises(AttributeError):
        straight.last_solve = None                    # a read-only view of the state


@pytest.mark.parametrize("scheme,forces", [("implicit-magnetic", "curl,magnetic,friction"),
                                           ("implicit-curl", "curl,magnetic,friction"),
                                           ("nesterov", "curl,magnetic,friction"),
                                           ("semi-implicit", "friction,consensus")])
def test_train_any_member_with_adam_preconditioning(tmp_path, scheme, forces):
    """``gamemech train --optimizer derived --precondition adam --scheme ...`` runs every
    kind of member (implicit coupling, proximal, lookahead, no curl)."""
    from gamemech.cli import main
    out = tmp_path / "run"
    argv = ["train", "--task", "mog1d", "--iters", "2", "--width", "4", "--batch-size", "8",
            "--eval-samples", "50", "--no-progress", "--optimizer", "derived",
            "--forces", forces, "--scheme", scheme, "--delta", "0.1", "--mu", "10",
            "--q", "1", "--gamma", "0.3", "--precondition", "adam", "--lr", "1e-3",
            "--out", str(out)]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["optimizer_class"] == "RuleAdam" and metrics["derived"]["scheme"] == scheme
    if scheme in ("implicit-magnetic", "implicit-curl"):     # inner solves, from the state
        assert metrics["derived"]["inner_iterations"] >= 2 * 2
        assert metrics["derived"]["last_solve"]["kind"] in ("gmres", "fixed_point")
        assert metrics["derived"]["unconverged_solves"] == 0      # (default: raise)
    else:
        assert "inner_iterations" not in metrics["derived"]


def test_train_unconverged_policy_through_hyper(tmp_path, capsys):
    """``--hyper max_iter=1``: an implicit member's GMRES solve stops above tol; by default
    the run stops with the solver's message (exit 2), with ``--hyper unconverged=accept``
    it trains and metrics.json counts every solve as unconverged (two per iteration)."""
    from gamemech.cli import main
    argv = ["train", "--task", "mog1d", "--iters", "2", "--width", "4", "--batch-size", "8",
            "--eval-samples", "50", "--no-progress", "--optimizer", "derived",
            "--forces", "curl,magnetic", "--scheme", "implicit-magnetic", "--delta", "0.1",
            "--q", "1", "--precondition", "adam", "--lr", "1e-3", "--hyper", "max_iter=1"]
    assert main(argv + ["--out", str(tmp_path / "a")]) == 2
    assert "did not converge" in capsys.readouterr().err
    assert main(argv + ["--hyper", "unconverged=accept", "--out", str(tmp_path / "b")]) == 0
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["derived"]["unconverged_solves"] == 2 * 2
    assert metrics["derived"]["inner_iterations"] == 2 * 2


def test_adam_preconditioning_refuses_what_does_not_apply():
    x, y = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    rule = _rule("curl,magnetic,friction", "implicit-magnetic", 0.2, mu=1.0, q=1.0)
    with pytest.raises(ValueError, match="alternating"):
        O.from_rule(rule, [x], [y], precondition="adam", lr=0.1, alternating=True)
    with pytest.raises(ValueError, match="mixed_source"):
        O.from_rule(rule, [x], [y], precondition="adam", lr=0.1, mixed_source="opponent")
    with pytest.raises(ValueError, match="max_iter"):
        O.from_rule(rule, [x], [y], precondition="adam", lr=0.1, max_iter=0)


def test_adam_preconditioned_implicit_member_sets_grad_where_loss_is_taken():
    """``.grad`` after a step: x's at (x_t, y_t), y's at (x_{t+1}, y_t) (Algorithm 2's
    evaluation points, as for LEAD-Adam), although the joint solve of x's direction
    also computes y's gradient at (x_t, y_t)."""
    h, A, x0, y0 = quadratic_problem(12)
    f = torch_quadratic(h, A)
    rule = _rule("curl,magnetic,friction", "implicit-magnetic", 0.3, mu=1.0, q=1.0)
    x, y = torch.tensor(x0, requires_grad=True), torch.tensor(y0, requires_grad=True)
    opt = O.from_rule(rule, [x], [y], precondition="adam", lr=0.1)
    loss_x, loss_y = opt.step(lambda: (f(x, y), -f(x, y)))
    x1 = x.detach().numpy()
    assert not np.allclose(x1, x0)
    assert np.allclose(x.grad.numpy(), h * x0 + A @ y0, rtol=0, atol=1e-14)
    assert np.allclose(y.grad.numpy(), -(A.T @ x1 - h * y0), rtol=0, atol=1e-14)
    assert float(loss_y) == pytest.approx(-float(f(torch.tensor(x1), torch.tensor(y0))), abs=1e-14)


def test_oracle_players_are_checked_and_kept_in_player_order():
    """``players`` is normalised to PLAYERS order (the vjp splits its inputs in that
    order) and an unknown or empty choice is refused by name."""
    from optimizers.rule import EvaluationDerivatives
    oracle = EvaluationDerivatives(None, {"x": [], "y": []}, players=("y", "x"))
    assert oracle.players == ("x", "y")
    for bad in ((), ("z",), ("x", "w")):
        with pytest.raises(ValueError, match="players"):
            EvaluationDerivatives(None, {"x": [], "y": []}, players=bad)
