"""LEAD App. J, Fig. 9: OGDA against LEAD / GDA / CGD on f(x, y) = gamma (x^2 - y^2).

The paper shows, at one learning rate, OGDA converging for gamma = 1 and failing for
gamma = 6 while LEAD, GDA and CGD converge, and claims that "for gamma >= 6 OGDA fails to
converge for any learning rate". This script measures both:

1. Trajectories (the figure's two panels): |z_k| for gamma in ``--gammas`` (default 1
   and 6) at ``--lr`` (default 0.1), from ``--start``, with the optimizers of this
   library (``optimizers.OGDA``, ``GDA``, ``LEAD``, ``CGD``).
2. The convergence region over (gamma, lr): the spectral radius of each method's step
   map at the equilibrium (``integrators.spectral.step_jacobian``, autograd through the
   implemented update) on a log-spaced lr grid; the JSON gives, for every gamma, the
   largest grid lr with radius < 1, beside the closed-form bounds of this scalar game:
   GDA (and CGD, LEAD with beta = 0, whose coupling term vanishes because grad_xy f = 0)
   converge iff lr * gamma < 1; OGDA, whose characteristic polynomial is
   l^2 - (1 - 4 lr gamma) l - 2 lr gamma, iff lr * gamma < 1/3; LEAD with momentum beta
   iff lr * gamma < 1 + beta.

LEAD's setting is not given in the paper; the default ``--lead-beta 0 --lead-alpha 0.5``
makes it overlie GDA as in the figure.

    python -m gamemech.experiments.fig9_ogda_gamma --out out/fig9
writes ``fig9_ogda_gamma.png`` and ``fig9_ogda_gamma.json``.
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
from integrators.spectral import spectral_radius, step_jacobian


def trajectory(name, gamma, lr, start, steps, lead_beta, lead_alpha):
    """``|z_k|`` along ``steps`` steps of optimizer ``name`` (stops past 1e6)."""
    game = mechanics.gamma_quadratic(gamma)
    x = torch.tensor([start[0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([start[1]], dtype=torch.float64, requires_grad=True)
    opt = {"OGDA": lambda: O.OGDA([x], [y], lr=lr),
           "GDA": lambda: O.GDA([x], [y], lr=lr),
           "LEAD": lambda: O.LEAD([x], [y], lr=lr, beta=lead_beta, alpha=lead_alpha),
           "CGD": lambda: O.CGD([x], [y], lr=lr)}[name]()
    dist = [math.hypot(*start)]
    for _ in range(steps):
        opt.step(lambda: (game.f(x, y).sum(), -game.f(x, y).sum()))
        dist.append(math.hypot(float(x.detach()), float(y.detach())))
        if dist[-1] > 1e6:
            break
    return dist


SPECTRAL = {"GDA": ("gda", {}), "OGDA": ("ogda", {})}


def radius_map(gammas, lrs, lead_beta, lead_alpha):
    """``{method: rho[gamma_index][lr_index]}`` from the step maps' Jacobians."""
    methods = dict(SPECTRAL, LEAD=("lead", {"beta": lead_beta, "alpha": lead_alpha}))
    out = {}
    for label, (name, extra) in methods.items():
        out[label] = [[spectral_radius(np.linalg.eigvals(
            step_jacobian(name, mechanics.gamma_quadratic(g), lr=float(lr), **extra).numpy()))
            for lr in lrs] for g in gammas]
    return out


def closed_form_bound(label, lead_beta):
    """The largest lr * gamma that converges (module docstring)."""
    return {"GDA": 1.0, "OGDA": 1.0 / 3.0, "LEAD": 1.0 + lead_beta}[label]


