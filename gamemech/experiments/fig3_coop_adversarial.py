"""LEAD Fig. 3: tuned spectral radius on the cooperative-adversarial game of eq. 31.

    min_x max_y  x^T (gamma A) y + x^T ((I - gamma) B1) x - y^T ((I - gamma) B2) y

with gamma = diag(gamma_ii), gamma_ii ~ U[0, gamma_max]. gamma_max = 0 is a purely
cooperative (minimisation) game, gamma_max = 1 mixes cooperative and adversarial
directions. For every gamma_max and every method the hyperparameters are tuned to the
minimum spectral radius of the method's step map at the equilibrium
(``integrators.tuning.tune``: differential evolution, then Nelder-Mead), the Jacobian
being autograd through the implemented update (``integrators.spectral``).

Choices (the paper states none of them): random matrices by default (``--matrices
random``: A with i.i.d. N(0, 1/n) entries, B1 and B2 = Q diag(U[0.5,
1.5]) Q^T with random orthogonal Q, all from ``--seed``), or A = B1 = B2 = I
(``--matrices identity``; then gamma_max = 0 is trivial: GDA with lr = 1/2 has radius 0). The gamma draws use common random numbers: one
vector u ~ U[0, 1]^n from ``--seed``, gamma = gamma_max * u, so the curves are smooth in
gamma_max. The tuner's seed is ``--seed`` too.

    python -m gamemech.experiments.fig3_coop_adversarial --out out/fig3
writes ``fig3_coop_adversarial.png`` and ``fig3_coop_adversarial.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import mechanics
from mechanics.utils.atomic import atomic_write_bytes
from mechanics.utils.figures import save_figure
from integrators.tuning import tune

METHODS = ("gda", "eg", "ogda", "complex-momentum", "negative-momentum", "positive-momentum",
           "lead")
LABELS = {"gda": "GDA", "eg": "EG", "ogda": "OGDA", "complex-momentum": "complex momentum (CM)",
          "negative-momentum": "negative momentum (NM)",
          "positive-momentum": "positive momentum (PM)", "lead": "LEAD"}


def matrices(kind: str, n: int, rng: np.random.Generator):
    """``(A, B1, B2)`` for eq. 31."""
    if kind == "identity":
        return np.eye(n), np.eye(n), np.eye(n)
    A = rng.normal(size=(n, n)) / np.sqrt(n)

    def spd():
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        return q @ np.diag(rng.uniform(0.5, 1.5, size=n)) @ q.T
    return A, spd(), spd()


def run(gamma_maxes, n=8, seed=0, kind="random", methods=METHODS, maxiter=30, popsize=10,
        log=print):
    """Tune every method at every gamma_max; returns the JSON-able record."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=n)
    A, B1, B2 = matrices(kind, n, rng)
    rows = []
    for gm in gamma_maxes:
        game = mechanics.coop_adversarial(gm * u, A=A, B1=B1, B2=B2)
        row = {"gamma_max": float(gm), "gamma": (gm * u).tolist(), "methods": {}}
        for m in methods:
            t0 = time.perf_counter()
            r = tune(m, game, seed=seed, maxiter=maxiter, popsize=popsize)
            row["methods"][m] = {"spectral_radius": r.spectral_radius, "params": r.params,
                                 "nfev": r.nfev, "seconds": time.perf_counter() - t0}
            log(f"gamma_max={gm:.2f} {m:18s} rho={r.spectral_radius:.6f} {r.params}")
        rows.append(row)
    return {"figure": "LEAD Fig. 3", "game": "eq. 31 (mechanics.coop_adversarial)",
            "n": n, "seed": seed, "matrices": kind, "A": A.tolist(), "B1": B1.tolist(),
            "B2": B2.tolist(), "u": u.tolist(), "tuner": {"strategy": "differential_evolution",
                                                          "maxiter": maxiter, "popsize": popsize},
            "rows": rows}


def plot(record, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    gms = [r["gamma_max"] for r in record["rows"]]
    for m in record["rows"][0]["methods"]:
        rho = [r["methods"][m]["spectral_radius"] for r in record["rows"]]
        ax.plot(gms, rho, marker="o", ms=3, label=LABELS.get(m, m))
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel(r"$\gamma_{max}$  (0: cooperative, 1: adversarial mix)")
    ax.set_ylabel("tuned spectral radius")
    ax.set_title(f"Eq. 31, n={record['n']}, {record['matrices']} A, B1, B2, seed {record['seed']}")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def write_json(obj, path):
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--n", type=int, default=8, help="dimension of each player (default 8)")
    p.add_argument("--points", type=int, default=11, help="gamma_max grid size on [0, 1]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--matrices", choices=("identity", "random"), default="random")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma-separated subset of {','.join(METHODS)}")
    p.add_argument("--maxiter", type=int, default=30, help="differential evolution iterations")
    p.add_argument("--popsize", type=int, default=10)
    a = p.parse_args(argv)
    methods = tuple(m.strip() for m in a.methods.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        p.error(f"unknown method {bad[0] if bad else '(none)'}; valid: {', '.join(METHODS)}")
    if a.n < 1 or a.points < 2 or a.maxiter < 1 or a.popsize < 1:
        p.error("--n, --maxiter, --popsize must be >= 1 and --points >= 2")
    os.makedirs(a.out, exist_ok=True)
    rec = run(np.linspace(0.0, 1.0, a.points), n=a.n, seed=a.seed, kind=a.matrices,
              methods=methods, maxiter=a.maxiter, popsize=a.popsize)
    rec["command"] = " ".join([os.path.basename(sys.argv[0])] + (argv or sys.argv[1:]))
    write_json(rec, os.path.join(a.out, "fig3_coop_adversarial.json"))
    plot(rec, os.path.join(a.out, "fig3_coop_adversarial.png"))
    print(f"wrote {a.out}/fig3_coop_adversarial.png and .json")


if __name__ == "__main__":
    main()
