"""torch.compile on torchode's step for the LEAD ODE: compile time, steady-state time, exactness.

Issue 16 asks whether compiling makes ``simulate(backend="torchode")`` fuse its per-step
tensor arithmetic the way diffrax's ``jax.jit`` does. This script measures it at the
issue's two settings (those of ``benchmarks/simulation_throughput.py``: LEAD eq. 10 on
eq. 13, 2-D with 10^4 initial conditions, 100-D with 10^3, dopri5, rtol 1e-7, atol 1e-9,
float64, one thread). Both solvers are torchode's own ``AutoDiffAdjoint`` loop with
``Dopri5`` and ``IntegralController`` on the library's closed-form field; the compiled one
has ``torch.compile(dynamic=False)`` applied to the instance's ``step`` (and, with
``--parts``, to the controller's ``adapt_step_size`` and the interpolation builder). The
right-hand side freezes diverged states with a ``torch.where`` (the eager backend's
branch on one dot product would break the graph), so step and controller trace as one
graph each (``fullgraph=True``). Nothing of torchode is copied or reimplemented.

Reported per setting: the first compiled call (tracing, inductor's C++ compile and one
solve; ``--fresh-cache`` starts inductor from an empty cache directory, as on a user's
first run), eager and compiled solve time (process time, interleaved, medians) and the
largest difference between the two solutions. Run
``python benchmarks/torchode_compile.py --out DIR`` (``--quick``: a small batch, t in [0, 1]).
"""
from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, Optional, Sequence  # noqa: E402

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._common import (base_parser, finish_header, markdown_table,  # noqa: E402
                                median, run_header, write_outputs)
from benchmarks.simulation_throughput import SETTINGS, make_game  # noqa: E402
from integrators.simulate import _stage_sum_order  # noqa: E402
from mechanics import Curl, Friction, Magnetic, Particle  # noqa: E402

NAME = "torchode_compile"
PARTS = ("step", "controller", "interpolation")


def _solver(rhs, parts, args):
    """torchode's Dopri5 solve, with the named parts compiled on these instances."""
    import torchode as to
    term = to.ODETerm(rhs, with_stats=False)
    step = to.Dopri5(term=term)
    ctrl = to.IntegralController(atol=args.atol, rtol=args.rtol, term=term)
    if "step" in parts:
        step.step = torch.compile(step.step, dynamic=False, fullgraph=True)
    if "controller" in parts:
        ctrl.adapt_step_size = torch.compile(ctrl.adapt_step_size, dynamic=False,
                                             fullgraph=True)
    if "interpolation" in parts:
        step.build_interpolation = torch.compile(step.build_interpolation, dynamic=False)
    return to.AutoDiffAdjoint(step, ctrl)


def bench_setting(label: str, args) -> Dict:
    import torchode as to
    player_dim, h, batch = SETTINGS[label]
    batch = args.batch or batch
    game, _ = make_game(player_dim, h, args.seed)
    mu = args.mu
    dyn = Particle(game, Curl() + Magnetic(2.0 / mu + mu) + Friction(mu))
    rng = np.random.default_rng(args.seed + 1)
    z0 = np.zeros((batch, dyn.dim))
    z0[:, : 2 * player_dim] = rng.uniform(-2.0, 2.0, (batch, 2 * player_dim))
    z0 = torch.as_tensor(z0)
    t_eval = torch.linspace(0.0, args.horizon, args.saves, dtype=torch.float64).expand(batch, -1)
    fast, thr2 = dyn.fast_field().resolve(z0), 1e16  # simulate's default threshold 1e8

    def rhs(t, z):
        return torch.where((z * z).sum(-1, keepdim=True) <= thr2, fast(z), 0.0)

    solvers = {"eager": _solver(rhs, (), args), "compiled": _solver(rhs, args.parts, args)}

    def solve(key):
        with _stage_sum_order(z0):
            return solvers[key].solve(to.InitialValueProblem(y0=z0, t_eval=t_eval))

    t = time.perf_counter()
    compiled = solve("compiled")
    first = time.perf_counter() - t
    eager = solve("eager")
    times = {"eager": [], "compiled": []}
    for _ in range(args.repeats):
        for key in times:
            t = time.process_time()
            solve(key)
            times[key].append(time.process_time() - t)
    e, c = median(times["eager"]), median(times["compiled"])
    return {"setting": label, "ics": batch, "parts": "+".join(args.parts),
            "first_compiled_call_seconds": first, "eager_seconds": e, "compiled_seconds": c,
            "speedup": e / c, "times": times, "steps": int(eager.stats["n_steps"].max()),
            "same_steps": bool(torch.equal(eager.stats["n_steps"], compiled.stats["n_steps"])),
            "max_abs_difference": float((compiled.ys - eager.ys).abs().max()),
            "success": bool((compiled.status == 0).all() and (eager.status == 0).all())}