def run(gammas=(1.0, 6.0), lr=0.1, start=(1.0, 1.0), steps=200, lead_beta=0.0,
        lead_alpha=0.5, grid_gammas=None, grid_lrs=None, tol=1e-6):
    grid_gammas = np.linspace(0.5, 10.0, 20) if grid_gammas is None else np.asarray(grid_gammas)
    grid_lrs = np.logspace(-3, 0, 31) if grid_lrs is None else np.asarray(grid_lrs)
    rec = {"paper": "LEAD App. J, Fig. 9", "game": "gamma (x^2 - y^2)",
           "lead": {"beta": lead_beta, "alpha": lead_alpha}, "trajectories": {},
           "converged_if": f"|z_final| < {tol} |z_0|"}
    for g in gammas:
        rows = {}
        for m in ("OGDA", "GDA", "LEAD", "CGD"):
            d = trajectory(m, g, lr, start, steps, lead_beta, lead_alpha)
            rows[m] = {"distance": d, "final": d[-1], "converged": bool(d[-1] < tol * d[0])}
        rec["trajectories"][f"gamma={g:g}"] = {"gamma": g, "lr": lr, "start": list(start),
                                               "methods": rows}
    radii = radius_map(grid_gammas, grid_lrs, lead_beta, lead_alpha)
    bounds = {}
    for m, rho in radii.items():
        lr_max = []
        for gi, g in enumerate(grid_gammas):
            ok = [lr_ for lr_, r in zip(grid_lrs, rho[gi]) if r < 1.0]
            lr_max.append(max(ok) if ok else None)
        bounds[m] = {"largest_converging_grid_lr": lr_max,
                     "closed_form_lr_bound": [closed_form_bound(m, lead_beta) / g
                                              for g in grid_gammas]}
    rec["grid"] = {"gammas": grid_gammas.tolist(), "lrs": grid_lrs.tolist(),
                   "spectral_radius": radii, "bounds": bounds}
    rec["ogda_converges_at_gamma_6"] = {
        "some_grid_lr": bool(any(r < 1 for r in radii["OGDA"][int(np.argmin(abs(grid_gammas - 6)))])),
        "gamma": float(grid_gammas[int(np.argmin(abs(grid_gammas - 6)))])}
    return rec


def plot(rec, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    trajs = list(rec["trajectories"].values())
    fig, axes = plt.subplots(1, len(trajs) + 1, figsize=(5 * (len(trajs) + 1), 4))
    styles = {"OGDA": "-", "GDA": "--", "LEAD": ":", "CGD": "-."}
    for ax, t in zip(axes, trajs):
        for m, r in t["methods"].items():
            ax.semilogy(r["distance"], styles[m], label=m)
        ax.set_title(f"gamma = {t['gamma']:g}, lr = {t['lr']:g}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("|z_k|")
        ax.legend()
    ax = axes[-1]
    g = np.array(rec["grid"]["gammas"])
    for m, b in rec["grid"]["bounds"].items():
        lr_max = np.array([np.nan if v is None else v for v in b["largest_converging_grid_lr"]])
        line, = ax.loglog(g, lr_max, "o", ms=4, label=f"{m}: largest converging grid lr")
        ax.loglog(g, b["closed_form_lr_bound"], "-", color=line.get_color(), lw=0.8)
    ax.set_xlabel("gamma")
    ax.set_ylabel("learning rate")
    ax.set_title("converges below the curve (lines: closed form;\nGDA lies under LEAD with beta = 0)", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--gammas", type=float, nargs="+", default=[1.0, 6.0])
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--start", type=float, nargs=2, default=(1.0, 1.0), metavar=("X0", "Y0"))
    p.add_argument("--lead-beta", type=float, default=0.0)
    p.add_argument("--lead-alpha", type=float, default=0.5)
    p.add_argument("--grid", type=int, nargs=2, default=(20, 31), metavar=("NGAMMA", "NLR"),
                   help="grid sizes: gamma in [0.5, 10], lr log-spaced in [1e-3, 1]")
    a = p.parse_args(argv)
    if a.steps < 1 or not a.lr > 0 or not all(g > 0 for g in a.gammas) or min(a.grid) < 2:
        p.error("--steps must be >= 1, --lr > 0, every gamma > 0 and --grid sizes >= 2")
    try:
        rec = run(tuple(a.gammas), a.lr, tuple(a.start), a.steps, a.lead_beta, a.lead_alpha,
                  grid_gammas=np.linspace(0.5, 10.0, a.grid[0]),
                  grid_lrs=np.logspace(-3, 0, a.grid[1]))
    except ValueError as err:
        p.error(str(err))
    rec["command"] = " ".join([os.path.basename(sys.argv[0])] + (argv or sys.argv[1:]))
    os.makedirs(a.out, exist_ok=True)
    atomic_write_bytes(os.path.join(a.out, "fig9_ogda_gamma.json"),
                       json.dumps(rec, indent=1).encode())
    plot(rec, os.path.join(a.out, "fig9_ogda_gamma.png"))
    for k, t in rec["trajectories"].items():
        print(k, ", ".join(f"{m}: {'converged' if r['converged'] else 'not converged'}"
                           for m, r in t["methods"].items()))
    print("OGDA converges at gamma =", rec["ogda_converges_at_gamma_6"]["gamma"],
          "for some grid lr:", rec["ogda_converges_at_gamma_6"]["some_grid_lr"])
    print(f"wrote {a.out}/fig9_ogda_gamma.png and .json")


if __name__ == "__main__":
    main()
