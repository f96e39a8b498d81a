"""Iterations to converge: steps until the distance to the equilibrium falls below 1e-6,
each method at its tuned hyperparameters, on a random quadratic game (LEAD eq. 13) and
on the cooperative-adversarial game (LEAD eq. 31).

Tuning: ``integrators.tune`` minimises the spectral radius rho of each method's step map
at the equilibrium (differential evolution, then Nelder-Mead; the rate of Prop. 2, as
for LEAD Fig. 3). Then the real optimizer of ``optimizers`` (GDA, EG, OGDA,
MomentumGDA, LEAD, ComplexMomentum) runs from one random start, the same for every
method, and the first iteration k with ``||(x_k, y_k) - (x*, y*)|| < tol`` is reported,
beside the spectral estimate ``log(tol / d_0) / log(rho)`` (it ignores the transient,
so the two agree only in order of magnitude; a large gap is worth a look).

Games (players of dimension ``--n``, all from ``--seed``):

* ``quadratic``: eq. 13, ``f = h/2 |x|^2 - h/2 |y|^2 + x^T A y``, A with N(0, 1/n) entries;
* ``coop-adversarial``: eq. 31 with gamma_ii = gamma_max u_i, u ~ U[0, 1]^n, A with
  N(0, 1/n) entries and B1, B2 = Q diag(U[0.5, 1.5]) Q^T (random orthogonal Q), the
  random setting of LEAD Fig. 3.

Run ``python benchmarks/iterations_to_converge.py`` (``--quick`` for a smoke version).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
import torch  # noqa: E402

import optimizers  # noqa: E402
from benchmarks._common import (base_parser, finish_header, markdown_table,  # noqa: E402
                                positive_int, run_header, write_outputs)
from integrators import tune  # noqa: E402
from mechanics import coop_adversarial, quadratic  # noqa: E402

NAME = "iterations_to_converge"

#: spectral method name -> factory(params_x, params_y, tuned hyperparameters)
OPTIMIZERS: Dict[str, Callable] = {
    "gda": lambda px, py, hp: optimizers.GDA(px, py, lr=hp["lr"]),
    "eg": lambda px, py, hp: optimizers.EG(px, py, lr=hp["lr"]),
    "ogda": lambda px, py, hp: optimizers.OGDA(px, py, lr=hp["lr"]),
    "positive-momentum": lambda px, py, hp: optimizers.MomentumGDA(px, py, lr=hp["lr"],
                                                                   beta=hp["beta"]),
    "negative-momentum": lambda px, py, hp: optimizers.MomentumGDA(px, py, lr=hp["lr"],
                                                                   beta=hp["beta"]),
    "complex-momentum": lambda px, py, hp: optimizers.ComplexMomentum(
        px, py, lr=hp["lr"], beta=optimizers.beta_polar(hp["beta_abs"], hp["beta_arg"])),
    "lead": lambda px, py, hp: optimizers.LEAD(px, py, lr=hp["lr"], beta=hp["beta"],
                                               alpha=hp["alpha"]),
}


def make_games(n: int, h: float, gamma_max: float, seed: int) -> Dict:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) / math.sqrt(n)
    games = {"quadratic": quadratic(h, A)}
    A2 = rng.standard_normal((n, n)) / math.sqrt(n)
    Q1, Q2 = (scipy.stats.ortho_group.rvs(n, random_state=rng) if n > 1 else np.ones((1, 1))
              for _ in range(2))
    B1 = Q1 @ np.diag(rng.uniform(0.5, 1.5, n)) @ Q1.T
    B2 = Q2 @ np.diag(rng.uniform(0.5, 1.5, n)) @ Q2.T
    games["coop-adversarial"] = coop_adversarial(gamma_max * rng.uniform(0, 1, n), A=A2,
                                                 B1=B1, B2=B2)
    return games


def run_to_tolerance(game, factory: Callable, hp: Dict, z0: np.ndarray, tol: float,
                     max_iter: int):
    """``(iterations or None, distances)``: steps of the real optimizer until below ``tol``."""
    x = torch.tensor(z0[: game.n], dtype=torch.float64, requires_grad=True)
    y = torch.tensor(z0[game.n:], dtype=torch.float64, requires_grad=True)
    xs, ys = game.equilibrium_tensors(torch.float64)
    opt = factory([x], [y], hp)

    def closure(player):
        lx, ly = game.losses(x, y)
        return lx if player == "x" else ly

    def dist():
        with torch.no_grad():
            return float(torch.sqrt(((x - xs) ** 2).sum() + ((y - ys) ** 2).sum()))
    ds = [dist()]
    for k in range(1, max_iter + 1):
        try:
            opt.step(closure)
        except FloatingPointError:  # diverged (optimizers.NonFiniteError)
            return None, ds
        ds.append(dist())
        if ds[-1] < tol:
            return k, ds
        if not math.isfinite(ds[-1]) or ds[-1] > 1e8:
            return None, ds
    return None, ds


def bench_game(label: str, game, methods: Sequence[str], args) -> List[Dict]:
    z0 = np.random.default_rng(args.seed + 1).standard_normal(game.n + game.m)
    d0 = float(np.linalg.norm(z0))
    rows = []
    for m in methods:
        t = time.perf_counter()
        res = tune(m, game, seed=args.seed, maxiter=args.tune_maxiter, popsize=args.tune_popsize)
        tune_s = time.perf_counter() - t
        rho = res.spectral_radius
        predicted = (math.ceil(math.log(args.tol / d0) / math.log(rho))
                     if 0 < rho < 1 else None)
        t = time.perf_counter()
        k, ds = run_to_tolerance(game, OPTIMIZERS[m], res.params, z0, args.tol, args.max_iter)
        rows.append({"game": label, "method": m, "params": res.params, "spectral_radius": rho,
                     "iterations": k, "predicted_iterations": predicted,
                     "initial_distance": d0, "final_distance": ds[-1],
                     "tune_seconds": tune_s, "run_seconds": time.perf_counter() - t,
                     "distances": ds[:: max(1, len(ds) // 400)], "distance_stride":
                     max(1, len(ds) // 400)})
    return rows


def table(rows: List[Dict], tol: float, max_iter: int) -> str:
    header = ["game", "method", "tuned hyperparameters", "spectral radius",
              f"iterations to < {tol:g}", "spectral estimate"]
    body = []
    for r in rows:
        hp = ", ".join(f"{k}={v:.4g}" for k, v in r["params"].items())
        it = str(r["iterations"]) if r["iterations"] is not None else (
            f"not within {max_iter} (final {r['final_distance']:.1e})")
        body.append([r["game"], r["method"], hp, f"{r['spectral_radius']:.6f}", it,
                     str(r["predicted_iterations"]) if r["predicted_iterations"] else "diverges"])
    return markdown_table(header, body)


def plot(rows: List[Dict], games: Sequence[str], tol: float):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(games), figsize=(5.5 * len(games), 4), squeeze=False)
    for ax, g in zip(axes[0], games):
        lengths = []
        for r in (r for r in rows if r["game"] == g):
            ks = np.arange(len(r["distances"])) * r["distance_stride"]
            lengths.append(ks[-1] if len(ks) else 0)
            ax.semilogy(ks, np.maximum(r["distances"], 1e-300), label=r["method"])
        ax.axhline(tol, color="k", ls=":", lw=0.8)
        if lengths:  # one very slow method must not squash the others: clip at 3x the median
            ax.set_xlim(0, max(1.0, min(max(lengths), 3 * float(np.median(lengths)))))
        ax.set_xlabel("iteration")
        ax.set_ylabel("distance to equilibrium")
        ax.set_title(f"{g} (tuned hyperparameters)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def parse(argv):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--methods", default=None,
                   help=f"comma-separated subset of {','.join(OPTIMIZERS)} (default: all; "
                        f"--quick: gda,eg,ogda, whose tuning takes a fraction of a second)")
    p.add_argument("--games", default="quadratic,coop-adversarial")
    p.add_argument("--n", type=positive_int, default=None, help="player dimension (default 8)")
    p.add_argument("--h", type=float, default=0.1, help="h of eq. 13")
    p.add_argument("--gamma-max", type=float, default=0.5, help="gamma_max of eq. 31")
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--max-iter", type=positive_int, default=None, help="default 20000")
    p.add_argument("--tune-maxiter", type=positive_int, default=None,
                   help="differential evolution iterations (default 30)")
    p.add_argument("--tune-popsize", type=positive_int, default=None, help="default 10")
    args = p.parse_args(argv)
    if args.methods is None:
        args.methods = "gda,eg,ogda" if args.quick else ",".join(OPTIMIZERS)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in args.methods if m not in OPTIMIZERS]
    if bad or not args.methods:
        p.error(f"--methods: unknown method {bad[0] if bad else ''!r}; valid: {', '.join(OPTIMIZERS)}")
    args.games = [g.strip() for g in args.games.split(",") if g.strip()]
    if not args.games or any(g not in ("quadratic", "coop-adversarial") for g in args.games):
        p.error("--games must be a subset of quadratic,coop-adversarial")
    if not args.tol > 0:
        p.error("--tol must be positive")
    q = args.quick
    args.n = args.n or (2 if q else 8)
    args.max_iter = args.max_iter or (300 if q else 20000)
    args.tune_maxiter = args.tune_maxiter or (2 if q else 30)
    args.tune_popsize = args.tune_popsize or (3 if q else 10)
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    payload = run_header(NAME, argv, args)
    games = make_games(args.n, args.h, args.gamma_max, args.seed)
    rows = []
    for g in args.games:
        rows += bench_game(g, games[g], args.methods, args)
    finish_header(payload)
    payload.update(settings={k: v for k, v in vars(args).items() if k != "out"}, rows=rows)
    md = table(rows, args.tol, args.max_iter)
    note = (f"\nPlayers of dimension {args.n}, eq. 13 with h = {args.h}, eq. 31 with gamma_max = "
            f"{args.gamma_max}; seed {args.seed}; float64; tuning: integrators.tune "
            f"(differential evolution maxiter {args.tune_maxiter}, popsize {args.tune_popsize}, "
            f"then Nelder-Mead). Spectral estimate: ceil(log(tol / d0) / log(rho)), "
            f"d0 = {rows[0]['initial_distance']:.3g}.")
    print(md + "\n" + note)
    write_outputs(args.out, NAME, payload, md + "\n" + note, plot(rows, args.games, args.tol))
    return payload


if __name__ == "__main__":
    main()
