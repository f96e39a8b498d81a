"""simulate(): every backend against the exact flow expm(tP) of eq. 36, and each other."""
import numpy as np
import pytest
import scipy.linalg
import torch

import mechanics as M
from conftest import quadratic_phase_matrix
from integrators import SCIPY_METHODS, Trajectory, simulate

try:
    import torchode  # noqa: F401  (optional backend)
    BATCHED = ["torchdiffeq", "torchode"]
except ImportError:
    BATCHED = ["torchdiffeq"]
BACKENDS = ["scipy", *BATCHED]


def lead_particle(A, h=0.2, mu=0.5, q=None):
    q = 2 / mu + mu if q is None else q
    return M.Particle(M.quadratic(h, A), M.Curl() + M.Magnetic(q) + M.Friction(mu))


def exact(A, h, mu, q, z0, ts):
    P = quadratic_phase_matrix(h, A, mu, q)
    return np.stack([scipy.linalg.expm(t * P) @ z0 for t in ts])


@pytest.mark.parametrize("n", [1, 5])  # players of dimension n: a 2-D and a 10-D game
def test_backends_agree_with_each_other_and_the_exact_flow(rng, n):
    A = rng.normal(size=(n, n))
    h, mu = 0.2, 0.5
    dyn = lead_particle(A, h, mu)
    z0 = rng.normal(size=dyn.dim)
    ts = np.linspace(0, 5, 11)
    ref = exact(A, h, mu, 2 / mu + mu, z0, ts)
    scale = np.abs(ref).max()
    for rtol in (1e-6, 1e-9):
        atol = rtol * 1e-2
        zs = {b: simulate(dyn, z0, ts, backend=b, rtol=rtol, atol=atol).zs.numpy()
              for b in BACKENDS}
        for b, z in zs.items():
            err = np.abs(z - ref).max() / scale
            # a local-error tolerance accumulates over ~100 steps: allow 100x, not more
            assert err < 100 * rtol, (b, rtol, err)
        assert np.abs(zs["scipy"] - zs["torchdiffeq"]).max() / scale < 200 * rtol


@pytest.mark.parametrize("method", SCIPY_METHODS)
def test_every_scipy_method_including_stiff_ones(rng, method):
    A = rng.normal(size=(2, 2))
    dyn = lead_particle(A)
    z0, ts = rng.normal(size=dyn.dim), np.linspace(0, 2, 5)
    traj = simulate(dyn, z0, ts, backend="scipy", method=method, rtol=1e-8, atol=1e-10)
    ref = exact(A, 0.2, 0.5, 4.5, z0, ts)
    assert np.abs(traj.zs.numpy() - ref).max() < 1e-5 * np.abs(ref).max()
    if method in ("Radau", "BDF"):
        assert traj.stats["njev"] > 0  # the exact Jacobian (the closed form's matrix) was used


def test_a_batch_of_1000_initial_conditions_is_one_torch_call(rng):
    A = rng.normal(size=(2, 2))
    dyn = lead_particle(A)
    z0 = rng.normal(size=(1000, dyn.dim))
    ts = np.linspace(0, 3, 4)
    batch = simulate(dyn, z0, ts, backend="torchdiffeq", rtol=1e-8, atol=1e-10)
    single = simulate(dyn, z0[0], ts, backend="torchdiffeq", rtol=1e-8, atol=1e-10)
    assert batch.zs.shape == (4, 1000, dyn.dim)
    # one solve: the field is evaluated per step for the whole batch, not 1000 times over
    assert batch.stats["nfev"] < 3 * single.stats["nfev"]
    P = quadratic_phase_matrix(0.2 * np.ones(1)[0], A, 0.5, 4.5)
    ref = np.einsum("tij,bj->tbi", np.stack([scipy.linalg.expm(t * P) for t in ts]), z0)
    assert np.abs(batch.zs.numpy() - ref).max() < 1e-5


@pytest.mark.parametrize("backend", ["scipy", "torchdiffeq"])
@pytest.mark.parametrize("names", [["curl"], ["curl", "friction"], ["curl", "magnetic"],
                                   ["curl", "magnetic", "friction"]])
