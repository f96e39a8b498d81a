"""Independent numpy references for the second-order baselines (helper 6b).

Every update is written from the papers' formulas with explicit matrices of a
quadratic game, never through the library: a test compares the torch optimizer with
these. The game is general-sum,

    L_x = 1/2 x'Pxx x + x'Pxy y + 1/2 y'Pyy y + ax.x + ay.y
    L_y = 1/2 y'Qyy y + y'Qyx x + 1/2 x'Qxx x + by.y + bx.x

so the vector field is xi = (Pxx x + Pxy y + ax, Qyy y + Qyx x + by) and its Jacobian
J = [[Pxx, Pxy], [Qyx, Qyy]]. ``zero_sum=True`` sets L_y = -L_x.
"""
from __future__ import annotations

import numpy as np
import torch


def _sym(rng, k, scale=1.0):
    a = rng.normal(size=(k, k))
    return scale * (a + a.T) / 2


class QuadGame:
    def __init__(self, rng, n=3, m=2, zero_sum=True, Pxx=None, Pxy=None, Pyy=None):
        self.n, self.m, self.zero_sum = n, m, zero_sum
        self.Pxx = _sym(rng, n) if Pxx is None else np.asarray(Pxx, float)
        self.Pxy = rng.normal(size=(n, m)) if Pxy is None else np.asarray(Pxy, float)
        self.Pyy = _sym(rng, m) if Pyy is None else np.asarray(Pyy, float)
        self.ax, self.ay = rng.normal(size=n) * 0.3, rng.normal(size=m) * 0.3
        if zero_sum:
            self.Qyy, self.Qyx, self.Qxx = -self.Pyy, -self.Pxy.T, -self.Pxx
            self.by, self.bx = -self.ay, -self.ax
        else:
            self.Qyy, self.Qyx, self.Qxx = _sym(rng, m), rng.normal(size=(m, n)), _sym(rng, n)
            self.by, self.bx = rng.normal(size=m) * 0.3, rng.normal(size=n) * 0.3

    # ------------------------------------------------------------- numpy side
    def xi(self, x, y):
        return (self.Pxx @ x + self.Pxy @ y + self.ax, self.Qyy @ y + self.Qyx @ x + self.by)

    def J(self):
        return np.block([[self.Pxx, self.Pxy], [self.Qyx, self.Qyy]])

    # ------------------------------------------------------------- torch side
    def losses(self, x, y):
        T = lambda a: torch.as_tensor(a, dtype=x.dtype)  # noqa: E731
        lx = (0.5 * x @ T(self.Pxx) @ x + x @ T(self.Pxy) @ y + 0.5 * y @ T(self.Pyy) @ y
              + T(self.ax) @ x + T(self.ay) @ y)
        ly = (0.5 * y @ T(self.Qyy) @ y + y @ T(self.Qyx) @ x + 0.5 * x @ T(self.Qxx) @ x
              + T(self.by) @ y + T(self.bx) @ x)
        return lx, ly


def split_params(v, shapes, dtype=torch.float64):
    """Cut a flat vector into leaf tensors of the given shapes (tests 'any shapes')."""
    out, i = [], 0
    for s in shapes:
        k = int(np.prod(s))
        out.append(torch.tensor(v[i:i + k], dtype=dtype).reshape(s).requires_grad_(True))
        i += k
    return out


def flat(params):
    return np.concatenate([p.detach().reshape(-1).double().numpy() for p in params])


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


# ----------------------------------------------------------------- references
def ref_co(g, x, y, steps, lr, gamma):
    """Consensus optimization: z -= lr * (xi + gamma * J' xi) (Mescheder et al.)."""
    (lx, ly), (cx, cy), n = _pair(lr), _pair(gamma), g.n
    J, out = g.J(), []
    for _ in range(steps):
        xi = np.concatenate(g.xi(x, y))
        gH = J.T @ xi
        x = x - lx * (xi[:n] + cx * gH[:n])
        y = y - ly * (xi[n:] + cy * gH[n:])
        out.append((x, y))
    return out


def ref_sga(g, x, y, steps, lr, lam, align=False, eps=0.1):
    """SGA (Balduzzi et al. Alg. 1): z -= lr * (xi + lam' A' xi), A = (J - J')/2;
    with alignment lam' = lam * sign(<xi, J'xi><A'xi, J'xi>/d + eps)."""
    (lx, ly), (cx, cy), n = _pair(lr), _pair(lam), g.n
    J = g.J()
    A = (J - J.T) / 2
    out = []
    for _ in range(steps):
        xi = np.concatenate(g.xi(x, y))
        At = A.T @ xi
        s = 1.0
        if align:
            gH = J.T @ xi
            s = np.sign((xi @ gH) * (At @ gH) / xi.size + eps)
        x = x - lx * (xi[:n] + s * cx * At[:n])
        y = y - ly * (xi[n:] + s * cy * At[n:])
        out.append((x, y))
    return out


