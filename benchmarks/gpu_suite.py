"""The GPU suite: everything this library should measure the day a CUDA device is lent, in
one command that keeps to a time budget (``--budget-seconds``, default 480: 8 minutes).

    python benchmarks/gpu_suite.py --out DIR            # needs CUDA
    python benchmarks/gpu_suite.py --out DIR --smoke    # every part on CPU, toy sizes (< 2 min)

The budget is enforced, not estimated: the fixed parts run first, each stopped (and
recorded as failed) when the budget is spent; App. H then gets the time left less a safety
margin (``SAFETY_SECONDS``) and runs seeds while the next one is expected to fit; every
part but the tests (a pytest subprocess with a timeout) runs in a child process that is
killed at the budget's end. ``DIR/gpu_suite.json`` records the budget, each part's wall
time and the total.

Parts, in the order they run (each writes its result into ``DIR/gpu_suite.json``; a part
that fails is recorded with its error and the others still run; the exit status is 1 when
any part failed):

1. ``cuda_tests``: the test functions whose name contains ``cuda`` in every test file that
   checks ``torch.cuda.is_available()`` (CUDA against CPU of each optimizer, ...), run by
   pytest in a subprocess (timeout ``--tests-timeout``, at most the time left); pass / fail
   / skip counts (``DIR/cuda_tests.xml``).
2. ``cost``: LEAD-Adam's cost per iteration as a ratio to alternating Adam at widths 256,
   1024 and 2000, both measured in one process, on CUDA
   (``benchmarks/cost_per_iteration.py``, its JSON in ``DIR/cost_per_iteration.json``).
3. ``simulation``: one batched ``integrators.simulate`` (torchdiffeq dopri5, rtol 1e-7) of
   eq. 13's 2-D game under curl + magnetic + friction from 10^4 and 10^5 initial conditions,
   on CUDA and on the CPU, interleaved; the CPU/CUDA time ratio and the largest difference
   of the two results and of each against ``expm`` (scipy).
4. ``appH``: LEAD App. H at the paper's width 2000 with the official code's settings
   (``gans.presets`` ``lead-code``: 5001 iterations, batch 256, ...), LEAD-Adam,
   alternating Adam and simultaneous Adam (``adam``), all three per seed, seed after seed
   while the next seed's three runs are expected to fit in the time App. H was given
   (``--appH-seconds`` caps it further); per run modes covered, high-quality fraction,
   energy distance and seconds per iteration.

``--smoke`` runs the same code on the CPU at toy sizes (width 16, 20 iterations, 100 and
1000 initial conditions): a test runs it, so the suite is known to work before a GPU is
ever lent. No GPU was lent while it was written: docs/BENCHMARKS.md says so.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional, Sequence

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._common import (finish_header, load_average, machine_info, median,  # noqa: E402
                                sync, write_outputs)

NAME = "gpu_suite"
ROOT = Path(__file__).resolve().parent.parent
PARTS = ("cuda_tests", "cost", "simulation", "appH")    # the order they run: fixed parts first
APPH_OPTIMIZERS = ("lead-adam", "adam-alt", "adam")
#: seconds of the budget App. H leaves unused: its last seed's overrun of the prediction, the
#: child process's start and the report
SAFETY_SECONDS = 30.0


# ------------------------------------------------------------------------- settings
def sizes(smoke: bool) -> Dict:
    """What each part runs: the real sizes, or the smoke test's toy ones."""
    if smoke:
        return dict(device="cpu", appH_width=16, appH_iters=20, appH_eval_samples=500,
                    cost_widths="16,32", simulation_batches=(100, 1000), repeats=1)
    return dict(device="cuda", appH_width=2000, appH_iters=5001, appH_eval_samples=2500,
                cost_widths="256,1024,2000", simulation_batches=(10_000, 100_000), repeats=3)


# ---------------------------------------------------------------------------- parts
def cuda_test_files() -> List[Path]:
    return sorted(f for f in (ROOT / "tests").glob("test_*.py")
                  if "torch.cuda.is_available()" in f.read_text())


