"""The GPU suite: everything this library should measure the day a CUDA device is lent, in
one command of at most ~8 minutes on one GPU.

    python benchmarks/gpu_suite.py --out DIR            # needs CUDA
    python benchmarks/gpu_suite.py --out DIR --smoke    # every part on CPU, toy sizes (< 2 min)

Parts (each writes its result into ``DIR/gpu_suite.json``; a part that fails is recorded
with its error and the others still run; the exit status is 1 when any part failed):

1. ``cuda_tests``: the test functions whose name contains ``cuda`` in every test file that
   checks ``torch.cuda.is_available()`` (CUDA against CPU of each optimizer, ...), run by
   pytest in a subprocess; pass / fail / skip counts (``DIR/cuda_tests.xml``).
2. ``appH``: LEAD App. H at the paper's width 2000 with the official code's settings
   (``gans.presets`` ``lead-code``: 5001 iterations, batch 256, ...), LEAD-Adam and
   alternating Adam, seed after seed while the next pair of runs is expected to fit in
   ``--appH-seconds``; per run modes covered, high-quality fraction, energy distance and
   seconds per iteration.
3. ``cost``: LEAD-Adam's cost per iteration as a ratio to alternating Adam at widths 256,
   1024 and 2000, both measured in this process, on CUDA
   (``benchmarks/cost_per_iteration.py``, its JSON in ``DIR/cost_per_iteration.json``).
4. ``simulation``: one batched ``integrators.simulate`` (torchdiffeq dopri5, rtol 1e-7) of
   eq. 13's 2-D game under curl + magnetic + friction from 10^4 and 10^5 initial conditions,
   on CUDA and on the CPU, interleaved; the CPU/CUDA time ratio and the largest difference
   of the two results and of each against ``expm`` (scipy).

``--smoke`` runs the same code on the CPU at toy sizes (width 16, 20 iterations, 100 and
1000 initial conditions): a test runs it, so the suite is known to work before a GPU is
ever lent. No GPU was lent while it was written: docs/BENCHMARKS.md says so.
"""
from __future__ import annotations

import argparse
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
PARTS = ("cuda_tests", "appH", "cost", "simulation")
APPH_OPTIMIZERS = ("lead-adam", "adam-alt")


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
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.tests_timeout)
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
    """lead-code runs, LEAD-Adam and alternating Adam per seed, while the next pair fits."""
    from gans.presets import config
    from gans.train import train
    runs, t0, pair_seconds, seed = [], time.perf_counter(), None, 0
    while seed < args.appH_max_seeds:
        elapsed = time.perf_counter() - t0
        if pair_seconds is not None and elapsed + pair_seconds > args.appH_seconds:
            break
        t_pair = time.perf_counter()
        for opt in APPH_OPTIMIZERS:
            cfg = config("lead-code", optimizer=opt, width=s["appH_width"], iters=s["appH_iters"],
                         seed=seed, device=s["device"], progress=False,
                         eval_samples=s["appH_eval_samples"])
            r = train(cfg).summary
            runs.append({"optimizer": opt, "seed": seed,
                         **{k: r.get(k) for k in ("modes_covered", "hq_fraction", "energy_distance",
                                                  "diverged_at", "seconds_per_iter", "wall_seconds")}})
        pair_seconds = time.perf_counter() - t_pair
        seed += 1
    by = {}
    for opt in APPH_OPTIMIZERS:
        rs = [r for r in runs if r["optimizer"] == opt]
        by[opt] = {m: _spread([r[m] for r in rs if r[m] is not None])
                   for m in ("modes_covered", "hq_fraction", "energy_distance", "seconds_per_iter")}
    return {"ok": bool(runs), "width": s["appH_width"], "iters": s["appH_iters"],
            "seeds": seed, "budget_seconds": args.appH_seconds, "runs": runs, "by_optimizer": by}


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


# ---------------------------------------------------------------------------- report
def summary_text(payload: Dict) -> str:
    lines = [f"# GPU suite ({'smoke, CPU' if payload['smoke'] else payload['machine'].get('cuda_device', 'CUDA')})", ""]
    for name, r in payload["parts"].items():
        status = "ok" if r.get("ok") else "FAILED"
        lines.append(f"## {name}: {status} ({r.get('seconds', 0):.1f} s)")
        if "error" in r:
            lines.append("```\n" + r["error"][-1500:] + "\n```")
        elif name == "cuda_tests":
            lines.append(f"{r['passed']} passed, {r['skipped']} skipped, {r['failures']} failed, "
                         f"{r['errors']} errors ({', '.join(r['files'])})")
        elif name == "appH":
            lines.append(f"width {r['width']}, {r['iters']} iterations, {r['seeds']} seed(s):")
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
    p.add_argument("--appH-seconds", dest="appH_seconds", type=float, default=None,
                   help="time for the App. H runs (default 240; smoke 20)")
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
    args.appH_seconds = args.appH_seconds or (20.0 if args.smoke else 240.0)
    args.appH_max_seeds = args.appH_max_seeds or (1 if args.smoke else 10)
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
    for name in args.parts:
        t = time.perf_counter()
        try:
            r = RUNNERS[name](args, s)
        except Exception:  # one broken part must not hide the others' figures
            r = {"ok": False, "error": traceback.format_exc()}
        r["seconds"] = round(time.perf_counter() - t, 2)
        payload["parts"][name] = r
        write_outputs(args.out, NAME, payload, summary_text(payload))  # incremental
    finish_header(payload)
    payload["ok"] = all(r.get("ok") for r in payload["parts"].values())
    text = summary_text(payload)
    write_outputs(args.out, NAME, payload, text)
    print(text)
    return payload


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
