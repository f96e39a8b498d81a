"""Each optimizer against an independent numpy reference on a quadratic game.

The references below are written from the papers' formulas (LEAD eq. 12 / Alg. 1-2,
FR App. D.1, Gidel et al. Alg. 4, Daskalakis et al. Alg. 1) with hand-derived
gradients of the quadratic game; they share no code with ``optimizers``.

Game (x in R^3, y in R^2), general-sum when B != A:
    L_x = 1/2 x'Px + x'Ay + b'x        L_y = 1/2 y'Qy - x'By + c'y
so grad_x L_x = Px + Ay + b, grad_y L_y = Qy - B'x + c,
grad_xy L_x = A, grad_yx L_y = -B', grad_xy L_y = -B, grad_yx L_x = A'.
Zero-sum (B = A): L_y = -f with f = 1/2 x'Px + x'Ay - 1/2 y'Qy + b'x - c'y.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import optimizers as O
from integrators.derive import derive
from integrators.rule import UpdateRule

X_SHAPES = [(1, 2), ()]     # player x: 3 numbers in two odd-shaped tensors
Y_SHAPES = [(2,)]


class Quad:
    def __init__(self, seed=0, zero_sum=True):
        r = np.random.default_rng(seed)
        M = r.normal(size=(3, 3))
        self.P = M @ M.T / 3 + 0.2 * np.eye(3)
        N = r.normal(size=(2, 2))
        self.Q = N @ N.T / 2 + 0.2 * np.eye(2)
        self.A = r.normal(size=(3, 2))
        self.B = self.A if zero_sum else r.normal(size=(3, 2))
        self.b, self.c = r.normal(size=3), r.normal(size=2)
        self.x0, self.y0 = r.normal(size=3), r.normal(size=2)

    # numpy side
    def gx(self, x, y):
        return self.P @ x + self.A @ y + self.b

    def gy(self, x, y):
        return self.Q @ y - self.B.T @ x + self.c

    # torch side
    def params(self, dtype=torch.float64):
        def split(v, shapes):
            out, k = [], 0
            for s in shapes:
                n = int(np.prod(s))
                out.append(torch.tensor(v[k:k + n].reshape(s), dtype=dtype).requires_grad_())
                k += n
            return out
        return split(self.x0, X_SHAPES), split(self.y0, Y_SHAPES)

    def closures(self, px, py):
        t = {k: torch.as_tensor(getattr(self, k), dtype=px[0].dtype)
             for k in ("P", "Q", "A", "B", "b", "c")}

        def vec(ps):
            return torch.cat([p.reshape(-1) for p in ps])

        def lx():
            x, y = vec(px), vec(py)
            return 0.5 * x @ t["P"] @ x + x @ t["A"] @ y + t["b"] @ x

        def ly():
            x, y = vec(px), vec(py)
            return 0.5 * y @ t["Q"] @ y - x @ t["B"] @ y + t["c"] @ y

        return (lambda: (lx(), ly())), (lambda player: lx() if player == "x" else ly())


def flat(ps):
    return np.concatenate([p.detach().double().numpy().reshape(-1) for p in ps])


def run(opt_factory, game, steps, per_player=False, dtype=torch.float64):
    px, py = game.params(dtype)
    opt = opt_factory(px, py)
    pair, single = game.closures(px, py)
    for _ in range(steps):
        opt.step(single if per_player else pair)
    return flat(px), flat(py)


def adam_dir(g, m, v, t, b1, b2, eps):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps), m, v


# ------------------------------------------------------------------ references
def ref_two_step(G, steps, lr, beta=0.0, alpha=0.0, alternating=False, source="own"):
    """LEAD eq. 12 (alpha, beta = 0 gives GDA / momentum GDA)."""
    lrx, lry = (lr, lr) if np.isscalar(lr) else lr
    x, y, xp, yp = G.x0.copy(), G.y0.copy(), G.x0.copy(), G.y0.copy()
    Mx = G.A if source == "own" else G.B              # x: grad_xy L_x  or  -grad_xy L_y = B
    My = -G.B.T if source == "own" else -G.A.T        # y: grad_yx L_y  or  -grad_yx L_x = -A'
    for _ in range(steps):
        xn = x + beta * (x - xp) - lrx * G.gx(x, y) - alpha * Mx @ (y - yp)
        if alternating:
            yn = y + beta * (y - yp) - lry * G.gy(xn, y) - alpha * My @ (xn - x)
        else:
            yn = y + beta * (y - yp) - lry * G.gy(x, y) - alpha * My @ (x - xp)
        xp, yp, x, y = x, y, xn, yn
    return x, y


def ref_lead_adam(G, steps, lr, alpha, b1, b2, eps, source="own"):
    """LEAD Algorithm 2 with alpha in lines 7 and 15; alternating. ``source="opponent"``:
    the mixed terms -grad_xy L_y = B and -grad_yx L_x = -A' (the official code's)."""
    Mx = G.A if source == "own" else G.B
    My = -G.B.T if source == "own" else -G.A.T
    x, y, xp, yp = G.x0.copy(), G.y0.copy(), G.x0.copy(), G.y0.copy()
    mx, vx, my, vy = np.zeros(3), np.zeros(3), np.zeros(2), np.zeros(2)
    for t in range(1, steps + 1):
        gt = G.gx(x, y) + alpha * Mx @ (y - yp)
        u, mx, vx = adam_dir(gt, mx, vx, t, b1, b2, eps)
        xn = x - lr * u
        gt = G.gy(xn, y) + alpha * My @ (xn - x)
        u, my, vy = adam_dir(gt, my, vy, t, b1, b2, eps)
        yn = y - lr * u
        xp, yp, x, y = x, y, xn, yn
    return x, y


def ref_eg(G, steps, lr):
    """FR App. D.1 (EG)."""
    x, y = G.x0.copy(), G.y0.copy()
    for _ in range(steps):
        xh, yh = x - lr * G.gx(x, y), y - lr * G.gy(x, y)
        x, y = x - lr * G.gx(xh, yh), y - lr * G.gy(xh, yh)
    return x, y


def ref_extra_adam(G, steps, lr, b1, b2, eps):
    """Gidel et al. 2019 Alg. 4: moments updated at both evaluations, half-step count."""
    z = np.concatenate([G.x0, G.y0])
    m, v = np.zeros(5), np.zeros(5)
    F = lambda z: np.concatenate([G.gx(z[:3], z[3:]), G.gy(z[:3], z[3:])])  # noqa: E731
    for t in range(1, steps + 1):
        u, m, v = adam_dir(F(z), m, v, 2 * t - 1, b1, b2, eps)
        zh = z - lr * u
        u, m, v = adam_dir(F(zh), m, v, 2 * t, b1, b2, eps)
        z = z - lr * u
    return z[:3], z[3:]


def ref_ogda(G, steps, lr):
    """FR App. D.1 (OGDA), g_{-1} = g_0."""
    z = np.concatenate([G.x0, G.y0])
    F = lambda z: np.concatenate([G.gx(z[:3], z[3:]), G.gy(z[:3], z[3:])])  # noqa: E731
    gp = F(z)
    for _ in range(steps):
        g = F(z)
        z, gp = z - 2 * lr * g + lr * gp, g
    return z[:3], z[3:]


def ref_oadam(G, steps, lr, b1, b2, eps):
    """Daskalakis et al. 2018 Alg. 1 (Optimistic Adam), m_0 = v_0 = 0."""
    z = np.concatenate([G.x0, G.y0])
    F = lambda z: np.concatenate([G.gx(z[:3], z[3:]), G.gy(z[:3], z[3:])])  # noqa: E731
    m, v, up = np.zeros(5), np.zeros(5), np.zeros(5)
    for t in range(1, steps + 1):
        u, m, v = adam_dir(F(z), m, v, t, b1, b2, eps)
        z, up = z - 2 * lr * u + lr * up, u
    return z[:3], z[3:]


STEPS = 25
CASES = {
    "gda": (lambda px, py: O.GDA(px, py, lr=0.1), lambda G: ref_two_step(G, STEPS, 0.1)),
    "gda_alt": (lambda px, py: O.GDA(px, py, lr=0.1, alternating=True),
                lambda G: ref_two_step(G, STEPS, 0.1, alternating=True)),
    "gda_pair_lr": (lambda px, py: O.GDA(px, py, lr=(0.1, 0.05)),
                    lambda G: ref_two_step(G, STEPS, (0.1, 0.05))),
    "momentum+": (lambda px, py: O.MomentumGDA(px, py, lr=0.05, beta=0.6),
                  lambda G: ref_two_step(G, STEPS, 0.05, beta=0.6)),
    "momentum-alt": (lambda px, py: O.MomentumGDA(px, py, lr=0.1, beta=-0.3, alternating=True),
                     lambda G: ref_two_step(G, STEPS, 0.1, beta=-0.3, alternating=True)),
    "lead": (lambda px, py: O.LEAD(px, py, lr=0.05, beta=0.7, alpha=0.2),
             lambda G: ref_two_step(G, STEPS, 0.05, beta=0.7, alpha=0.2)),
    "lead_alt": (lambda px, py: O.LEAD(px, py, lr=0.05, beta=0.7, alpha=0.2, alternating=True),
                 lambda G: ref_two_step(G, STEPS, 0.05, beta=0.7, alpha=0.2, alternating=True)),
    "lead_forward": (lambda px, py: O.LEAD(px, py, 0.05, 0.7, 0.2, mixed_mode="forward"),
                     lambda G: ref_two_step(G, STEPS, 0.05, beta=0.7, alpha=0.2)),
    "lead_rof": (lambda px, py: O.LEAD(px, py, 0.05, 0.7, 0.2, mixed_mode="reverse_over_forward"),
                 lambda G: ref_two_step(G, STEPS, 0.05, beta=0.7, alpha=0.2)),
    "lead_opponent_rof": (lambda px, py: O.LEAD(px, py, 0.05, 0.7, 0.2, mixed_source="opponent",
                                                mixed_mode="reverse_over_forward"),
                          lambda G: ref_two_step(G, STEPS, 0.05, beta=0.7, alpha=0.2,
                                                 source="opponent")),
    "lead_adam_rof": (lambda px, py: O.LEADAdam(px, py, lr=0.02, alpha=0.3, betas=(0.8, 0.95),
                                                eps=1e-6, mixed_mode="reverse_over_forward"),
                      lambda G: ref_lead_adam(G, STEPS, 0.02, 0.3, 0.8, 0.95, 1e-6)),
    "lead_opponent": (lambda px, py: O.LEAD(px, py, 0.05, 0.7, 0.2, mixed_source="opponent"),
                      lambda G: ref_two_step(G, STEPS, 0.05, beta=0.7, alpha=0.2,
                                             source="opponent")),
    "lead_adam": (lambda px, py: O.LEADAdam(px, py, lr=0.02, alpha=0.3, betas=(0.8, 0.95),
                                            eps=1e-6),
                  lambda G: ref_lead_adam(G, STEPS, 0.02, 0.3, 0.8, 0.95, 1e-6)),
    **{f"lead_adam_opponent_{mode}": (
        lambda px, py, mode=mode: O.LEADAdam(px, py, lr=0.02, alpha=0.3, betas=(0.8, 0.95),
                                             eps=1e-6, mixed_source="opponent",
                                             mixed_mode=mode),
        lambda G: ref_lead_adam(G, STEPS, 0.02, 0.3, 0.8, 0.95, 1e-6, source="opponent"))
       for mode in ("auto", "reverse_over_forward", "double_backward")},
    "eg": (lambda px, py: O.ExtraGradient(px, py, lr=0.1), lambda G: ref_eg(G, STEPS, 0.1)),
    "extra_adam": (lambda px, py: O.ExtraAdam(px, py, lr=0.02, betas=(0.7, 0.9), eps=1e-6),
                   lambda G: ref_extra_adam(G, STEPS, 0.02, 0.7, 0.9, 1e-6)),
    "ogda": (lambda px, py: O.OGDA(px, py, lr=0.05), lambda G: ref_ogda(G, STEPS, 0.05)),
    "oadam": (lambda px, py: O.OptimisticAdam(px, py, lr=0.02, betas=(0.5, 0.9), eps=1e-6),
              lambda G: ref_oadam(G, STEPS, 0.02, 0.5, 0.9, 1e-6)),
}


@pytest.mark.parametrize("per_player", [False, True], ids=["pair", "player"])
@pytest.mark.parametrize("zero_sum", [True, False], ids=["zero-sum", "general-sum"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_numpy_reference(name, zero_sum, per_player):
    G = Quad(seed=1, zero_sum=zero_sum)
    make, ref = CASES[name]
    x, y = run(make, G, STEPS, per_player=per_player)
    rx, ry = ref(G)
    assert np.abs(rx - G.x0).max() > 1e-2          # the run actually moved
    np.testing.assert_allclose(x, rx, rtol=0, atol=1e-12)
    np.testing.assert_allclose(y, ry, rtol=0, atol=1e-12)


def test_mixed_sources_differ_in_general_sum_and_agree_in_zero_sum():
    def go(G, source):
        return run(lambda px, py: O.LEAD(px, py, 0.05, 0.7, 0.2, mixed_source=source), G, 10)
    for zs, same in ((True, True), (False, False)):
        G = Quad(seed=3, zero_sum=zs)
        (a, b), (c, d) = go(G, "own"), go(G, "opponent")
        assert np.allclose(np.r_[a, b], np.r_[c, d], atol=1e-13) == same


def test_group_override_of_lr():
    """A param-group dict overrides the player's default for its own tensors."""
    G = Quad(seed=2)
    px, py = G.params()
    opt = O.GDA([{"params": px[:1], "lr": 0.2}, {"params": px[1:]}], py, lr=0.1)
    pair, _ = G.closures(px, py)
    x, y = G.x0.copy(), G.y0.copy()
    lrs = np.array([0.2, 0.2, 0.1])
    for _ in range(5):
        opt.step(pair)
        x, y = x - lrs * G.gx(x, y), y - 0.1 * G.gy(x, y)
    np.testing.assert_allclose(flat(px), x, atol=1e-13, rtol=0)
    np.testing.assert_allclose(flat(py), y, atol=1e-13, rtol=0)