def ref_cgd(g, x, y, steps, lr):
    """CGD (Schaefer & Anandkumar): the Nash equilibrium of the local bilinear game,
    dx = -lx (grad_x L_x + D_xy L_x dy), dy = -ly (grad_y L_y + D_yx L_y dx),
    solved as ONE block linear system (not the Schur-complement form the library uses)."""
    (lx, ly), n, m = _pair(lr), g.n, g.m
    K = np.block([[np.eye(n) / lx, g.Pxy], [g.Qyx, np.eye(m) / ly]])
    out = []
    for _ in range(steps):
        d = np.linalg.solve(K, -np.concatenate(g.xi(x, y)))
        x, y = x + d[:n], y + d[n:]
        out.append((x, y))
    return out


def ref_fr(g, x, y, steps, lr, damping=0.0, adaptive=False, momentum=0.0,
           rmsprop=None, eps=1e-8):
    """Follow-the-Ridge, zero-sum f = L_x (FR Alg. 1; eq. 2 preconditioning; eq. 9 momentum;
    App. D.4 damped solve and Levenberg-Marquardt rule). H blocks are those of f.

    d_x = gam m_x + lx P_x grad_x f,   d_y = gam m_y - ly P_y grad_y f
    x' = x - d_x,   y' = y - d_y + dY,   dY = (Hyy^2 + lam I)^-1 Hyy (Hyx d_x)
    """
    assert g.zero_sum
    (lx, ly), (gmx, gmy), n = _pair(lr), _pair(momentum), g.n
    Hyy, Hyx = g.Pyy, g.Pxy.T
    lam, mx, my = damping, np.zeros(n), np.zeros(g.m)
    vx, vy = np.zeros(n), np.zeros(g.m)
    out, lams = [], []
    for _ in range(steps):
        gx = g.Pxx @ x + g.Pxy @ y + g.ax          # grad_x f
        gy = g.Pxy.T @ x + g.Pyy @ y + g.ay        # grad_y f
        px, py = gx, -gy                            # own-loss gradients (L_y = -f)
        if rmsprop is not None:
            vx = rmsprop * vx + (1 - rmsprop) * px**2
            vy = rmsprop * vy + (1 - rmsprop) * py**2
            px, py = px / (np.sqrt(vx) + eps), py / (np.sqrt(vy) + eps)
        dx = gmx * mx + lx * px
        dy = gmy * my + ly * py
        mx, my = dx, dy
        b = Hyx @ dx
        dY = np.linalg.solve(Hyy @ Hyy + lam * np.eye(g.m), Hyy @ b)
        if adaptive and np.linalg.norm(b) > 0:
            xn, yn = x - dx, y + dY
            gy_new = g.Pxy.T @ xn + g.Pyy @ yn + g.ay
            num = b @ b - np.sum((gy - gy_new) ** 2)
            den = b @ b - np.sum((Hyy @ dY - b) ** 2)
            rho = num / den if den > 0 else -1.0
            if rho <= 0:
                lam, dY = 2.0 * lam, np.zeros_like(dY)
            elif rho <= 0.5:
                lam = 1.1 * lam
            elif rho > 0.95:
                lam = 0.9 * lam
        x, y = x - dx, y - dy + dY
        out.append((x, y))
        lams.append(lam)
    return out, lams


def ref_complex_momentum(g, x, y, steps, lr, beta):
    """Complex momentum, simultaneous (Lorraine et al. 2022):
    mu <- beta mu - grad,  theta <- theta + Re(alpha mu), in numpy complex arithmetic."""
    (ax, ay), (bx, by) = _pair(lr), _pair(beta)
    mx, my = np.zeros(g.n, complex), np.zeros(g.m, complex)
    out = []
    for _ in range(steps):
        gx, gy = g.xi(x, y)
        mx, my = bx * mx - gx, by * my - gy
        x, y = x + np.real(ax * mx), y + np.real(ay * my)
        out.append((x, y))
    return out


# =================================================================== the tests

import pytest  # noqa: E402

import optimizers as O  # noqa: E402

SHAPES_X, SHAPES_Y = [(2,), (1, 1)], [(2,)]     # n = 3, m = 2, several tensors per player


