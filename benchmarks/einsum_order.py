"""The contraction order of torchode's stage sums: why ``simulate(backend="torchode")`` solves
under opt_einsum's ``greedy`` strategy.

torchode forms each step's new state and error estimate with the three-operand einsum
``"b, s, sbf -> bf"`` (step sizes, Butcher weights, the seven Dopri5 stages). This script
times, at issue 16's two shapes (2-D: 10^4 x 4, 100-D: 1000 x 200; float64, one thread):

- that einsum alone, per call, under torch's own left-to-right order (opt_einsum off) and
  opt_einsum's ``auto`` (torch's default), ``greedy`` and ``optimal`` strategies, with the
  path each strategy picks;
- the same einsum on a grid of stage shapes (``--grid``, batch x features), which is where
  ``simulate`` switches between torch's order and ``greedy``
  (``integrators.simulate.STAGE_SUM_SEARCH_MIN`` elements per stage);
- a whole torchode Dopri5 solve of the LEAD ODE on a hand-written torch right-hand side
  (as in ``benchmarks/simulation_throughput.py``) under the same four settings, process
  time, interleaved, medians.

Run ``python benchmarks/einsum_order.py --out DIR`` (``--quick``: small and short).
"""
from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, Optional, Sequence  # noqa: E402

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._common import (base_parser, finish_header, markdown_table,  # noqa: E402
                                median, run_header, write_outputs)
from benchmarks.simulation_throughput import SETTINGS, _hand_written_torch_rhs, make_game  # noqa: E402

NAME = "einsum_order"
ORDERS = ("off", "auto", "greedy", "optimal")


def _flags(order: str):
    if order == "off":
        return torch.backends.opt_einsum.flags(enabled=False)
    return torch.backends.opt_einsum.flags(enabled=True, strategy=order)


def _path(order: str, shapes) -> str:
    if order == "off":
        return "left to right"
    import opt_einsum
    ops = [np.empty(s) for s in shapes]
    path = opt_einsum.contract_path("b,s,sbf->bf", *ops,
                                    optimize="optimal" if order == "auto" else order)[0]
    return " then ".join(f"{pair}" for pair in path)


def _per_call(dt, w, k, order: str, calls: int, repeats: int) -> float:
    with _flags(order):
        torch.einsum("b, s, sbf -> bf", dt, w, k)
        out = []
        for _ in range(repeats):
            t = time.process_time()
            for _ in range(calls):
                torch.einsum("b, s, sbf -> bf", dt, w, k)
            out.append((time.process_time() - t) / calls)
    return median(out)


def bench_grid(args) -> list:
    """Per-call time of the stage-sum einsum in each order on the ``--grid`` shapes."""
    from integrators.simulate import STAGE_SUM_SEARCH_MIN
    rows = []
    for batch, feats in args.grid:
        dt = torch.rand(batch, dtype=torch.float64)
        w = torch.rand(7, dtype=torch.float64)
        k = torch.randn(7, batch, feats, dtype=torch.float64)
        calls = max(3, min(args.calls, int(2e6 / (batch * feats))))
        us = {o: 1e6 * _per_call(dt, w, k, o, calls, args.repeats) for o in ("off", "greedy", "auto")}
        rows.append({"batch": batch, "features": feats, "us": us,
                     "simulate_uses": "greedy" if batch * feats >= STAGE_SUM_SEARCH_MIN else "off",
                     "fastest": min(us, key=us.get)})
    return rows


def bench_setting(label: str, args) -> Dict:
    import torchode as to
    player_dim, h, batch = SETTINGS[label]
    batch = args.batch or batch
    feats = 4 * player_dim
    g = torch.Generator().manual_seed(args.seed)
    dt = torch.rand(batch, generator=g, dtype=torch.float64)
    w = torch.rand(7, generator=g, dtype=torch.float64)
    k = torch.randn(7, batch, feats, generator=g, dtype=torch.float64)
    want = dt[:, None] * torch.tensordot(w, k, 1)
    rows = []
    for order in ORDERS:
        with _flags(order):
            got = torch.einsum("b, s, sbf -> bf", dt, w, k)
        rows.append({"setting": label, "order": order, "path": _path(order, (dt.shape, w.shape, k.shape)),
                     "einsum_us": 1e6 * _per_call(dt, w, k, order, args.calls, args.repeats),
                     "einsum_max_abs_err": float((got - want).abs().max()), "solve_times": []})

    game, A = make_game(player_dim, h, args.seed)
    mu = args.mu
    term = to.ODETerm(_hand_written_torch_rhs(player_dim, h, A, mu, 2.0 / mu + mu))
    solver = to.AutoDiffAdjoint(to.Dopri5(term=term),
                                to.IntegralController(atol=1e-9, rtol=1e-7, term=term))
    rng = np.random.default_rng(args.seed + 1)
    z0 = np.zeros((batch, feats))
    z0[:, : 2 * player_dim] = rng.uniform(-2.0, 2.0, (batch, 2 * player_dim))
    problem = to.InitialValueProblem(
        y0=torch.as_tensor(z0),
        t_eval=torch.linspace(0, args.horizon, 11, dtype=torch.float64).expand(batch, -1))
    for _ in range(args.repeats + 1):  # the first round warms up, not counted
        for row in rows:
            with _flags(row["order"]):
                t = time.process_time()
                solver.solve(problem)
                row["solve_times"].append(time.process_time() - t)
    for row in rows:
        row["solve_seconds"] = median(row["solve_times"][1:])
    base = next(r["solve_seconds"] for r in rows if r["order"] == "auto")
    for row in rows:
        row["solve_speed_vs_auto"] = base / row["solve_seconds"]
    return {"setting": label, "batch": batch, "features": feats, "rows": rows}


