"""Simulation throughput of the LEAD ODE: the library's backends against diffrax, torchode
and a plain numpy ``solve_ivp`` loop, in one process, interleaved, medians, one thread.

The dynamics is LEAD eq. 10 with the three forces of Sec. 3,
``Particle(game, Curl() + Magnetic(q) + Friction(mu))``, ``mu = 0.5``, ``q = 2/mu + mu``
(Thm. 1's choice; eq. 7's charge convention), on the quadratic game of eq. 13,
``f = h/2 |x|^2 - h/2 |y|^2 + x^T A y``, at the two settings of issue 16:

- ``2-D``: f = xy (players of dimension 1, h = 0), 10^4 initial conditions;
- ``100-D``: players of dimension 50, h = 0.1, A ~ N(0, 1)/sqrt(50) (seeded), 10^3 ICs.

t in [0, 20], Dormand-Prince 5(4) everywhere, rtol 1e-7, atol 1e-9, float64, positions
uniform in [-2, 2], velocities 0. The solvers:

- ``simulate(backend="torchdiffeq")`` and ``simulate(backend="torchode")``: one batched call;
- diffrax ``Dopri5`` under ``jax.vmap`` + ``jax.jit`` with the forces by JAX autodiff of f
  (``jax.grad`` and a ``jax.jvp`` of it), compile time reported apart, not counted;
- torchode ``Dopri5`` on a hand-written torch right-hand side (the phase matrix), what a
  torch user would write without this library;
- a plain ``scipy.integrate.solve_ivp`` loop (RK45) with the numpy phase matrix as its
  right-hand side, and ``simulate(backend="scipy", method="RK45")``: loops, timed on
  ``--scipy-max`` initial conditions (per-trajectory time).

diffrax/jax and torchode are the optional ``bench`` extra (``pip install -e ".[bench]"``);
a solver whose package is missing is skipped with a note. The vector field is linear,
``dz/dt = M z`` with M the phase matrix of eq. 36 (built here in numpy, independently of
the library), so the reference is ``expm(M t) z0``; every row reports its largest
absolute error against it over all saved states.

Run ``python benchmarks/simulation_throughput.py`` (``--quick`` for a smoke version).
"""
from __future__ import annotations

import os
import sys

# one thread for every library, set before numpy / jax / torch start their pools
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")

import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List, Optional, Sequence  # noqa: E402

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import scipy.integrate  # noqa: E402
import scipy.linalg  # noqa: E402
import torch  # noqa: E402

from benchmarks._common import (base_parser, finish_header, markdown_table,  # noqa: E402
                                median, positive_int, run_header, write_outputs)
from integrators import simulate  # noqa: E402
from mechanics import Curl, Friction, Magnetic, Particle, bilinear, quadratic  # noqa: E402

NAME = "simulation_throughput"
#: the issue's two settings: label -> (player dimension, h, initial conditions)
SETTINGS = {"2-D": (1, 0.0, 10_000), "100-D": (50, 0.1, 1_000)}


# ---------------------------------------------------------------- the problem
def make_game(player_dim: int, h: float, seed: int):
    """Eq. 13 with players of dimension ``player_dim``; A = [[1]] in 1-D, else Gaussian."""
    if player_dim == 1:
        A = np.ones((1, 1))
    else:
        A = np.random.default_rng(seed).standard_normal((player_dim, player_dim))
        A /= np.sqrt(player_dim)
    return (bilinear(A) if h == 0 else quadratic(h, A)), A


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


# ---------------------------------------------------------------- the solvers
# Each maker returns ``run(z0) -> (zs (T, B, dim), work, ok)`` or raises ImportError.
def _library(dyn, ts, args, backend: str, method: str = "dopri5"):
    def run(z0):
        traj = simulate(dyn, torch.as_tensor(z0), ts, backend=backend, method=method,
                        rtol=args.rtol, atol=args.atol)
        nfev = traj.stats["nfev"]
        if backend == "torchode":
            nfev = float(traj.stats["nfev_per_trajectory"].double().mean())
        elif backend == "scipy":
            nfev = nfev / len(z0)
        return traj.zs, f"nfev {nfev:.0f}", traj.success
    return run