def parse(argv: Optional[Sequence[str]]):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--games", default="2-D,100-D", help="comma-separated subset of 2-D,100-D")
    p.add_argument("--parts", default="step",
                   help=f"comma-separated subset of {','.join(PARTS)} to compile")
    p.add_argument("--batch", type=int, default=None, help="initial conditions")
    p.add_argument("--horizon", type=float, default=None, help="t in [0, T] (default 20)")
    p.add_argument("--saves", type=int, default=11)
    p.add_argument("--mu", type=float, default=0.5)
    p.add_argument("--rtol", type=float, default=1e-7)
    p.add_argument("--atol", type=float, default=1e-9)
    p.add_argument("--fresh-cache", action="store_true",
                   help="compile into an empty inductor cache (a user's first run)")
    args = p.parse_args(argv)
    args.games = [g.strip() for g in args.games.split(",") if g.strip()]
    if not args.games or any(g not in SETTINGS for g in args.games):
        p.error("--games must be a subset of 2-D,100-D")
    args.parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    if not args.parts or any(s not in PARTS for s in args.parts):
        p.error(f"--parts must be a subset of {','.join(PARTS)}")
    args.batch = args.batch or (16 if args.quick else None)
    args.horizon = args.horizon or (1.0 if args.quick else 20.0)
    args.repeats = args.repeats or (1 if args.quick else 3)
    if (args.batch is not None and args.batch < 1) or args.saves < 2 or not args.horizon > 0:
        p.error("--batch must be positive, --saves at least 2, --horizon positive")
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    try:
        import torchode  # noqa: F401
    except ImportError:
        raise SystemExit("torchode is not installed (pip install -e '.[bench]')") from None
    torch.set_num_threads(args.threads)
    if args.fresh_cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
    payload = run_header(NAME, argv, args, "cpu")
    rows = [bench_setting(g, args) for g in args.games]
    finish_header(payload)
    payload.update(settings={k: v for k, v in vars(args).items() if k != "out"}, rows=rows)
    header = ["setting", "compiled", "first compiled call s", "eager s (median)",
              "compiled s (median)", "eager / compiled", "steps", "max |compiled - eager|"]
    body = [[f"{r['setting']} ({r['ics']} ICs)", r["parts"],
             f"{r['first_compiled_call_seconds']:.1f}", f"{r['eager_seconds']:.3g}",
             f"{r['compiled_seconds']:.3g}", f"{r['speedup']:.2f}", r["steps"],
             f"{r['max_abs_difference']:.1e}"] for r in rows]
    note = (f"\nt in [0, {args.horizon}], dopri5, rtol {args.rtol}, atol {args.atol}, float64, "
            f"{args.threads} thread(s), process time, {args.repeats} interleaved repeats; "
            f"inductor cache: {'fresh' if args.fresh_cache else 'as found'}."
            + (" Measured UNDER LOAD." if payload["under_load"] else ""))
    md = markdown_table(header, body) + "\n" + note
    print(md)
    write_outputs(args.out, NAME, payload, md)
    return payload


if __name__ == "__main__":
    main()