def test_convergence_agrees_with_the_sign_of_the_max_real_eigenvalue(backend, names):
    mu = 0.5
    dyn = M.Particle(M.bilinear(), M.forces_from_names(names, mu=mu, q=2 / mu + mu))
    lam = dyn.max_real_eigenvalue()
    ts = np.linspace(0, 40, 81)
    traj = simulate(dyn, dyn.state([1.0], [1.0]), ts, backend=backend, rtol=1e-8, atol=1e-10)
    d = traj.distance(dyn.game.equilibrium).numpy()
    assert abs(lam) > 1e-3
    if lam < 0:
        assert d[-1] < 1e-3 * d[0] and not traj.diverged
    else:
        assert d[-1] > 10 * d[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_exploding_trajectory_is_reported_diverged_not_nan(backend):
    dyn = M.Particle(M.bilinear(), M.Curl())
    traj = simulate(dyn, dyn.state([1.0], [1.0]), np.linspace(0, 200, 201), backend=backend,
                    divergence_threshold=1e6)
    assert bool(traj.diverged) and 0 < float(traj.diverged_at) < 200
    assert torch.isfinite(traj.zs).all()
    # the growth rate is Re(eig) = 1/sqrt(2): the norm reaches 1e6 near t = ln(1e6)/0.707
    assert abs(float(traj.diverged_at) - np.log(1e6) / np.sqrt(0.5)) < 3


@pytest.mark.parametrize("backend", BATCHED)
def test_a_batch_with_one_diverging_member_keeps_the_others_accurate(backend):
    g = M.bilinear()
    dyn = M.Particle(g, M.Curl() + M.Magnetic(4.5) + M.Friction(0.5))
    z0 = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1e7, 1e7, 0.0, 0.0]])
    traj = simulate(dyn, z0, np.linspace(0, 10, 3), backend=backend,
                    divergence_threshold=1e6)
    assert traj.diverged.tolist() == [False, True]
    single = simulate(dyn, z0[0], np.linspace(0, 10, 3), backend=backend)
    assert torch.allclose(traj.zs[:, 0], single.zs, atol=1e-7)