def parse(argv: Optional[Sequence[str]]):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--games", default="2-D,100-D", help="comma-separated subset of 2-D,100-D")
    p.add_argument("--batch", type=int, default=None, help="initial conditions")
    p.add_argument("--horizon", type=float, default=None, help="t in [0, T] (default 20)")
    p.add_argument("--calls", type=int, default=None, help="einsum calls per timing")
    p.add_argument("--mu", type=float, default=0.5)
    p.add_argument("--grid", default=None,
                   help="comma-separated BxF stage shapes for the einsum-only grid "
                        "(default: 16x4,1000x4,3000x4,10000x4,100x20,1000x20,10000x20,"
                        "1000x50,100x200,1000x200)")
    args = p.parse_args(argv)
    default_grid = ("16x4,100x20" if args.quick else
                    "16x4,1000x4,3000x4,10000x4,100x20,1000x20,10000x20,1000x50,100x200,1000x200")
    try:
        args.grid = [tuple(int(v) for v in cell.lower().split("x"))
                     for cell in (args.grid or default_grid).split(",") if cell.strip()]
    except ValueError:
        p.error("--grid: shapes are BxF with positive integers, e.g. 1000x4")
    if not args.grid or any(len(c) != 2 or min(c) < 1 for c in args.grid):
        p.error("--grid: shapes are BxF with positive integers, e.g. 1000x4")
    args.games = [s.strip() for s in args.games.split(",") if s.strip()]
    if not args.games or any(s not in SETTINGS for s in args.games):
        p.error("--games must be a subset of 2-D,100-D")
    args.batch = args.batch or (16 if args.quick else None)
    args.horizon = args.horizon or (1.0 if args.quick else 20.0)
    args.calls = args.calls or (5 if args.quick else 200)
    args.repeats = args.repeats or (1 if args.quick else 3)
    if (args.batch is not None and args.batch < 1) or args.calls < 1 or not args.horizon > 0:
        p.error("--batch and --calls must be positive, --horizon positive")
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    try:
        import opt_einsum  # noqa: F401
        import torchode  # noqa: F401
    except ImportError as err:
        raise SystemExit(f"{err.name} is not installed (pip install -e '.[bench]')") from None
    torch.set_num_threads(args.threads)
    payload = run_header(NAME, argv, args, "cpu")
    grid = bench_grid(args)
    results = [bench_setting(g, args) for g in args.games]
    finish_header(payload)
    payload.update(settings={k: v for k, v in vars(args).items() if k != "out"}, grid=grid,
                   results=results, rows=[r for res in results for r in res["rows"]])
    header = ["setting", "einsum order", "path (operand pairs)", "us per einsum (median)",
              "torchode solve s (median)", "solve speed vs auto"]
    body = [[f"{res['setting']} ({res['batch']} x {res['features']})", r["order"], r["path"],
             f"{r['einsum_us']:.0f}", f"{r['solve_seconds']:.3g}", f"{r['solve_speed_vs_auto']:.2f}"]
            for res in results for r in res["rows"]]
    note = (f"\n\"b, s, sbf -> bf\" with 7 stages, float64, {args.threads} thread(s), process "
            f"time, {args.repeats} repeats ({args.calls} calls each for the einsum); the solve "
            f"is torchode Dopri5 on the hand-written right-hand side, t in [0, {args.horizon}], "
            f"rtol 1e-7, atol 1e-9, orders interleaved."
            + (" Measured UNDER LOAD." if payload["under_load"] else ""))
    grid_md = markdown_table(
        ["stage shape (B x F)", "off (torch's order) us", "greedy us", "auto us", "fastest",
         "simulate uses"],
        [[f"{r['batch']} x {r['features']}", f"{r['us']['off']:.0f}", f"{r['us']['greedy']:.0f}",
          f"{r['us']['auto']:.0f}", r["fastest"], r["simulate_uses"]] for r in grid])
    md = markdown_table(header, body) + "\n\n" + grid_md + "\n" + note
    print(md)
    write_outputs(args.out, NAME, payload, md)
    return payload


if __name__ == "__main__":
    main()