# ------------------------------------------------------------------ from_rule
def _derived(delta=0.1, mu=0.5, q=0.8):
    return derive(("curl", "magnetic", "friction")).to_update_rule(delta, mu=mu, q=q)


def test_derived_rule_has_prop1_coefficients():
    """Curl + magnetic (eq. 7 charge) + friction: beta = 1 - mu delta, eta = delta^2,
    alpha = q delta (mass 1)."""
    r = _derived(0.1, 0.5, 0.8)
    assert r.alpha_implicit == 0 and r.lookahead == 0
    np.testing.assert_allclose([r.beta, r.eta, r.alpha], [1 - 0.05, 0.01, 0.08], rtol=1e-14)


@pytest.mark.parametrize("alternating", [False, True])
def test_from_rule_equals_lead(alternating):
    rule = _derived()
    G = Quad(seed=4, zero_sum=False)
    a = run(lambda px, py: O.from_rule(rule, px, py, alternating=alternating), G, 40)
    b = run(lambda px, py: O.LEAD(px, py, lr=rule.eta, beta=rule.beta, alpha=rule.alpha,
                                  alternating=alternating), G, 40)
    np.testing.assert_allclose(np.r_[a], np.r_[b], rtol=0, atol=1e-12)


def test_from_rule_lookahead_and_pairs():
    """lookahead: derivatives at theta + l d (rule docstring), here by hand in numpy."""
    G = Quad(seed=5)
    rule = UpdateRule(beta=0.5, eta=0.05, alpha=0.1, lookahead=0.5)
    x, y = run(lambda px, py: O.from_rule(rule, px, py), G, 15)
    X, Y, Xp, Yp = G.x0, G.y0, G.x0, G.y0
    for _ in range(15):
        dx, dy = X - Xp, Y - Yp
        px_, py_ = X + 0.5 * dx, Y + 0.5 * dy
        Xn = X + 0.5 * dx - 0.05 * G.gx(px_, py_) - 0.1 * G.A @ dy
        Yn = Y + 0.5 * dy - 0.05 * G.gy(px_, py_) + 0.1 * G.B.T @ dx
        Xp, Yp, X, Y = X, Y, Xn, Yn
    np.testing.assert_allclose(np.r_[x, y], np.r_[X, Y], rtol=0, atol=1e-12)
    r2 = UpdateRule(beta=0.3, eta=0.02, alpha=0.1)
    opt = O.from_rule((rule, r2), *G.params())
    assert opt.defaults["lr"] == (0.05, 0.02) and opt.defaults["lookahead"] == (0.5, 0.0)


def test_from_rule_rejects_what_it_cannot_run():
    px, py = Quad().params()
    implicit = UpdateRule(beta=0.0, eta=0.1, alpha_implicit=0.7)     # runs (test_family.py)
    with pytest.raises(ValueError, match="alternating"):
        O.from_rule(implicit, px, py, alternating=True)
    with pytest.raises(ValueError, match="explicit"):
        O.from_rule((implicit, implicit), px, py)
    with pytest.raises(TypeError, match="UpdateRule"):
        O.from_rule({"beta": 0.9}, px, py)
    with pytest.raises(ValueError, match="lookahead"):
        O.from_rule(UpdateRule(beta=0.5, eta=0.1, lookahead=0.5), px, py, alternating=True)