def run_torch(cls, g, x0, y0, steps, per_player=False, dtype=torch.float64, **hyper):
    px, py = split_params(x0, SHAPES_X, dtype), split_params(y0, SHAPES_Y, dtype)

    def cat(ps):
        return torch.cat([p.reshape(-1) for p in ps])

    if per_player:
        def closure(player):
            lx, ly = g.losses(cat(px), cat(py))
            return lx if player == "x" else ly
    else:
        def closure():
            return g.losses(cat(px), cat(py))
    opt = cls(px, py, **hyper)
    out = []
    for _ in range(steps):
        opt.step(closure)
        out.append((flat(px), flat(py)))
    return out, opt, (px, py, closure)


def assert_traj(got, want, rtol=1e-11, atol=1e-12):
    for k, ((gx, gy), (wx, wy)) in enumerate(zip(got, want)):
        np.testing.assert_allclose(gx, wx, rtol=rtol, atol=atol, err_msg=f"x at step {k + 1}")
        np.testing.assert_allclose(gy, wy, rtol=rtol, atol=atol, err_msg=f"y at step {k + 1}")


def start(rng, g):
    return rng.normal(size=g.n), rng.normal(size=g.m)


def strongly_monotone(rng, n=3, m=2, zero_sum=True):
    """A quadratic game whose iterates stay bounded for small steps (tolerances stay
    relative to O(1) numbers)."""
    a = rng.normal(size=(n, n))
    c = rng.normal(size=(m, m))
    return QuadGame(rng, n, m, zero_sum=zero_sum, Pxx=a @ a.T / n + 0.5 * np.eye(n),
                    Pyy=-(c @ c.T / m + 0.5 * np.eye(m)))


# ------------------------------------------------------------- references
@pytest.mark.parametrize("zero_sum", [True, False])
@pytest.mark.parametrize("per_player", [False, True])
def test_co_matches_numpy(rng, zero_sum, per_player):
    g = strongly_monotone(rng, zero_sum=zero_sum)
    x0, y0 = start(rng, g)
    hyper = dict(lr=(0.05, 0.08), gamma=(0.3, 0.7))
    got, _, _ = run_torch(O.CO, g, x0, y0, 15, per_player=per_player, **hyper)
    assert_traj(got, ref_co(g, x0, y0, 15, **hyper))


@pytest.mark.parametrize("zero_sum", [True, False])
@pytest.mark.parametrize("align", [False, True])
def test_sga_matches_numpy(rng, zero_sum, align):
    g = strongly_monotone(rng, zero_sum=zero_sum)
    x0, y0 = start(rng, g)
    hyper = dict(lr=(0.05, 0.07), lam=(1.0, 0.5))
    got, opt, _ = run_torch(O.SGA, g, x0, y0, 15, align=align, **hyper)
    assert_traj(got, ref_sga(g, x0, y0, 15, align=align, **hyper))


def test_sga_alignment_flips_the_sign_somewhere(rng):
    """The aligned and plain references differ on some game, so the test above can fail."""
    for _ in range(20):
        g = QuadGame(rng, 3, 2, zero_sum=False)
        x0, y0 = start(rng, g)
        a = ref_sga(g, x0, y0, 1, lr=0.05, lam=1.0, align=True)
        b = ref_sga(g, x0, y0, 1, lr=0.05, lam=1.0, align=False)
        if not np.allclose(a[0][0], b[0][0]):
            got, opt, _ = run_torch(O.SGA, g, x0, y0, 1, lr=0.05, lam=1.0, align=True)
            assert opt.last_sign == -1.0
            assert_traj(got, a)
            return
    pytest.fail("no game found where alignment flips the adjustment")


def test_sga_zero_sum_is_fr_appendix_d1_form(rng):
    """In a zero-sum game SGA is x -= lr(grad_x f + lam H_xy grad_y f),
    y -= lr(lam H_yx grad_x f - grad_y f) (FR App. D.1), written here with f's blocks."""
    g = strongly_monotone(rng)
    x, y = start(rng, g)
    lr, lam = 0.05, 0.8
    fx = g.Pxx @ x + g.Pxy @ y + g.ax
    fy = g.Pxy.T @ x + g.Pyy @ y + g.ay
    want_x = x - lr * (fx + lam * g.Pxy @ fy)
    want_y = y - lr * (lam * g.Pxy.T @ fx - fy)
    got, _, _ = run_torch(O.SGA, g, x, y, 1, lr=lr, lam=lam)
    assert_traj(got, [(want_x, want_y)])