def part_cuda_tests(args, s: Dict) -> Dict:
    """pytest ``-k cuda`` over the files that test CUDA; counts from its JUnit XML."""
    xml = args.out / "cuda_tests.xml"
    files = [str(f.relative_to(ROOT)) for f in cuda_test_files()]
    cmd = [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
           "-k", "cuda", f"--junitxml={xml}", *files]
    timeout = min(args.tests_timeout, args.deadline - time.time())
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=max(timeout, 0.0))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if xml.is_file():
        suite = ET.parse(xml).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        counts = {k: int(suite.get(k, 0)) for k in counts}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    ok = proc.returncode in (0, 5) and not counts["failures"] and not counts["errors"]
    return {"ok": ok, "files": files, "returncode": proc.returncode, **counts,
            "tail": proc.stdout[-1500:] if not ok else proc.stdout.strip().splitlines()[-1:]}


def part_appH(args, s: Dict) -> Dict:
    """lead-code runs of every optimizer of ``APPH_OPTIMIZERS`` per seed, seed after seed
    while the next seed is expected (the last seed's time) to end by ``args.appH_deadline``;
    the first seed runs when any of App. H's time is left. After each seed the result so
    far goes to ``args.partial`` (what a killed child leaves)."""
    from gans.presets import config
    from gans.train import train
    runs, seed_seconds, seed = [], 0.0, 0
    while seed < args.appH_max_seeds and time.time() + seed_seconds < args.appH_deadline:
        t_seed = time.perf_counter()
        for opt in APPH_OPTIMIZERS:
            cfg = config("lead-code", optimizer=opt, width=s["appH_width"], iters=s["appH_iters"],
                         seed=seed, device=s["device"], progress=False,
                         eval_samples=s["appH_eval_samples"])
            r = train(cfg).summary
            runs.append({"optimizer": opt, "seed": seed,
                         **{k: r.get(k) for k in ("modes_covered", "hq_fraction", "energy_distance",
                                                  "diverged_at", "seconds_per_iter", "wall_seconds")}})
        seed_seconds = time.perf_counter() - t_seed
        seed += 1
        result = _appH_result(runs, seed, args, s)
        _write_part(args.partial, result)
    return _appH_result(runs, seed, args, s)


def _appH_result(runs: List[Dict], seeds: int, args, s: Dict) -> Dict:
    by = {}
    for opt in APPH_OPTIMIZERS:
        rs = [r for r in runs if r["optimizer"] == opt]
        by[opt] = {m: _spread([r[m] for r in rs if r[m] is not None])
                   for m in ("modes_covered", "hq_fraction", "energy_distance", "seconds_per_iter")}
    return {"ok": bool(runs), "width": s["appH_width"], "iters": s["appH_iters"],
            "seeds": seeds, "seconds_given": args.appH_given, "runs": runs, "by_optimizer": by}


def _spread(v) -> Optional[Dict]:
    return None if not v else {"mean": float(np.mean(v)), "min": float(np.min(v)),
                               "max": float(np.max(v)), "n": len(v)}


def part_cost(args, s: Dict) -> Dict:
    """benchmarks/cost_per_iteration.py for LEAD-Adam against alternating Adam."""
    from benchmarks import cost_per_iteration
    argv = ["--device", s["device"], "--widths", s["cost_widths"], "--methods", "lead-adam",
            "--no-flops", "--out", str(args.out)] + (["--quick"] if args.smoke else [])
    payload = cost_per_iteration.main(argv)
    rows = [{k: r.get(k) for k in ("method", "width", "mixed_mode", "ms", "ratio_to_adam_alt")}
            for r in payload["rows"]]
    return {"ok": bool(rows), "argv": argv, "rows": rows,
            "json": str(args.out / f"{cost_per_iteration.NAME}.json")}


def part_simulation(args, s: Dict) -> Dict:
    """Batched simulation on the suite's device against the same on the CPU."""
    from benchmarks.simulation_throughput import make_game, phase_matrix, reference
    from integrators import simulate
    from mechanics import Curl, Friction, Magnetic, Particle
    h, mu = 0.1, 1.0
    q = 2.0 / mu + mu
    game, A = make_game(1, h, seed=0)
    dyn = Particle(game, Curl() + Magnetic(q) + Friction(mu))
    ts_np = np.linspace(0.0, 2.0, 5)
    ts = torch.as_tensor(ts_np)
    M = phase_matrix(h, A, mu, q)
    devices = ["cpu", s["device"]]
    rows = []
    for B in s["simulation_batches"]:
        z0 = np.random.default_rng(1).standard_normal((B, dyn.dim))
        ref = reference(M, z0, ts_np)
        times = {d: [] for d in devices}
        result = {}
        for _ in range(s["repeats"]):
            for d in devices:               # interleaved
                z = torch.as_tensor(z0).to(d)
                sync(d)
                t = time.perf_counter()
                traj = simulate(dyn, z, ts, backend="torchdiffeq", method="dopri5",
                                rtol=1e-7, atol=1e-9)
                sync(d)
                times[d].append(time.perf_counter() - t)
                result[d] = (traj.zs.detach().cpu().numpy(), bool(traj.success), traj.stats["nfev"])
        cpu, dev = median(times["cpu"]), median(times[devices[1]])
        rows.append({"initial_conditions": B, "device": devices[1],
                     "seconds_cpu": cpu, "seconds_device": dev, "cpu_over_device": cpu / dev,
                     "success": all(r[1] for r in result.values()),
                     "nfev": {d: r[2] for d, r in result.items()},
                     "max_abs_device_vs_cpu": float(np.max(np.abs(result["cpu"][0] - result[devices[1]][0]))),
                     "max_abs_error_vs_expm": {d: float(np.max(np.abs(r[0] - ref))) for d, r in result.items()}})
    return {"ok": all(r["success"] for r in rows), "game": "eq. 13, 1-D players, h 0.1, A = [[1]]",
            "forces": f"curl + magnetic(q={q}) + friction(mu={mu})", "rows": rows}