def _hand_written_torch_rhs(n: int, h: float, A: np.ndarray, mu: float, q: float):
    """Eq. 36 written by hand in torch, the way a user without this library would:
    ``x'' = -mu x' - h x - A (y + q y')``, ``y'' = -mu y' - h y + A^T (x + q x')``."""
    At = torch.as_tensor(A)

    def rhs(t, z):
        x, y, vx, vy = z[:, :n], z[:, n:2 * n], z[:, 2 * n:3 * n], z[:, 3 * n:]
        ax = -mu * vx - h * x - (y + q * vy) @ At.T
        ay = -mu * vy - h * y + (x + q * vx) @ At
        return torch.cat([vx, vy, ax, ay], dim=-1)
    return rhs


def _torchode_plain(n, h, A, mu, q, ts, args):
    import torchode as to
    term = to.ODETerm(_hand_written_torch_rhs(n, h, A, mu, q))
    solver = to.AutoDiffAdjoint(to.Dopri5(term=term),
                                to.IntegralController(atol=args.atol, rtol=args.rtol, term=term))
    t_eval = torch.as_tensor(ts)

    def run(z0):
        y0 = torch.as_tensor(z0)
        sol = solver.solve(to.InitialValueProblem(y0=y0, t_eval=t_eval.expand(len(y0), -1)))
        nfev = float(sol.stats["n_f_evals"].double().mean())
        return sol.ys.transpose(0, 1), f"nfev {nfev:.0f}", bool((sol.status == 0).all())
    return run


