"""Shared plumbing of the benchmark scripts: arguments, timing, machine facts, output.

Every script prints a markdown table, writes ``<name>.json``, ``<name>.md`` and
``<name>.png`` into ``--out DIR`` (required: a directory the user names; the reference
results under ``benchmarks/results/`` change only when named on purpose), all through a
temporary file and a rename so an interrupted run leaves no half-written file. A run says
at its start how long the full version takes, names every file it writes, and reports its
duration at the end (on stderr).

Timing rules (machines here are noisy and shared): methods are interleaved inside
each repeat, every figure is the median over repeats, and each speed figure is a
ratio to a baseline measured in the same run. The load average is recorded before
and after, so a table measured under load says so.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from mechanics.utils.atomic import atomic_write_bytes  # noqa: E402
from mechanics.utils.figures import save_figure  # noqa: E402

#: where the committed reference results live (regenerate with ``--out benchmarks/results``)
REFERENCE_OUT = Path(__file__).resolve().parent / "results"
#: how long each full run took on the development machine (benchmarks/README.md)
FULL_RUN = {"simulation_throughput": "about 10 min", "cost_per_iteration": "about 14 min",
            "derivative_passes": "about 30 s", "derived_vs_handwritten": "about 30 s",
            "iterations_to_converge": "about 5 min"}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def int_list(text: str) -> List[int]:
    """A comma-separated list of positive integers (``64,256,1024``)."""
    return [positive_int(t) for t in text.split(",") if t.strip()]


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="a small version (seconds): tiny sizes, one repeat; for smoke tests")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output directory for the JSON, markdown and plot (created if missing; "
                        f"the committed reference results are in {REFERENCE_OUT.parent.name}/"
                        f"{REFERENCE_OUT.name}/, name it to regenerate them)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch.set_num_threads (default 1: the machine is shared; stable numbers)")
    p.add_argument("--repeats", type=positive_int, default=None,
                   help="timing repeats; the median is reported")
    p.add_argument("--seed", type=int, default=0)
    return p


def parse_modes(p: argparse.ArgumentParser, args, modes: Sequence[str]) -> None:
    """``args.modes`` (comma-separated text) as a list, each one of ``modes``."""
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or any(m not in modes for m in args.modes):
        p.error(f"--modes must be a subset of {','.join(modes)}")


def check_device(p: argparse.ArgumentParser, args) -> None:
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda, but no CUDA device is available")


def gan_defaults(args, widths: Sequence[int], steps: int, quick_steps: int = 1) -> None:
    """Fill unset ``--widths/--steps/--repeats`` of a GAN benchmark (``--quick``: width 16,
    one repeat, batch at most 16)."""
    q = args.quick
    args.widths = args.widths or ([16] if q else list(widths))
    args.steps = args.steps or (quick_steps if q else steps)
    args.repeats = args.repeats or (1 if q else 3)
    if q:
        args.batch = min(args.batch, 16)


def machine_info(device: str = "cpu") -> Dict:
    """Facts a reader needs to judge a timing: versions, threads, cores, load."""
    info = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(torch.device(device))
    return info


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        return float("nan")


def under_load(load_before: float, load_after: float, cores: int) -> bool:
    """True when other work competed for the cores during the run."""
    return max(load_before, load_after) > 0.75 * cores + 0.5


def sync(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], device="cpu") -> float:
    """Wall seconds of one call of ``fn`` (synchronised on CUDA)."""
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def write_outputs(out: Path, name: str, payload: Dict, table: str, fig=None) -> Dict[str, Path]:
    """Write ``name.json``, ``name.md`` (and ``name.png``) atomically into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{name}.json", "md": out / f"{name}.md"}
    atomic_write_bytes(paths["json"], (json.dumps(payload, indent=2, default=_jsonable)
                                       + "\n").encode())
    say(f"wrote {paths['json']}")
    atomic_write_bytes(paths["md"], (table + "\n").encode())
    say(f"wrote {paths['md']}")
    if fig is not None:
        paths["png"] = out / f"{name}.png"
        save_figure(fig, paths["png"])
        say(f"wrote {paths['png']}")
    return paths


def _jsonable(v):
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, torch.Tensor):
        return v.tolist()
    if hasattr(v, "item"):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def run_header(script: str, argv: Sequence[str], args, device: str = "cpu") -> Dict:
    """Apply ``--threads`` and the seed; return the common part of the JSON payload."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    check_out(args.out)
    length = ("quick run (seconds)" if args.quick else
              f"full run, {FULL_RUN.get(script, 'minutes')} on 2 CPU cores (--quick: seconds)")
    say(f"{script}: {length}; output to {args.out}")
    return {"command": " ".join(["python", f"benchmarks/{script}.py", *argv]),
            "quick": bool(args.quick), "machine": machine_info(device),
            "load_before": load_average(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "_t0": time.perf_counter()}


def check_out(out: Path) -> None:
    """Refuse an unusable ``--out`` before measuring anything."""
    from gamemech.cli.common import CLIError, check_output_dir
    try:
        check_output_dir(out)
    except CLIError as err:
        say(f"error: {err}")
        raise SystemExit(2) from None


def finish_header(payload: Dict) -> None:
    payload["seconds"] = round(time.perf_counter() - payload.pop("_t0", time.perf_counter()), 1)
    say(f"measured in {payload['seconds']} s")
    payload["load_after"] = load_average()
    payload["under_load"] = under_load(payload["load_before"], payload["load_after"],
                                       payload["machine"]["cpu_count"] or 1)