RUNNERS = {"cuda_tests": part_cuda_tests, "appH": part_appH, "cost": part_cost,
           "simulation": part_simulation}
IN_PROCESS = ("cuda_tests",)     # a subprocess with a timeout already


# ---------------------------------------------------------------------- the budget
def _write_part(path: Optional[Path], result: Dict) -> None:
    if path is not None:
        from mechanics.utils.atomic import atomic_write_text
        atomic_write_text(path, json.dumps(result, default=str))


def _child(name: str, args, s: Dict) -> None:
    """A part in a child process: its result (or its error) into ``args.partial``."""
    try:
        r = RUNNERS[name](args, s)
    except Exception:  # noqa: BLE001 -- recorded as the part's error
        r = {"ok": False, "error": traceback.format_exc()}
    _write_part(args.partial, r)


def run_part(name: str, args, s: Dict) -> Dict:
    """Run one part within the time left (``args.deadline``, wall clock): the tests in this
    process, any other part in a child process killed at the deadline (a killed App. H
    keeps the seeds it finished)."""
    left = args.deadline - time.time()
    if left <= 0:
        return {"ok": False, "error": f"not run: the budget of {args.budget_seconds:g} s was spent"}
    if name in IN_PROCESS:
        try:
            return RUNNERS[name](args, s)
        except Exception:  # one broken part must not hide the others' figures
            return {"ok": False, "error": traceback.format_exc()}
    args.partial = args.out / f".{name}.part.json"
    args.partial.unlink(missing_ok=True)
    proc = multiprocessing.get_context("spawn").Process(target=_child, args=(name, args, s))
    proc.start()
    proc.join(max(args.deadline - time.time(), 0.0))
    killed = proc.is_alive()
    if killed:
        proc.kill()
        proc.join()
    r = json.loads(args.partial.read_text()) if args.partial.is_file() else {"ok": False}
    args.partial.unlink(missing_ok=True)
    if killed:
        r.update(ok=False, error=f"stopped at the end of the budget ({args.budget_seconds:g} s)")
    elif proc.exitcode != 0 and "error" not in r:
        r.update(ok=False, error=f"the child process exited with code {proc.exitcode}")
    return r


# ---------------------------------------------------------------------------- report
def summary_text(payload: Dict) -> str:
    lines = [f"# GPU suite ({'smoke, CPU' if payload['smoke'] else payload['machine'].get('cuda_device', 'CUDA')})", ""]
    b = payload["budget"]
    given = b["appH_seconds_given"]
    lines += [f"Budget {b['budget_seconds']:g} s (enforced)"
              + (f", used {b['total_seconds']:.1f} s" if "total_seconds" in b else "")
              + ("" if given is None else f"; App. H was given {given:.1f} s") + ".", ""]
    for name, r in payload["parts"].items():
        status = "ok" if r.get("ok") else "FAILED"
        lines.append(f"## {name}: {status} ({r.get('seconds', 0):.1f} s)")
        if "error" in r:
            lines.append("```\n" + r["error"][-1500:] + "\n```")
        elif name == "cuda_tests":
            lines.append(f"{r['passed']} passed, {r['skipped']} skipped, {r['failures']} failed, "
                         f"{r['errors']} errors ({', '.join(r['files'])})")
        elif name == "appH":
            lines.append(f"width {r['width']}, {r['iters']} iterations, {r['seeds']} seed(s) in "
                         f"the {r['seconds_given']:.0f} s it was given:")
            for opt, m in r["by_optimizer"].items():
                lines.append(f"- {opt}: " + "; ".join(
                    f"{k} {v['mean']:.3g} [{v['min']:.3g}, {v['max']:.3g}]" for k, v in m.items() if v))
        elif name == "cost":
            for row in r["rows"]:
                lines.append(f"- {row['method']} [{row['mixed_mode']}] width {row['width']}: "
                             f"{row['ratio_to_adam_alt']:.2f}x alternating Adam")
        elif name == "simulation":
            for row in r["rows"]:
                lines.append(f"- {row['initial_conditions']} ICs: CPU {row['seconds_cpu']:.3g} s, "
                             f"{row['device']} {row['seconds_device']:.3g} s "
                             f"(x{row['cpu_over_device']:.3g}); |device - CPU| "
                             f"{row['max_abs_device_vs_cpu']:.2g}")
        lines.append("")
    return "\n".join(lines)