@pytest.mark.parametrize("zero_sum,mode", [(True, None), (False, None), (True, "forward"),
                                           (False, "forward"), (True, "reverse_over_forward"),
                                           (False, "reverse_over_forward")])
def test_cgd_matches_block_solve(rng, zero_sum, mode):
    g = strongly_monotone(rng, zero_sum=zero_sum)
    x0, y0 = start(rng, g)
    got, opt, _ = run_torch(O.CGD, g, x0, y0, 12, lr=(0.2, 0.3), zero_sum=zero_sum,
                            mixed_mode=mode)
    assert_traj(got, ref_cgd(g, x0, y0, 12, lr=(0.2, 0.3)), rtol=1e-9, atol=1e-10)
    assert opt.last_cg.iterations <= (g.n if zero_sum else g.n + 1) + 1


def test_cgd_zero_sum_equals_lead_table6_inverse(rng):
    """LEAD Table 6 (row CGD), scalar eta, zero-sum: dx = -eta C^-1 (grad_x f + eta H_xy grad_y f),
    C = I + eta^2 H_xy H_yx."""
    g = strongly_monotone(rng)
    x, y = start(rng, g)
    eta = 0.3
    fx = g.Pxx @ x + g.Pxy @ y + g.ax
    fy = g.Pxy.T @ x + g.Pyy @ y + g.ay
    C = np.eye(g.n) + eta**2 * g.Pxy @ g.Pxy.T
    want_x = x - eta * np.linalg.solve(C, fx + eta * g.Pxy @ fy)
    got, _, _ = run_torch(O.CGD, g, x, y, 1, lr=eta)
    np.testing.assert_allclose(got[0][0], want_x, rtol=1e-10)


def test_cgd_on_general_sum_game_without_flag_is_refused_or_exact(rng):
    """zero_sum=True on a game whose operator is indefinite must raise, naming the option."""
    n = 2
    Pxy = np.eye(n) * 3.0
    g = QuadGame(rng, n, n, zero_sum=False, Pxx=np.eye(n), Pxy=Pxy, Pyy=np.eye(n))
    g.Qyx = np.eye(n) * 3.0          # B_x E B_y = 9 eta^2 I > E^-1: indefinite
    x0, y0 = rng.normal(size=n), rng.normal(size=n)
    px, py = split_params(x0, [(n,)]), split_params(y0, [(n,)])
    opt = O.CGD(px, py, lr=1.0)
    with pytest.raises(ValueError, match="zero_sum=False"):
        opt.step(lambda: g.losses(px[0], py[0]))
    np.testing.assert_array_equal(flat(px), x0)   # nothing written


@pytest.mark.parametrize("per_player,mode", [(False, None), (True, None), (False, "forward"),
                                             (True, "reverse_over_forward")])
def test_fr_algorithm1_matches_numpy(rng, per_player, mode):
    g = strongly_monotone(rng)
    x0, y0 = start(rng, g)
    got, opt, _ = run_torch(O.FR, g, x0, y0, 12, per_player=per_player, lr=(0.05, 0.1),
                            mixed_mode=mode)
    want, _ = ref_fr(g, x0, y0, 12, lr=(0.05, 0.1))
    assert_traj(got, want, rtol=1e-9, atol=1e-10)


def test_fr_algorithm1_is_the_paper_formula(rng):
    """Alg. 1 written with an explicit inverse: y += ly grad_y f + lx Hyy^-1 Hyx grad_x f."""
    g = strongly_monotone(rng)
    x, y = start(rng, g)
    lx, ly = 0.05, 0.1
    fx = g.Pxx @ x + g.Pxy @ y + g.ax
    fy = g.Pxy.T @ x + g.Pyy @ y + g.ay
    want = (x - lx * fx, y + ly * fy + lx * np.linalg.inv(g.Pyy) @ g.Pxy.T @ fx)
    got, _, _ = run_torch(O.FR, g, x, y, 1, lr=(lx, ly))
    assert_traj(got, [want], rtol=1e-10)


