"""Claims of the Follow-the-Ridge paper (``shared/seeds/002_*``): Thm. 1 on g1, g2, g3,
the outcomes of Sec. 6.1, and the momentum study of App. E.2.

Stability of FR is judged on the Jacobian of FR's update (Algorithm 1, exact inner solve;
eq. 3 with momentum) taken by ``torch.func`` through the update written from the game's
``f``; :func:`fr_step` is checked against one step of ``optimizers.FR`` before use.
"""
from __future__ import annotations

import itertools

import numpy as np
import scipy.optimize
import torch
from torch.func import grad, jacrev

import mechanics
import optimizers as O

from ._registry import CAVEAT, FAILS, HOLDS, ClaimResult, claim
from ._util import example, g, run_optimizer

FR = "Follow-the-Ridge"


# ----------------------------------------------------------------- FR's update
def fr_step(game, lr_x: float, lr_y: float, momentum: float = 0.0):
    """FR's update (Algorithm 1; eq. 3 with momentum ``gamma``) as a map on the state
    ``s = (x, y)`` (or ``(x, y, x_prev, y_prev)`` with momentum), from ``game.f`` by
    ``torch.func``::

        x' = x - lr_x f_x + gamma dx,   y' = y + lr_y f_y + lr_x H_yy^-1 H_yx f_x + gamma dy
    """
    n, m = game.n, game.m
    f = lambda x, y: game.f(x, y)  # noqa: E731
    fx, fy = grad(f, 0), grad(f, 1)

    def step(s):
        x, y = s[:n], s[n:n + m]
        gx, gy = fx(x, y), fy(x, y)
        Hyy, Hyx = jacrev(fy, 1)(x, y), jacrev(fy, 0)(x, y)
        nx = x - lr_x * gx
        ny = y + lr_y * gy + lr_x * torch.linalg.solve(Hyy, Hyx @ gx)
        new = torch.cat([nx, ny])
        if momentum:
            new = new + momentum * (s[:n + m] - s[n + m:])
            return torch.cat([new, s[:n + m]])
        return new
    return step


def fr_jacobian(game, point, lr_x, lr_y, momentum=0.0) -> np.ndarray:
    z = torch.as_tensor(np.concatenate([np.ravel(p) for p in point]), dtype=torch.float64)
    s = torch.cat([z, z]) if momentum else z
    return jacrev(fr_step(game, lr_x, lr_y, momentum))(s).detach().numpy()


