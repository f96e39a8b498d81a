"""Follow-the-Ridge Sec. 6.1 (Fig. 3 of FR): g1, g2, g3 with GDA, OGDA, EG, SGA, CO, FR, LEAD.

    g1 = -3x^2 - y^2 + 4xy              (0, 0) is a local (global) minimax
    g2 =  3x^2 + y^2 + 4xy              (0, 0) is stationary but NOT a local minimax
    g3 = (4x^2 - (y - 3x + 0.05x^3)^2 - 0.1y^4) exp(-0.01(x^2 + y^2))   (0, 0) local minimax

Every method starts from the same point and runs the same number of steps with the
hyperparameters of FR App. D.1: lr = 0.05, SGA lambda = 1.0, CO with FR's gamma = 0.1
(our ``CO(gamma=0.2)``: FR writes the penalty as gamma eta grad|grad f|^2, twice ours).
FR runs Algorithm 1 (exact inner solve). LEAD has no setting in FR; we use lr = 0.05,
beta = 0.5, alpha = 0.5 (``--lead-beta``, ``--lead-alpha``). At the origin and at every
method's last iterate the script checks FR's local-minimax conditions (Prop. 2-3, with
the README's fix H_yy^-1): the eigenvalues of H_yy (must be < 0) and of the Schur
complement H_xx - H_xy H_yy^-1 H_yx (must be > 0), from ``ZeroSumGame.hessian_blocks``.

    python -m gamemech.experiments.fr_toy_games --out out/fr
writes ``fr_toy_games.png`` (trajectories on the contours of each g) and ``fr_toy_games.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

import mechanics
import optimizers as O
from mechanics.utils.atomic import atomic_write_bytes
from mechanics.utils.figures import save_figure

GAMES = {"g1": mechanics.fr_g1, "g2": mechanics.fr_g2, "g3": mechanics.fr_g3}
METHODS = ("GDA", "OGDA", "EG", "SGA", "CO", "FR", "LEAD")
DIVERGED = 1e4   # |z| beyond this counts as divergence (the run stops)
SHORT = {"converged to origin": "converged", "diverged": "diverged",
         "did not converge": "not converged"}


def make_optimizer(name, px, py, lr, lead_beta, lead_alpha):
    return {
        "GDA": lambda: O.GDA(px, py, lr=lr),
        "OGDA": lambda: O.OGDA(px, py, lr=lr),
        "EG": lambda: O.ExtraGradient(px, py, lr=lr),
        "SGA": lambda: O.SGA(px, py, lr=lr, lam=1.0),
        "CO": lambda: O.CO(px, py, lr=lr, gamma=0.2),
        "FR": lambda: O.FR(px, py, lr=lr),
        "LEAD": lambda: O.LEAD(px, py, lr=lr, beta=lead_beta, alpha=lead_alpha),
    }[name]()


def local_minimax_check(game, x, y):
    """FR Prop. 2/3: eigenvalues of H_yy and of H_xx - H_xy H_yy^-1 H_yx at (x, y)."""
    Hxx, Hxy, Hyx, Hyy = (h.numpy() for h in game.hessian_blocks([x], [y]))
    eig_yy = np.linalg.eigvalsh(Hyy)
    if np.min(np.abs(eig_yy)) < 1e-12:
        return {"eig_Hyy": eig_yy.tolist(), "eig_schur": None, "local_minimax": False}
    schur = Hxx - Hxy @ np.linalg.solve(Hyy, Hyx)
    eig_s = np.linalg.eigvalsh((schur + schur.T) / 2)
    return {"eig_Hyy": eig_yy.tolist(), "eig_schur": eig_s.tolist(),
            "local_minimax": bool(eig_yy.max() < 0 and eig_s.min() > 0)}


def trajectory(game, method, start, steps, lr, lead_beta, lead_alpha):
    x = torch.tensor([start[0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([start[1]], dtype=torch.float64, requires_grad=True)
    opt = make_optimizer(method, [x], [y], lr, lead_beta, lead_alpha)
    zs = [(start[0], start[1])]
    status = "ran"
    for _ in range(steps):
        try:
            opt.step(lambda: (game.f(x, y).sum(), -game.f(x, y).sum()))
        except O.NonFiniteError:
            status = "diverged"
            break
        zs.append((float(x.detach()), float(y.detach())))
        if math.hypot(*zs[-1]) > DIVERGED:
            status = "diverged"
            break
    return np.array(zs), status


def run(steps=500, start=(4.0, 3.0), lr=0.05, lead_beta=0.5, lead_alpha=0.5,
        games=tuple(GAMES), methods=METHODS, tol=1e-3):
    out = {"paper": "FR Sec. 6.1", "steps": steps, "start": list(start), "lr": lr,
           "hyper": {"SGA": {"lam": 1.0}, "CO": {"gamma": 0.2, "fr_gamma": 0.1},
                     "LEAD": {"beta": lead_beta, "alpha": lead_alpha}, "FR": "Algorithm 1"},
           "converged_if": f"|z_final| < {tol}", "games": {}}
    trajs = {}
    for gname in games:
        game = GAMES[gname]()
        rec = {"origin": local_minimax_check(game, 0.0, 0.0), "methods": {}}
        for m in methods:
            zs, status = trajectory(game, m, start, steps, lr, lead_beta, lead_alpha)
            trajs[(gname, m)] = zs
            zf = zs[-1]
            dist = float(np.hypot(*zf))
            if status != "diverged":
                status = "converged to origin" if dist < tol else "did not converge"
            rec["methods"][m] = {"final": zf.tolist(), "distance_to_origin": dist,
                                 "status": status, "iterations": len(zs) - 1,
                                 "check_at_final": local_minimax_check(game, *zf)
                                 if status != "diverged" else None}
        out["games"][gname] = rec
    return out, trajs


def plot(record, trajs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(record["games"])
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4.6), squeeze=False)
    for ax, gname in zip(axes[0], names):
        game = GAMES[gname]()
        s = record["start"]
        r = max(6.0, 1.5 * max(abs(s[0]), abs(s[1])))
        X, Y = np.meshgrid(np.linspace(-r, r, 200), np.linspace(-r, r, 200))
        with torch.no_grad():
            F = game.f(torch.as_tensor(X)[..., None], torch.as_tensor(Y)[..., None]).numpy()
        ax.contour(X, Y, F, levels=30, cmap="Greys", linewidths=0.5)
        for m, rec in record["games"][gname]["methods"].items():
            zs = trajs[(gname, m)]
            zs = zs[np.all(np.abs(zs) < 2 * r, axis=1)]
            ax.plot(zs[:, 0], zs[:, 1], lw=1.2, label=f"{m} ({SHORT[rec['status']]})")
        ax.plot(*s, "r^", ms=8)
        ax.plot(0, 0, "k*", ms=8)
        lm = record["games"][gname]["origin"]["local_minimax"]
        ax.set_title(f"{gname}: origin {'IS' if lm else 'is NOT'} local minimax")
        ax.set_xlim(-r, r)
        ax.set_ylim(-r, r)
        ax.set_xlabel("x (leader, min)")
        ax.set_ylabel("y (follower, max)")
        ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--start", type=float, nargs=2, default=(4.0, 3.0), metavar=("X0", "Y0"))
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--lead-beta", type=float, default=0.5)
    p.add_argument("--lead-alpha", type=float, default=0.5)
    a = p.parse_args(argv)
    if a.steps < 1 or not (a.lr > 0) or not all(map(math.isfinite, a.start)):
        p.error("--steps must be >= 1, --lr > 0 and --start finite")
    try:
        rec, trajs = run(a.steps, tuple(a.start), a.lr, a.lead_beta, a.lead_alpha)
    except ValueError as err:      # an invalid hyperparameter, named by the optimizer
        p.error(str(err))
    rec["command"] = " ".join([os.path.basename(sys.argv[0])] + (argv or sys.argv[1:]))
    os.makedirs(a.out, exist_ok=True)
    atomic_write_bytes(os.path.join(a.out, "fr_toy_games.json"),
                       json.dumps(rec, indent=1).encode())
    plot(rec, trajs, os.path.join(a.out, "fr_toy_games.png"))
    for g, r in rec["games"].items():
        print(g, "origin local minimax:", r["origin"]["local_minimax"], "|",
              ", ".join(f"{m}: {v['status']}" for m, v in r["methods"].items()))
    print(f"wrote {a.out}/fr_toy_games.png and .json")


if __name__ == "__main__":
    main()