def _diffrax(n, h, A, mu, q, ts, args):
    """diffrax Dopri5, vmap + jit, forces by JAX autodiff of f (grad, and jvp of grad)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import diffrax
    import jax.numpy as jnp
    Aj = jnp.asarray(A)

    def f(x, y):
        return 0.5 * h * (x @ x - y @ y) + x @ Aj @ y
    grad_x, grad_y = jax.grad(f, 0), jax.grad(f, 1)

    def rhs(t, z, _):
        x, y, vx, vy = z[:n], z[n:2 * n], z[2 * n:3 * n], z[3 * n:]
        gx, mx = jax.jvp(lambda yy: grad_x(x, yy), (y,), (vy,))  # grad_x f, grad_xy f vy
        gy, my = jax.jvp(lambda xx: grad_y(xx, y), (x,), (vx,))  # grad_y f, grad_yx f vx
        return jnp.concatenate([vx, vy, -gx - q * mx - mu * vx, gy + q * my - mu * vy])

    term, solver = diffrax.ODETerm(rhs), diffrax.Dopri5()
    ctrl = diffrax.PIDController(rtol=args.rtol, atol=args.atol)
    saveat = diffrax.SaveAt(ts=jnp.asarray(ts))

    def one(z0):
        sol = diffrax.diffeqsolve(term, solver, t0=float(ts[0]), t1=float(ts[-1]), dt0=None,
                                  y0=z0, stepsize_controller=ctrl, saveat=saveat,
                                  max_steps=1_000_000)
        return sol.ys, sol.stats["num_steps"], sol.result == diffrax.RESULTS.successful

    solve = jax.jit(jax.vmap(one))

    def run(z0):
        ys, steps, ok = jax.block_until_ready(solve(jnp.asarray(z0)))
        return (np.swapaxes(np.asarray(ys), 0, 1), f"steps {float(np.mean(steps)):.0f}",
                bool(np.all(ok)))
    run.compile = lambda z0: run(z0)  # first call compiles
    return run


def _numpy_loop(M, ts, args):
    """A plain scipy loop, numpy matrix right-hand side (no torch at all)."""
    def run(z0):
        out = np.empty((len(ts), len(z0), M.shape[0]))
        nfev, ok = 0, True
        for b, z in enumerate(z0):
            sol = scipy.integrate.solve_ivp(lambda _t, s: M @ s, (ts[0], ts[-1]), z,
                                            method="RK45", t_eval=ts, rtol=args.rtol,
                                            atol=args.atol)
            out[:, b], nfev, ok = sol.y.T, nfev + sol.nfev, ok and sol.success
        return out, f"nfev {nfev / len(z0):.0f}", ok
    return run


# ---------------------------------------------------------------- the runs
SOLVER_KEYS = ("lib-torchdiffeq", "lib-torchode", "diffrax", "torchode", "numpy-loop",
               "lib-scipy")


def solvers(label: str, args) -> List[Dict]:
    """The solver table of one setting: name, maker, whether it is a loop (timed on few)."""
    return [
        {"key": "lib-torchdiffeq", "solver": 'simulate(backend="torchdiffeq"), dopri5, batched',
         "make": lambda c: _library(c["dyn"], c["ts"], args, "torchdiffeq"), "loop": False},
        {"key": "lib-torchode", "solver": 'simulate(backend="torchode"), dopri5, batched',
         "make": lambda c: _library(c["dyn"], c["ts"], args, "torchode"), "loop": False},
        {"key": "diffrax", "solver": "diffrax Dopri5, jax.vmap + jax.jit, JAX autodiff forces",
         "make": lambda c: _diffrax(c["n"], c["h"], c["A"], args.mu, c["q"], c["ts"], args),
         "loop": False},
        {"key": "torchode", "solver": "torchode Dopri5, hand-written torch RHS, batched",
         "make": lambda c: _torchode_plain(c["n"], c["h"], c["A"], args.mu, c["q"], c["ts"], args),
         "loop": False},
        {"key": "numpy-loop", "solver": "plain solve_ivp loop (RK45), numpy matrix RHS",
         "make": lambda c: _numpy_loop(c["M"], c["ts"], args), "loop": True},
        {"key": "lib-scipy", "solver": 'simulate(backend="scipy", method="RK45") (a loop)',
         "make": lambda c: _library(c["dyn"], c["ts"], args, "scipy", "RK45"), "loop": True},
    ]


def bench_setting(label: str, args) -> Dict:
    player_dim, h, batch = SETTINGS[label]
    batch = args.batch or batch
    game, A = make_game(player_dim, h, args.seed)
    q = 2.0 / args.mu + args.mu
    dyn = Particle(game, Curl() + Magnetic(q) + Friction(args.mu))
    M = phase_matrix(h, A, args.mu, q)
    ts = np.linspace(0.0, args.horizon, args.saves)
    rng = np.random.default_rng(args.seed + 1)
    z0 = np.zeros((batch, dyn.dim))
    z0[:, : 2 * player_dim] = rng.uniform(-2.0, 2.0, (batch, 2 * player_dim))
    ref = reference(M, z0, ts)
    ctx = {"dyn": dyn, "ts": ts, "n": player_dim, "h": h, "A": A, "q": q, "M": M}
    rows, notes = [], []
    for spec in (s for s in solvers(label, args) if s["key"] in args.solvers):
        try:
            run = spec["make"](ctx)
        except ImportError as err:
            notes.append(f"{spec['solver']}: skipped ({err}; install the bench extra)")
            continue
        k = min(args.scipy_max, batch) if spec["loop"] else batch
        row = {"setting": label, "key": spec["key"], "solver": spec["solver"], "ics": batch,
               "timed_on": k, "times": []}
        t = time.perf_counter()
        # warm-up, not counted: jax compiles for the exact batch shape; the torch and
        # scipy solvers only need their first call (imports, caches) on a small batch
        run(z0[:k] if spec["key"] == "diffrax" else z0[:2])
        row["first_call_seconds"] = time.perf_counter() - t
        rows.append((row, run))
    for _ in range(args.repeats):  # interleaved: every solver once per repeat
        for row, run in rows:
            k = row["timed_on"]
            t = time.perf_counter()
            zs, work, ok = run(z0[:k])
            row["times"].append(time.perf_counter() - t)
            row.update(work=work, success=ok, max_abs_error=max_error(zs, ref[:, :k]))
    out = []
    for row, _ in rows:
        row["wall_seconds"] = median(row["times"])
        row["ms_per_trajectory"] = 1e3 * row["wall_seconds"] / row["timed_on"]
        out.append(row)
    per = {r["key"]: r["ms_per_trajectory"] for r in out}
    ratios = {}
    for mine in ("lib-torchdiffeq", "lib-torchode"):
        for peer in ("diffrax", "torchode"):
            if mine in per and peer in per:
                ratios[f"{peer} / {mine}"] = per[peer] / per[mine]
    if "lib-scipy" in per and "numpy-loop" in per:
        ratios["lib-scipy / numpy-loop"] = per["lib-scipy"] / per["numpy-loop"]
    return {"setting": label, "phase_dim": dyn.dim, "ics": batch, "rows": out,
            "ratios": ratios, "notes": notes}


# ---------------------------------------------------------------- report
def table(results: List[Dict]) -> str:
    header = ["setting", "solver", "ICs timed", "ms / trajectory (median)", "work / traj",
              "max abs err vs expm", "warm-up s", "repeats"]
    body = []
    for res in results:
        for r in res["rows"]:
            body.append([f"{res['setting']} ({res['ics']} ICs)", r["solver"], r["timed_on"],
                         f"{r['ms_per_trajectory']:.3g}", r["work"],
                         f"{r['max_abs_error']:.1e}", f"{r['first_call_seconds']:.2g}",
                         len(r["times"])])
    lines = [markdown_table(header, body), ""]
    for res in results:
        lines.append(f"Ratios, {res['setting']} (time per trajectory; > 1 means the "
                     f"denominator is faster): " + "; ".join(
                         f"{k} = {v:.2f}" for k, v in res["ratios"].items()))
        lines += [f"Note: {n}" for n in res["notes"]]
    return "\n".join(lines)


def plot(results: List[Dict]):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 3.8), squeeze=False)
    for ax, res in zip(axes[0], results):
        rows = res["rows"]
        ax.barh([r["solver"] for r in rows], [r["ms_per_trajectory"] for r in rows])
        ax.set_xscale("log")
        ax.set_xlabel("ms per trajectory (median; lower is faster)")
        ax.set_title(f"LEAD ODE, {res['setting']}, {res['ics']} ICs")
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def parse(argv: Optional[Sequence[str]]):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--games", default="2-D,100-D", help="comma-separated subset of 2-D,100-D")
    p.add_argument("--batch", type=positive_int, default=None,
                   help="initial conditions (default: 10^4 for 2-D, 10^3 for 100-D)")
    p.add_argument("--horizon", type=float, default=None, help="integrate over [0, T] (default 20)")
    p.add_argument("--saves", type=positive_int, default=11, help="save times, incl. 0 and T")
    p.add_argument("--mu", type=float, default=0.5, help="friction mu; q = 2/mu + mu")
    p.add_argument("--rtol", type=float, default=1e-7)
    p.add_argument("--atol", type=float, default=1e-9)
    p.add_argument("--scipy-max", type=positive_int, default=None,
                   help="initial conditions the solve_ivp loops are timed on (default 20)")
    p.add_argument("--solvers", default=",".join(SOLVER_KEYS),
                   help="comma-separated subset of %(default)s")
    args = p.parse_args(argv)
    args.solvers = [k.strip() for k in args.solvers.split(",") if k.strip()]
    if not args.solvers or any(k not in SOLVER_KEYS for k in args.solvers):
        p.error(f"--solvers must be a subset of {','.join(SOLVER_KEYS)}")
    games = [g.strip() for g in args.games.split(",") if g.strip()]
    bad = [g for g in games if g not in SETTINGS]
    if bad or not games:
        p.error(f"--games: unknown game {bad[0] if bad else ''!r}; valid: 2-D, 100-D")
    args.games = games
    if not (args.mu > 0 and args.rtol > 0 and args.atol > 0):
        p.error("--mu, --rtol and --atol must be positive")
    q = args.quick
    args.batch = args.batch or (16 if q else None)
    args.horizon = args.horizon if args.horizon is not None else (1.0 if q else 20.0)
    if not args.horizon > 0:
        p.error("--horizon must be positive")
    if args.saves < 2:
        p.error("--saves must be at least 2")
    args.scipy_max = args.scipy_max or (2 if q else 20)
    args.repeats = args.repeats or (1 if q else 3)
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    payload = run_header(NAME, argv, args, "cpu")
    results = [bench_setting(g, args) for g in args.games]
    finish_header(payload)
    payload.update(settings={k: v for k, v in vars(args).items() if k not in ("out",)},
                   results=results, rows=[r for res in results for r in res["rows"]])
    md = table(results)
    note = (f"\nLEAD ODE (eq. 10, mu = {args.mu}, q = 2/mu + mu) on eq. 13, t in "
            f"[0, {args.horizon}], {args.saves} save times, rtol = {args.rtol}, atol = "
            f"{args.atol}, float64, one thread (torch, numpy, XLA), {args.repeats} interleaved "
            f"repeats, medians; the loops are timed on {args.scipy_max} initial conditions."
            + (" Measured UNDER LOAD (other jobs on the machine)." if payload["under_load"] else ""))
    print(md + "\n" + note)
    write_outputs(args.out, NAME, payload, md + "\n" + note, plot(results))
    return payload


if __name__ == "__main__":
    main()