def fr_step_matches_optimizer(game, point, lr, seed=0) -> float:
    """Max |fr_step - optimizers.FR| after one step from ``point`` (no momentum)."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([np.ravel(p) for p in point]) + 0.1 * rng.normal(size=game.n + game.m)
    ours = fr_step(game, lr, lr)(torch.as_tensor(z)).detach().numpy()
    x = torch.tensor(z[:game.n], requires_grad=True)
    y = torch.tensor(z[game.n:], requires_grad=True)
    O.FR([x], [y], lr=lr).step(lambda: (game.f(x, y).sum(), -game.f(x, y).sum()))
    return float(np.abs(ours - torch.cat([x, y]).detach().numpy()).max())


def local_minimax(game, point):
    """FR Prop. 2-3 (H_yy^-1 per the README): ``(is local minimax, eig H_yy, eig Schur)``;
    ``None`` for the verdict when H_yy is singular."""
    Hxx, Hxy, Hyx, Hyy = (h.numpy() for h in game.hessian_blocks(*point))
    ey = np.linalg.eigvalsh(Hyy)
    if np.min(np.abs(ey)) < 1e-10:
        return None, ey, None
    S = Hxx - Hxy @ np.linalg.solve(Hyy, Hyx)
    es = np.linalg.eigvalsh((S + S.T) / 2)
    return bool(ey.max() < 0 and es.min() > 0), ey, es


def critical_points(game, box=8.0, grid=9, tol=1e-9):
    """Stationary points of ``f`` (grad f = 0, by autograd) found by ``scipy.optimize.root``
    from a ``grid x grid`` set of starts in ``[-box, box]^2``, deduplicated."""
    n = game.n
    f = lambda z: game.f(z[:n], z[n:])  # noqa: E731

    def fun(z):
        zt = torch.as_tensor(z, dtype=torch.float64)
        return grad(f)(zt).numpy(), torch.func.hessian(f)(zt).numpy()

    found = []
    for a, b in itertools.product(np.linspace(-box, box, grid), repeat=2):
        r = scipy.optimize.root(fun, np.array([a, b]), jac=True, method="hybr")
        if r.success and np.abs(fun(r.x)[0]).max() < tol and np.abs(r.x).max() < 10 * box:
            if not any(np.abs(r.x - p).max() < 1e-5 for p in found):
                found.append(r.x)
    return sorted(found, key=lambda p: (round(p[0], 6), round(p[1], 6)))


# ======================================================================== Thm. 1
@claim("fr-thm1", paper=FR, where="Sec. 4, Thm. 1 (exact local convergence)",
       statement="With a suitable learning rate, all strictly stable fixed points of FR are local "
                 "minimax, and all local minimax points are stable fixed points of FR "
                 "(checked on g1, g2, g3 of Sec. 6.1).")
def check_fr_thm1(quick: bool) -> ClaimResult:
    games = {"g1": mechanics.fr_g1(), "g2": mechanics.fr_g2(), "g3": mechanics.fr_g3()}
    rows, mismatch, consistency = [], [], 0.0
    for name, game in games.items():
        pts = [np.zeros(2)] if name != "g3" else critical_points(game, grid=5 if quick else 9)
        for p in pts:
            point = ([p[0]], [p[1]])
            lm, ey, es = local_minimax(game, point)
            if lm is None:
                rows.append({"game": name, "point": p.tolist(), "local_minimax": None,
                             "note": "H_yy singular: FR undefined"})
                continue
            Hxx, Hxy, Hyx, Hyy = (h.numpy() for h in game.hessian_blocks(*point))
            H = np.block([[Hxx, Hxy], [Hyx, Hyy]])
            lr = min(0.05, 0.5 / np.abs(np.linalg.eigvals(H)).max())   # "a suitable lr"
            consistency = max(consistency, fr_step_matches_optimizer(game, point, lr))
            rho = float(np.abs(np.linalg.eigvals(fr_jacobian(game, point, lr, lr))).max())
            stable = rho < 1
            rows.append({"game": name, "point": p.tolist(), "local_minimax": lm, "lr": lr,
                         "radius": rho, "eig_Hyy": ey.tolist(), "eig_schur": es.tolist()})
            if stable != lm:
                mismatch.append(rows[-1])
    checked = [r for r in rows if r["local_minimax"] is not None]
    computed = ("spectral radius of the Jacobian of FR's update (torch.func through Algorithm 1; "
                f"agrees with one step of optimizers.FR to {g(consistency, 2)}), lr = min(0.05, "
                "0.5/rho(Hessian)), at every stationary point (g1, g2: the origin; g3: "
                f"scipy root from a grid of starts in [-8, 8]^2, {sum(r['game'] == 'g3' for r in rows)} "
                "points): " + "; ".join(
                    f"{r['game']} ({g(r['point'][0], 3)}, {g(r['point'][1], 3)}): "
                    + (f"local minimax {r['local_minimax']}, radius {g(r['radius'], 5)}"
                       if r["local_minimax"] is not None else r["note"]) for r in rows))
    data = {"points": rows, "fr_step_vs_optimizer": consistency}
    if not mismatch and checked:
        return ClaimResult(HOLDS, computed, f"at all {len(checked)} stationary points with "
                           "invertible H_yy: FR-stable (radius < 1) exactly when local minimax",
                           data)
    return ClaimResult(FAILS, computed, f"{len(mismatch)} points where stability and local "
                       "minimax disagree", data)


# ======================================================================= Sec. 6.1
EXPECTED = {"g1": {"FR": "converged", "SGA": "converged", "CO": "converged", "GDA": "diverged",
                   "OGDA": "diverged", "EG": "diverged"},
            "g2": {"FR": "not origin", "SGA": "converged", "CO": "converged", "GDA": "converged",
                   "OGDA": "converged", "EG": "converged"},
            "g3": {"FR": "converged", "SGA": "limit cycle", "CO": "limit cycle",
                   "GDA": "limit cycle", "OGDA": "limit cycle", "EG": "limit cycle"}}


def outcome(zs: np.ndarray, status: str) -> str:
    """'converged' (to the origin), 'diverged', 'limit cycle' (bounded, away from the origin
    and still moving over the last quarter of the run) or 'stalled elsewhere'."""
    if status == "converged to origin":
        return "converged"
    if status == "diverged":
        return "diverged"
    tail = zs[3 * len(zs) // 4:]
    moving = np.linalg.norm(np.diff(tail, axis=0), axis=1).mean() > 1e-6
    return "limit cycle" if moving and np.linalg.norm(tail, axis=1).min() > 1e-3 else "stalled elsewhere"


def _matches(expected: str, got: str) -> bool:
    return got != "converged" if expected == "not origin" else got == expected


@claim("fr-sec6.1", paper=FR, where="Sec. 6.1 (Fig. 3 of FR): g1, g2, g3",
       statement="g1: only FR, SGA and CO converge to the local minimax (0,0), GDA/OGDA/EG "
                 "diverge; g2: all but FR converge to the non-minimax (0,0); g3: FR converges "
                 "to (0,0), all others enter limit cycles.")
def check_fr_sec61(quick: bool) -> ClaimResult:
    fr_toy = example("fr_toy_games")
    games, steps, start = (("g1", "g2"), 1500, (4.0, 3.0)) if quick else (("g1", "g2", "g3"), 2000, (4.0, 3.0))
    rec, trajs = fr_toy.run(steps=steps, start=start, lr=0.05, games=games,
                            methods=("GDA", "OGDA", "EG", "SGA", "CO", "FR"))
    cells, wrong = {}, []
    for gname in games:
        for m, v in rec["games"][gname]["methods"].items():
            got = outcome(trajs[(gname, m)], v["status"])
            cells[f"{gname}/{m}"] = {"outcome": got, "expected": EXPECTED[gname][m],
                                     "final_distance": v["distance_to_origin"]}
            if got == "stalled elsewhere":      # a fixed point of the method, not of f?
                z = trajs[(gname, m)][-1]
                game = fr_toy.GAMES[gname]()
                zt = torch.tensor(z, dtype=torch.float64)
                gf = torch.func.grad(lambda w: game.f(w[:1], w[1:]).sum())(zt)
                cells[f"{gname}/{m}"].update(final=z.tolist(), grad_norm=float(gf.norm()))
                got += f" at ({g(z[0], 3)}, {g(z[1], 3)}), |grad f| = {g(float(gf.norm()), 2)}"
                if float(gf.norm()) > 1e-6:
                    got += " (not a stationary point of f: a spurious fixed point of the method)"
            if not _matches(EXPECTED[gname][m], cells[f"{gname}/{m}"]["outcome"]):
                wrong.append(f"{gname}/{m}: {got} (paper: {EXPECTED[gname][m]})")
    computed = (f"gamemech.experiments.fr_toy_games.run from {start} (the paper gives no "
                f"coordinates), lr = "
                f"0.05, {steps} steps, FR App. D.1 settings (SGA lambda 1, CO gamma 0.1 in FR's "
                "scaling), converged if |z| < 1e-3: " + "; ".join(
                    f"{k}: {v['outcome']} (|z| {g(v['final_distance'], 3)})" for k, v in cells.items()))
    data = {"cells": cells, "start": list(start), "steps": steps, "lr": 0.05}
    if not wrong:
        extra = "" if "g3" in games else " (quick mode: g3 not run)"
        return ClaimResult(HOLDS, computed, f"all {len(cells)} outcomes as stated{extra}", data)
    return ClaimResult(FAILS, computed, f"{len(wrong)} of {len(cells)} outcomes differ: "
                       + "; ".join(wrong), data)


# ======================================================================== App. E.2
def e2_variant():
    """Our reading of App. E.2's game with x1 y1 + x2 y2 (the printed x1 y2 + x2 y2 has no
    local minimax at the origin)."""
    def f(x, y):
        x1, x2, y1, y2 = x[..., 0], x[..., 1], y[..., 0], y[..., 1]
        return -0.45 * x1**2 - 0.5 * x2**2 - 0.5 * y1**2 - 0.05 * y2**2 + x1 * y1 + x2 * y2
    return mechanics.ZeroSumGame(f, 2, 2, equilibrium=(np.zeros(2), np.zeros(2)),
                                 name="fr-e2-quadratic (x1 y1 + x2 y2)")


def rate(d: np.ndarray) -> float:
    """Mean per-step log contraction ``log(d_T / d_0) / T`` (inf if the run blew up)."""
    if not np.isfinite(d[-1]) or d[-1] > 1e6 * d[0]:
        return np.inf
    return float(np.log(max(d[-1], 1e-300) / d[0]) / (len(d) - 1))


def momentum_study(game, steps, quick):
    start = ([1.0, 1.0], [1.0, 1.0])
    fr = {}
    for gam in (0.0, 0.5, 0.8):
        d = run_optimizer(lambda px, py: O.FR(px, py, lr=0.2, momentum=gam), game, start, steps)
        rho = float(np.abs(np.linalg.eigvals(fr_jacobian(game, (np.zeros(2), np.zeros(2)),
                                                         0.2, 0.2, gam))).max())
        fr[gam] = {"rate": rate(d), "final": float(d[-1]), "radius": rho}
    lr_ys = (0.4, 1.6) if quick else (0.1, 0.2, 0.4, 0.8, 1.6)
    cs = (20, 40) if quick else (5, 10, 20, 40, 80)
    gams = (0.0, 0.2, 0.8) if quick else (0.0, 0.1, -0.1, 0.2, -0.2, 0.4, -0.4, 0.8, -0.8)
    gda = []
    for lr_y, c, gam in itertools.product(lr_ys, cs, gams):
        d = run_optimizer(lambda px, py: O.MomentumGDA(px, py, lr=(lr_y / c, lr_y), beta=gam),
                          game, start, steps)
        gda.append({"lr_y": lr_y, "c": c, "gamma": gam, "rate": rate(d), "final": float(d[-1])})
    best0 = min((r for r in gda if r["gamma"] == 0), key=lambda r: r["rate"])
    bestm = min((r for r in gda if r["gamma"] != 0), key=lambda r: r["rate"])
    div08 = all(not np.isfinite(r["rate"]) or r["rate"] >= 0 for r in gda if r["gamma"] == 0.8)
    return fr, gda, best0, bestm, div08


@claim("fr-e2-game", paper=FR, where="App. E.2 (the quadratic problem)",
       statement="In f = -0.45x1^2 - 0.5x2^2 - 0.5y1^2 - 0.05y2^2 + x1y2 + x2y2, (0,0) is a "
                 "local (and global) minimax.")
def check_fr_e2_game(quick: bool) -> ClaimResult:
    origin = (np.zeros(2), np.zeros(2))
    rows = {}
    for label, game in (("printed (x1y2 + x2y2)", mechanics.fr_momentum_quadratic()),
                        ("x1y1 + x2y2", e2_variant())):
        lm, ey, es = local_minimax(game, origin)
        radius = {gam: float(np.abs(np.linalg.eigvals(fr_jacobian(game, origin, 0.2, 0.2, gam))).max())
                  for gam in (0.0, 0.5, 0.8)}
        rows[label] = {"local_minimax": lm, "eig_Hyy": ey.tolist(), "eig_schur": es.tolist(),
                       "fr_radius_lr_0.2": radius}
    computed = "; ".join(
        f"{k}: eig H_yy {np.round(v['eig_Hyy'], 4).tolist()}, eig of H_xx - H_xy H_yy^-1 H_yx "
        f"{np.round(v['eig_schur'], 4).tolist()}, local minimax {v['local_minimax']}, radius of "
        "FR's Jacobian at lr 0.2 for momentum 0/0.5/0.8: "
        + "/".join(g(r, 4) for r in v["fr_radius_lr_0.2"].values()) for k, v in rows.items())
    p = rows["printed (x1y2 + x2y2)"]
    if p["local_minimax"]:
        return ClaimResult(HOLDS, computed, "H_yy < 0 and the Schur complement > 0", rows)
    return ClaimResult(FAILS, computed, f"as printed the Schur complement has eigenvalue "
                       f"{g(min(p['eig_schur']), 3)} < 0: (0,0) is a saddle of the leader's "
                       f"problem, not a local minimax, and FR (lr 0.2) diverges there (radius "
                       f"{g(p['fr_radius_lr_0.2'][0.0], 3)}); with x1y1 + x2y2 instead it is a "
                       "local minimax (likely a transcription slip)", rows)


@claim("fr-e2-momentum", paper=FR, where="App. E.2, Fig. 10",
       statement="Momentum (0.5, 0.8) speeds FR (lr 0.2) up dramatically on the E.2 problem, "
                 "while GDA with momentum (grid over lr_y, ratio c, gamma) does not improve much "
                 "over GDA without. Side remark: with gamma = 0.8 GDA diverges even with very "
                 "large learning-rate ratios.")
def check_fr_e2(quick: bool) -> ClaimResult:
    steps = 150 if quick else 300
    fr, gda, best0, bestm, div08 = momentum_study(e2_variant(), steps, quick)
    fr_speed = {k: v["rate"] / fr[0.0]["rate"] for k, v in fr.items()}
    gda_speed = bestm["rate"] / best0["rate"]
    computed = (f"on x1y1 + x2y2 (see fr-e2-game: the printed game has no local minimax), "
                f"optimizers.FR and MomentumGDA (lr pair (lr_y/c, lr_y)) from x = y = (1, 1), "
                f"{steps} steps; per-step log-rate log(d_T/d_0)/T (negative = converging): FR "
                + ", ".join(f"gamma={k}: {g(v['rate'], 3)} (radius {g(v['radius'], 4)})" for k, v in fr.items())
                + f"; GDA grid lr_y x c x gamma = {len(gda)} runs: best without momentum "
                f"{g(best0['rate'], 3)} (lr_y {best0['lr_y']}, c {best0['c']}), best with momentum "
                f"{g(bestm['rate'], 3)} (lr_y {bestm['lr_y']}, c {bestm['c']}, gamma {bestm['gamma']}); "
                f"every gamma = 0.8 run fails to converge: {div08}")
    data = {"fr": fr, "gda_best_no_momentum": best0, "gda_best_momentum": bestm,
            "gda_diverges_at_0.8": div08, "gda_grid": gda, "steps": steps}
    ok = fr_speed[0.8] >= 2 and gda_speed < fr_speed[0.8] / 2
    conv08 = [r for r in gda if r["gamma"] == 0.8 and np.isfinite(r["rate"]) and r["rate"] < 0]
    ev = (f"momentum 0.5 / 0.8 speed FR up x{g(fr_speed[0.5], 3)} / x{g(fr_speed[0.8], 3)} "
          f"(ratio of per-step log-rates); GDA's best momentum x{g(gda_speed, 3)} over its best "
          "without")
    side = ("; the side remark holds: no gamma = 0.8 GDA run converges" if div08 else
            f"; the side remark fails on {len(conv08)} of "
            f"{sum(r['gamma'] == 0.8 for r in gda)} gamma = 0.8 GDA runs, which converge slowly ("
            + ", ".join(f"lr_y {r['lr_y']}, c {r['c']}: rate {g(r['rate'], 2)}" for r in conv08) + ")")
    if ok:
        return ClaimResult(CAVEAT, computed, ev + side + ". Caveat: on our reading x1y1 + x2y2 "
                           "of the game (the printed one has no local minimax)", data)
    return ClaimResult(FAILS, computed, ev + side, data)
