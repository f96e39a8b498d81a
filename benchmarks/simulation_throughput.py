"""Simulation throughput: trajectories per second of the LEAD ODE, batched vs a scipy loop.

The dynamics is LEAD eq. 10 with the three forces of Sec. 3,
``Particle(game, Curl() + Magnetic(q) + Friction(mu))`` with ``q = 2/mu + mu`` (the
Lyapunov choice of Thm. 1; eq. 7's charge convention), on the quadratic game of
eq. 13, ``f = h/2 |x|^2 - h/2 |y|^2 + x^T A y``, in two sizes:

- ``2-D``: players of dimension 1 (A = [[1]]), phase space of dimension 4;
- ``100-D``: players of dimension 50 (A Gaussian / sqrt(50), seeded), phase dim 200.

For each game it times ``integrators.simulate``:

- ``torchdiffeq`` (dopri5) on a batch of 1, 100 and 10,000 initial conditions, one call;
- ``scipy`` (RK45, the same Dormand-Prince 5(4) pair; ``--scipy-method``), which is a
  loop of ``solve_ivp`` calls, one per initial condition, at the same rtol/atol.
  A loop has no batch effect, so it is timed on ``--scipy-max`` initial conditions and
  its time for B conditions is B times the per-trajectory time: the table says
  "extrapolated" wherever fewer than B were timed;
- for scale, a scipy loop whose right-hand side is the numpy phase matrix (no torch,
  no autograd): the cheapest a per-trajectory scipy loop can be.

The vector field is linear, ``dz/dt = M z``, with M the phase matrix of eq. 36 (built
here in numpy, independently of the library), so the reference is ``expm(M t) z0``;
every row reports its largest absolute error against it over all saved states.

Run ``python benchmarks/simulation_throughput.py`` (``--quick`` for a smoke version).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import scipy.integrate  # noqa: E402
import scipy.linalg  # noqa: E402
import torch  # noqa: E402

from benchmarks._common import (base_parser, finish_header, int_list, markdown_table,  # noqa: E402
                                median, positive_int, run_header, sync, write_outputs)
from integrators import SCIPY_METHODS, simulate  # noqa: E402
from mechanics import Curl, Friction, Magnetic, Particle, quadratic  # noqa: E402

NAME = "simulation_throughput"


# ---------------------------------------------------------------- the problem
def make_game(player_dim: int, h: float, seed: int):
    """Eq. 13 with players of dimension ``player_dim``; A = [[1]] in 1-D, else Gaussian."""
    if player_dim == 1:
        A = np.ones((1, 1))
    else:
        A = np.random.default_rng(seed).standard_normal((player_dim, player_dim))
        A /= np.sqrt(player_dim)
    return quadratic(h, A), A


def phase_matrix(h: float, A: np.ndarray, mu: float, q: float) -> np.ndarray:
    """Eq. 36 as a matrix on z = [x, y, vx, vy] (numpy; independent of mechanics/):
    x'' = -mu x' - h x - A y - q A y',  y'' = -mu y' - h y + A^T x + q A^T x'."""
    n = A.shape[0]
    I, Z = np.eye(n), np.zeros((n, n))
    return np.block([[Z, Z, I, Z], [Z, Z, Z, I],
                     [-h * I, -A, -mu * I, -q * A],
                     [A.T, -h * I, q * A.T, -mu * I]])


def reference(M: np.ndarray, z0: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """``expm(M t) z0`` at every save time: (T, B, dim)."""
    return np.stack([z0 @ scipy.linalg.expm(M * t).T for t in ts])


def max_error(zs, ref: np.ndarray) -> float:
    zs = zs.detach().cpu().numpy() if isinstance(zs, torch.Tensor) else np.asarray(zs)
    return float(np.max(np.abs(zs - ref)))


# ---------------------------------------------------------------- the runs
def run_torch(dyn, z0: torch.Tensor, ts, rtol, atol, device):
    z0 = z0.to(device)
    sync(device)
    t = time.perf_counter()
    traj = simulate(dyn, z0, ts, backend="torchdiffeq", method="dopri5", rtol=rtol, atol=atol)
    sync(device)
    return time.perf_counter() - t, traj.zs, traj.stats["nfev"], traj.success


def run_scipy(dyn, z0: torch.Tensor, ts, rtol, atol, method):
    t = time.perf_counter()
    traj = simulate(dyn, z0, ts, backend="scipy", method=method, rtol=rtol, atol=atol)
    return time.perf_counter() - t, traj.zs, traj.stats["nfev"], traj.success


def run_numpy_rhs(M: np.ndarray, z0: np.ndarray, ts: np.ndarray, rtol, atol, method):
    """A scipy loop with the numpy matrix as right-hand side (no torch at all)."""
    out = np.empty((len(ts), len(z0), M.shape[0]))
    nfev, ok = 0, True
    t = time.perf_counter()
    for b, z in enumerate(z0):
        sol = scipy.integrate.solve_ivp(lambda _t, s: M @ s, (ts[0], ts[-1]), z, method=method,
                                        t_eval=ts, rtol=rtol, atol=atol)
        out[:, b], nfev, ok = sol.y.T, nfev + sol.nfev, ok and sol.success
    return time.perf_counter() - t, out, nfev, ok


def bench_game(label: str, player_dim: int, args, batches: Sequence[int], repeats: int,
               device: str) -> List[Dict]:
    game, A = make_game(player_dim, args.h, args.seed)
    q = 2.0 / args.mu + args.mu
    dyn = Particle(game, Curl() + Magnetic(q) + Friction(args.mu))
    M = phase_matrix(args.h, A, args.mu, q)
    ts_np = np.linspace(0.0, args.horizon, args.saves)
    ts = torch.as_tensor(ts_np)
    rng = np.random.default_rng(args.seed + 1)
    z_all = rng.standard_normal((max(batches), dyn.dim))
    k = min(args.scipy_max, max(batches))
    ref_all = reference(M, z_all, ts_np)
    rows: Dict[str, Dict] = {}

    def record(key, **fields):
        r = rows.setdefault(key, {"game": label, "phase_dim": dyn.dim, "times": [], **fields})
        return r

    for rep in range(repeats):
        for B in batches:  # interleaved: every configuration once per repeat
            r = record(f"torch-{B}", backend="torchdiffeq", method="dopri5", device=device,
                       batch=B, timed=B)
            if rep and r.get("skip"):
                continue
            wall, zs, nfev, ok = run_torch(dyn, torch.as_tensor(z_all[:B]), ts, args.rtol,
                                           args.atol, device)
            r["times"].append(wall)
            r.update(nfev=nfev, success=ok, max_abs_error=max_error(zs, ref_all[:, :B]))
            r["skip"] = wall > args.single_run_seconds  # too slow to repeat
        r = record("scipy", backend="scipy", method=args.scipy_method, device="cpu",
                   batch=k, timed=k)
        if not (rep and r.get("skip")):
            wall, zs, nfev, ok = run_scipy(dyn, torch.as_tensor(z_all[:k]), ts, args.rtol,
                                           args.atol, args.scipy_method)
            r["times"].append(wall)
            r.update(nfev=nfev, success=ok, max_abs_error=max_error(zs, ref_all[:, :k]))
            r["skip"] = wall > args.single_run_seconds
        r = record("numpy", backend="scipy, numpy-matrix RHS", method=args.scipy_method,
                   device="cpu", batch=k, timed=k)
        wall, zs, nfev, ok = run_numpy_rhs(M, z_all[:k], ts_np, args.rtol, args.atol,
                                           args.scipy_method)
        r["times"].append(wall)
        r.update(nfev=nfev, success=ok, max_abs_error=max_error(zs, ref_all[:, :k]))

    scipy_per = median(rows["scipy"]["times"]) / k
    out = []
    for key, r in rows.items():
        r.pop("skip", None)
        r["wall_seconds"] = median(r["times"])
        r["repeats"] = len(r["times"])
        r["seconds_per_trajectory"] = r["wall_seconds"] / r["timed"]
        r["trajectories_per_second"] = 1.0 / r["seconds_per_trajectory"]
        r["speedup_vs_scipy_loop"] = scipy_per / r["seconds_per_trajectory"]
        r["nfev_per_trajectory"] = r["nfev"] / (1 if r["backend"] == "torchdiffeq" else r["timed"])
        out.append(r)
    return out


# ---------------------------------------------------------------- report
def table(rows: List[Dict], batches: Sequence[int]) -> str:
    header = ["game", "solver", "ICs", "ICs timed", "wall s (median)", "traj/s",
              "speedup vs scipy loop", "nfev/traj", "max abs err vs expm", "repeats"]
    body = []
    for r in rows:
        if r["backend"] == "torchdiffeq":
            solver, ics, timed = f"torchdiffeq {r['method']} batched ({r['device']})", r["batch"], r["batch"]
            wall = f"{r['wall_seconds']:.3g}"
        else:
            solver = f"{r['backend']} loop ({r['method']})"
            ics = ", ".join(str(b) for b in batches)
            timed = r["timed"]
            big = [b for b in batches if b > r["timed"]]
            wall = f"{r['seconds_per_trajectory']:.3g} per traj" + (
                f"; for {', '.join(map(str, big))}: extrapolated (x B)" if big else "")
        body.append([r["game"], solver, ics, timed, wall, f"{r['trajectories_per_second']:.4g}",
                     f"{r['speedup_vs_scipy_loop']:.3g}x", f"{r['nfev_per_trajectory']:.0f}",
                     f"{r['max_abs_error']:.1e}", r["repeats"]])
    return markdown_table(header, body)


def plot(rows: List[Dict], games: Sequence[str]):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(games), figsize=(5.2 * len(games), 4), squeeze=False)
    for ax, g in zip(axes[0], games):
        rs = [r for r in rows if r["game"] == g]
        tor = sorted((r for r in rs if r["backend"] == "torchdiffeq"), key=lambda r: r["batch"])
        xs = [r["batch"] for r in tor]
        ax.loglog(xs, [r["trajectories_per_second"] for r in tor], "o-",
                  label="torchdiffeq dopri5, one batched call")
        for r, style in ((next(r for r in rs if r["backend"] == "scipy"), "--"),
                         (next(r for r in rs if r["backend"].startswith("scipy, numpy")), ":")):
            ax.axhline(r["trajectories_per_second"], ls=style, color="k" if style == "--" else "gray",
                       label=f"{r['backend']} loop ({r['method']})")
        ax.set_xlabel("initial conditions in the batch")
        ax.set_ylabel("trajectories per second")
        ax.set_title(f"LEAD ODE, {g} quadratic game (eq. 13)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def parse(argv: Optional[Sequence[str]]):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--batches", type=int_list, default=None,
                   help="batch sizes of the torchdiffeq runs (default 1,100,10000)")
    p.add_argument("--games", default="2-D,100-D",
                   help="comma-separated subset of 2-D,100-D (players of dim 1 and 50)")
    p.add_argument("--device", default="cpu", help="torch device of the batched runs (cpu, cuda)")
    p.add_argument("--horizon", type=float, default=None, help="integrate over [0, T] (default 2)")
    p.add_argument("--saves", type=positive_int, default=5, help="save times, incl. 0 and T")
    p.add_argument("--h", type=float, default=0.1, help="h of eq. 13 (default %(default)s)")
    p.add_argument("--mu", type=float, default=1.0, help="friction mu; q = 2/mu + mu")
    p.add_argument("--rtol", type=float, default=1e-7)
    p.add_argument("--atol", type=float, default=1e-9)
    p.add_argument("--scipy-method", default="RK45", choices=SCIPY_METHODS)
    p.add_argument("--scipy-max", type=positive_int, default=None,
                   help="initial conditions the scipy loop is timed on (default 10)")
    p.add_argument("--single-run-seconds", type=float, default=30.0,
                   help="a configuration slower than this is measured once, not repeated")
    args = p.parse_args(argv)
    games = [g.strip() for g in args.games.split(",") if g.strip()]
    bad = [g for g in games if g not in ("2-D", "100-D")]
    if bad or not games:
        p.error(f"--games: unknown game {bad[0] if bad else ''!r}; valid: 2-D, 100-D")
    args.games = games
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda, but no CUDA device is available")
    if not (args.mu > 0 and args.rtol > 0 and args.atol > 0):
        p.error("--mu, --rtol and --atol must be positive")
    q = args.quick
    args.batches = args.batches or ([1, 8] if q else [1, 100, 10000])
    args.horizon = args.horizon if args.horizon is not None else (0.1 if q else 2.0)
    if not args.horizon > 0:
        p.error("--horizon must be positive")
    args.scipy_max = args.scipy_max or (2 if q else 10)
    args.repeats = args.repeats or (1 if q else 3)
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    payload = run_header(NAME, argv, args, args.device)
    dims = {"2-D": 1, "100-D": 50}
    rows = []
    for g in args.games:
        rows += bench_game(g, dims[g], args, args.batches, args.repeats, args.device)
    finish_header(payload)
    payload.update(settings={k: v for k, v in vars(args).items() if k not in ("out",)},
                   rows=rows)
    md = table(rows, args.batches)
    note = (f"\nLEAD ODE (eq. 10, q = 2/mu + mu, mu = {args.mu}) on eq. 13 (h = {args.h}), "
            f"t in [0, {args.horizon}], {args.saves} save times, rtol = {args.rtol}, "
            f"atol = {args.atol}, float64, torch threads = {args.threads}. "
            f"Scipy loops are timed on {args.scipy_max} initial conditions; "
            f"their time for more is extrapolated (B x per-trajectory time)."
            + (" Measured UNDER LOAD (other jobs on the machine)." if payload["under_load"] else ""))
    print(md + "\n" + note)
    write_outputs(args.out, NAME, payload, md + "\n" + note, plot(rows, args.games))
    return payload


if __name__ == "__main__":
    main()