@pytest.mark.parametrize("opts", [
    dict(momentum=0.6),
    dict(momentum=(0.5, 0.3), preconditioner="rmsprop", rms_decay=0.9, eps=1e-3),
    dict(damping=0.5),
    dict(damping=0.5, adaptive_damping=True, momentum=0.4),
])
def test_fr_variants_match_numpy(rng, opts):
    g = strongly_monotone(rng)
    x0, y0 = start(rng, g)
    got, opt, _ = run_torch(O.FR, g, x0, y0, 10, lr=(0.05, 0.1), **opts)
    ref_opts = dict(damping=opts.get("damping", 0.0), adaptive=opts.get("adaptive_damping", False),
                    momentum=opts.get("momentum", 0.0), eps=opts.get("eps", 1e-8),
                    rmsprop=opts.get("rms_decay") if opts.get("preconditioner") else None)
    want, lams = ref_fr(g, x0, y0, 10, lr=(0.05, 0.1), **ref_opts)
    assert_traj(got, want, rtol=1e-9, atol=1e-10)
    if opts.get("adaptive_damping"):
        # quadratic game: rho = 1 every step, so lambda shrinks by 0.9 each step
        assert opt.last_rho == pytest.approx(1.0, abs=1e-9)
        assert opt.damping_value == pytest.approx(0.5 * 0.9**10, rel=1e-12)
        assert lams[-1] == pytest.approx(opt.damping_value, rel=1e-12)


@pytest.mark.parametrize("per_player", [False, True])
def test_complex_momentum_matches_numpy(rng, per_player):
    g = strongly_monotone(rng, zero_sum=False)
    x0, y0 = start(rng, g)
    beta = (O.beta_polar(0.8, 0.4), complex(-0.3, 0.2))
    got, opt, _ = run_torch(O.ComplexMomentum, g, x0, y0, 20, per_player=per_player,
                            lr=(0.05, 0.08), beta=beta)
    assert_traj(got, ref_complex_momentum(g, x0, y0, 20, lr=(0.05, 0.08), beta=beta))


def test_complex_momentum_with_real_beta_is_polyak_heavy_ball(rng):
    """Real beta: theta_{k+1} = theta_k - a g_k + beta (theta_k - theta_{k-1})."""
    g = strongly_monotone(rng)
    x, y = start(rng, g)
    a, b = 0.05, 0.5
    z, z_prev, want = np.concatenate([x, y]), np.concatenate([x, y]), []
    for _ in range(10):
        xi = np.concatenate(g.xi(z[:g.n], z[g.n:]))
        z, z_prev = z - a * xi + b * (z - z_prev), z
        want.append((z[:g.n], z[g.n:]))
    got, _, _ = run_torch(O.ComplexMomentum, g, x, y, 10, lr=a, beta=b)
    assert_traj(got, want)


def test_fr_jacobian_eigenvalues_are_thm1s(rng):
    """FR Thm. 1 proof: the eigenvalues of FR's step map are those of I + ly H_yy and of
    I - lx (H_xx - H_xy H_yy^-1 H_yx) (all real). The step map of the homogeneous
    quadratic game is linear; its matrix is read off column by column."""
    g = strongly_monotone(rng)
    g.ax, g.ay, g.bx, g.by = np.zeros(g.n), np.zeros(g.m), np.zeros(g.n), np.zeros(g.m)
    lx, ly = 0.07, 0.11
    d = g.n + g.m
    cols = []
    for k in range(d):
        e = np.eye(d)[k]
        (gx, gy), = run_torch(O.FR, g, e[:g.n], e[g.n:], 1, lr=(lx, ly))[0]
        cols.append(np.concatenate([gx, gy]))
    ev = np.sort(np.linalg.eigvals(np.array(cols).T))
    schur = g.Pxx - g.Pxy @ np.linalg.solve(g.Pyy, g.Pxy.T)
    want = np.sort(np.concatenate([np.linalg.eigvalsh(np.eye(g.m) + ly * g.Pyy),
                                   np.linalg.eigvalsh(np.eye(g.n) - lx * schur)]))
    np.testing.assert_allclose(np.real(ev), want, atol=1e-10)
    np.testing.assert_allclose(np.imag(ev), 0.0, atol=1e-10)


def test_conjugate_gradient_solves_spd_systems(rng):
    for n in (1, 4, 9):
        a = rng.normal(size=(n, n))
        A = a @ a.T + 0.1 * np.eye(n)
        b = rng.normal(size=n)
        At = torch.as_tensor(A)
        res = O.conjugate_gradient(lambda v: [At @ v[0]], [torch.as_tensor(b)])
        np.testing.assert_allclose(res.x[0].numpy(), np.linalg.solve(A, b), rtol=1e-8, atol=1e-10)
        assert res.iterations <= n + 2
    with pytest.raises(ValueError, match="not positive definite"):
        O.conjugate_gradient(lambda v: [-v[0]], [torch.ones(3)])
    zero = O.conjugate_gradient(lambda v: v, [torch.zeros(3)])
    assert zero.iterations == 0 and torch.equal(zero.x[0], torch.zeros(3))