def parse(argv: Optional[Sequence[str]]):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="directory for the JSON files")
    p.add_argument("--smoke", action="store_true", help="every part on CPU at toy sizes")
    p.add_argument("--parts", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    p.add_argument("--budget-seconds", type=float, default=480.0,
                   help="wall-clock budget of the whole suite, enforced (default 480 = 8 min): "
                        "the fixed parts first, App. H gets what is left less "
                        f"{SAFETY_SECONDS:g} s")
    p.add_argument("--appH-seconds", dest="appH_seconds", type=float, default=None,
                   help="at most this much of the time left for the App. H runs (default: all "
                        "of it)")
    p.add_argument("--appH-max-seeds", dest="appH_max_seeds", type=int, default=None,
                   help="at most this many seeds (default 10; smoke 1)")
    p.add_argument("--tests-timeout", type=float, default=150.0)
    args = p.parse_args(argv)
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    bad = [x for x in args.parts if x not in PARTS]
    if bad or not args.parts:
        p.error(f"--parts must be a subset of {','.join(PARTS)}")
    if not args.smoke and not torch.cuda.is_available():
        p.error("no CUDA device is available: run with --smoke (CPU, toy sizes) instead")
    if not args.budget_seconds > 0:
        p.error(f"--budget-seconds must be positive, got {args.budget_seconds:g}")
    args.parts = [x for x in PARTS if x in args.parts]       # fixed parts first, App. H last
    args.appH_max_seeds = args.appH_max_seeds or (1 if args.smoke else 10)
    args.partial = None
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    s = sizes(args.smoke)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"command": " ".join(["python", "benchmarks/gpu_suite.py", *argv]),
               "smoke": args.smoke, "sizes": {k: list(v) if isinstance(v, tuple) else v
                                             for k, v in s.items()},
               "machine": machine_info(s["device"]), "load_before": load_average(),
               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "parts": {}}
    t_start = time.perf_counter()
    args.deadline = time.time() + args.budget_seconds
    budget = payload["budget"] = {"budget_seconds": args.budget_seconds,
                                  "safety_seconds": SAFETY_SECONDS, "appH_seconds_given": None,
                                  "parts_seconds": {}}
    for name in args.parts:
        t = time.perf_counter()
        if name == "appH":        # what the fixed parts left, less the margin
            given = max(args.deadline - time.time() - SAFETY_SECONDS, 0.0)
            args.appH_given = round(given if args.appH_seconds is None
                                    else min(given, args.appH_seconds), 2)
            args.appH_deadline = time.time() + args.appH_given
            budget["appH_seconds_given"] = args.appH_given
        if name == "appH" and args.appH_given <= 0:
            r = {"ok": False, "error": f"not run: the fixed parts left less than the "
                                       f"{SAFETY_SECONDS:g} s safety margin of the "
                                       f"{args.budget_seconds:g} s budget"}
        else:
            r = run_part(name, args, s)
        r["seconds"] = budget["parts_seconds"][name] = round(time.perf_counter() - t, 2)
        payload["parts"][name] = r
        write_outputs(args.out, NAME, payload, summary_text(payload))  # incremental
    budget["total_seconds"] = round(time.perf_counter() - t_start, 2)
    payload["_t0"] = t_start
    finish_header(payload)
    payload["ok"] = all(r.get("ok") for r in payload["parts"].values())
    text = summary_text(payload)
    write_outputs(args.out, NAME, payload, text)
    print(text)
    return payload


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