@pytest.mark.parametrize("method, order", [("euler", 1), ("midpoint", 2), ("rk4", 4)])
def test_fixed_step_methods_have_their_order(rng, method, order):
    A = rng.normal(size=(1, 1))
    dyn = lead_particle(A)
    z0 = rng.normal(size=dyn.dim)
    ref = exact(A, 0.2, 0.5, 4.5, z0, [1.0])[-1]
    hs = [0.1, 0.05, 0.025, 0.0125]
    errs = [np.abs(simulate(dyn, z0, [0.0, 1.0], method=method, options={"step_size": h})
                   .zs[-1].numpy() - ref).max() for h in hs]
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.25, (method, slope)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reverse_time_returns_to_the_start(rng, backend):
    dyn = lead_particle(rng.normal(size=(2, 2)))
    z0 = rng.normal(size=dyn.dim)
    fwd = simulate(dyn, z0, [0.0, 1.0], backend=backend, rtol=1e-10, atol=1e-12)
    back = simulate(dyn, fwd.final, [1.0, 0.0], backend=backend, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(back.final.detach().numpy(), z0, atol=1e-7)


@pytest.mark.parametrize("adjoint", [False, True])
def test_gradcheck_through_simulate(rng, adjoint):
    dyn = lead_particle(rng.normal(size=(1, 1)))
    z0 = torch.tensor(rng.normal(size=dyn.dim), requires_grad=True)

    def final(z):
        return simulate(dyn, z, [0.0, 0.5], method="rk4", options={"step_size": 0.05},
                        adjoint=adjoint).final
    assert torch.autograd.gradcheck(final, (z0,), atol=1e-6)


@pytest.mark.parametrize("backend", BATCHED)
def test_float32_batch_runs_in_float32(rng, backend):
    dyn = lead_particle(rng.normal(size=(2, 2)))
    z0 = torch.randn(7, dyn.dim, dtype=torch.float32)
    traj = simulate(dyn, z0, np.linspace(0, 1, 3), rtol=1e-5, atol=1e-6, backend=backend)
    assert traj.zs.dtype == torch.float32 and traj.zs.shape == (3, 7, dyn.dim)


def test_gradient_flow_and_save_load(tmp_path, rng):
    flow = M.GradientFlow(M.quadratic(0.3, rng.normal(size=(2, 2))))
    traj = simulate(flow, flow.state([1.0, 0.0], [0.0, 1.0]), np.linspace(0, 1, 5), backend="scipy",
                    dense_output=True)
    path = traj.save(tmp_path / "traj.npz")
    back = Trajectory.load(path)
    assert torch.equal(back.zs, traj.zs) and torch.equal(back.ts, traj.ts)
    assert back.n == 2 and not back.has_velocity
    assert traj.dense[0](0.5).shape == (4,)
    with pytest.raises(AttributeError):
        traj.vx
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a trajectory file"):
        Trajectory.load(tmp_path / "junk.npz")


@pytest.mark.parametrize("kwargs, match", [
    ({"backend": "julia"}, "unknown backend 'julia'; valid: scipy, torchdiffeq"),
    ({"backend": "scipy", "method": "rk4"}, "unknown scipy method 'rk4'"),
    ({"method": "RK45"}, "unknown torchdiffeq method 'RK45'"),
    ({"rtol": -1.0}, "rtol must be positive"),
    ({"ts": [0.0]}, "at least two save times"),
    ({"ts": [0.0, 2.0, 1.0]}, "strictly increasing"),
    ({"z0": [1.0, 2.0]}, "last dimension 4"),
    ({"z0": [1.0, float("nan"), 0.0, 0.0]}, "non-finite"),
    ({"backend": "scipy", "adjoint": True}, "adjoint=True needs the torchdiffeq backend"),
])
def test_bad_simulate_arguments(kwargs, match):
    dyn = M.Particle(M.bilinear(), M.Curl())
    args = {"z0": [1.0, 1.0, 0.0, 0.0], "ts": [0.0, 1.0]}
    args.update(kwargs)
    z0, ts = args.pop("z0"), args.pop("ts")
    with pytest.raises(ValueError, match=match):
        simulate(dyn, z0, ts, **args)


def test_divergence_freezing_matches_a_per_trajectory_loop(rng):
    """The vectorized freeze against the plain loop it replaced: every state from the first
    bad one (norm past the threshold, inf or NaN) on becomes the last good state."""
    from integrators.simulate import _first_crossing, _freeze_after_divergence
    zs = torch.as_tensor(rng.normal(size=(9, 3, 2, 4)))
    zs[4, 0, 1, 2] = 1e9
    zs[0, 2, 0, 0] = float("nan")  # bad from the start: frozen at the first state
    zs[7:, 1, 1] = float("inf")
    ts = torch.linspace(0, 1, 9, dtype=torch.float64)
    diverged, at = _first_crossing(zs, ts, 1e6)
    assert diverged.tolist() == [[False, True], [False, True], [True, False]]
    assert at[0, 1] == ts[4] and at[1, 1] == ts[7] and at[2, 0] == ts[0]
    got = _freeze_after_divergence(zs, diverged, 1e6)
    want = zs.clone()
    for b in range(3):
        for c in range(2):
            traj = want[:, b, c]
            good = [bool(torch.isfinite(s).all() and torch.linalg.vector_norm(s) <= 1e6)
                    for s in traj]
            if False in good:
                k = good.index(False)
                traj[k:] = traj[max(k - 1, 0)].clone()
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


def test_torchode_steps_each_trajectory_on_its_own():
    pytest.importorskip("torchode")
    dyn = lead_particle(np.array([[1.0]]))
    # atol dominates for the tiny state, rtol for the large one: different step sizes
    z0 = torch.tensor([[1e-8, 0.0, 0.0, 0.0], [1e3, -1e3, 0.0, 0.0]], dtype=torch.float64)
    ts = np.linspace(0, 4, 5)
    traj = simulate(dyn, z0, ts, backend="torchode", rtol=1e-9, atol=1e-9)
    steps = traj.stats["steps_per_trajectory"]
    assert steps.shape == (2,) and steps[0] < steps[1]
    # torchode evaluates the whole batch at once: every trajectory saw every evaluation
    assert traj.stats["nfev_per_trajectory"].tolist() == [traj.stats["nfev"]] * 2
    ref = np.einsum("tij,bj->tbi", np.stack([scipy.linalg.expm(
        t * quadratic_phase_matrix(0.2, np.array([[1.0]]), 0.5, 4.5)) for t in ts]), z0.numpy())
    assert np.abs(traj.zs.numpy() - ref).max() < 1e-5
    assert traj.success and traj.stats["backend"] == "torchode"


def test_torchode_fixed_steps_and_bad_options(rng):
    pytest.importorskip("torchode")
    A = rng.normal(size=(1, 1))
    dyn = lead_particle(A)
    z0 = rng.normal(size=dyn.dim)
    ref = exact(A, 0.2, 0.5, 4.5, z0, [1.0])[-1]
    errs = [np.abs(simulate(dyn, z0, [0.0, 1.0], backend="torchode", method="heun",
                            options={"step_size": h}).final.numpy() - ref).max()
            for h in (0.02, 0.01)]
    assert 3.0 < errs[0] / errs[1] < 5.0  # Heun is second order: halving h quarters the error
    with pytest.raises(ValueError, match="unknown torchode method 'rk4'"):
        simulate(dyn, z0, [0.0, 1.0], backend="torchode", method="rk4")
    with pytest.raises(ValueError, match="unknown torchode options"):
        simulate(dyn, z0, [0.0, 1.0], backend="torchode", options={"first_step": 0.1})


def test_torchode_missing_is_a_clear_error(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torchode", None)
    dyn = M.Particle(M.bilinear(), M.Curl())
    with pytest.raises(ImportError, match="pip install torchode"):
        simulate(dyn, [1.0, 1.0, 0.0, 0.0], [0.0, 1.0], backend="torchode")


@pytest.mark.parametrize("game, n", [("quadratic", 2), ("quadratic", 20), ("dirac-gan", 1)])
def test_torchodes_plain_field_equals_the_module_field(rng, game, n):
    """What the torchode backend hands the solver (``_Field.plain``: closed form resolved once,
    inline freeze test) gives exactly the module's values, freeze included, and gradients."""
    from integrators.simulate import _Field
    g = M.quadratic(0.2, rng.normal(size=(n, n))) if game == "quadratic" else M.make_game(game)
    dyn = M.Particle(g, M.Curl() + M.Magnetic(4.5) + M.Friction(0.5))
    z = torch.as_tensor(rng.normal(size=(6, dyn.dim)))
    module, plain = _Field(dyn, 1e3, z.dtype), _Field(dyn, 1e3, z.dtype)
    rhs = plain.plain(z)
    assert (rhs == plain.forward) == (dyn.fast_field().kind == "autograd")
    wild = z.clone()
    wild[1] *= 1e4  # past the threshold: frozen
    wild[4, 0] = float("inf")
    for state in (z, wild):
        torch.testing.assert_close(rhs(0.0, state), module(0.0, state), rtol=0, atol=0)
    assert plain.nfev == module.nfev == 2 and rhs(0.0, wild)[[1, 4]].eq(0).all()
    leaf = z.clone().requires_grad_()
    rhs(0.0, leaf).square().sum().backward()
    zz = z.clone().requires_grad_()
    dyn.vector_field(0.0, zz).square().sum().backward()
    torch.testing.assert_close(leaf.grad, zz.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, enabled", [((16, 4), False), ((3000, 4), True)])
def test_torchodes_stage_sums_use_the_cheap_einsum_order_and_restore_the_flags(shape, enabled):
    from integrators.simulate import STAGE_SUM_SEARCH_MIN, _stage_sum_order
    if not torch.backends.opt_einsum.is_available():
        pytest.skip("opt_einsum is not installed: torch's own order is used")
    assert (shape[0] * shape[1] >= STAGE_SUM_SEARCH_MIN) == enabled
    before = (torch.backends.opt_einsum.enabled, torch.backends.opt_einsum.strategy)
    dt, w = torch.rand(shape[0], dtype=torch.float64), torch.rand(7, dtype=torch.float64)
    k = torch.randn(7, *shape, dtype=torch.float64)
    with _stage_sum_order(k[0]):
        assert torch.backends.opt_einsum.enabled == enabled
        if enabled:
            assert torch.backends.opt_einsum.strategy == "greedy"
        got = torch.einsum("b, s, sbf -> bf", dt, w, k)
    assert (torch.backends.opt_einsum.enabled, torch.backends.opt_einsum.strategy) == before
    torch.testing.assert_close(got, dt[:, None] * (w[:, None, None] * k).sum(0))
