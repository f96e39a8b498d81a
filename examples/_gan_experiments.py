"""Shared machinery of the GAN experiment scripts (``gan_appH.py``, ``gan_digits.py``,
``gan_derived.py``): a resumable run queue whose results are appended one JSON line per
finished run (partial results survive an interrupted session), and the statistics of the
tables -- mean, a 95% bootstrap interval and a two-sided Mann-Whitney U test against a
reference optimizer, per metric -- and the splicing of a table into docs/RESULTS.md
(``--results-md``)."""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import torch


def machine() -> str:
    """The machine a table ran on, in words."""
    dev = (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs "
            f"({torch.get_num_threads()} torch thread(s) used), {dev}, torch {torch.__version__}")


def queue_arguments(description: str, out: str, seeds: int, iters: int) -> argparse.ArgumentParser:
    """A parser with the options every experiment script shares: where the results go,
    which seeds, how long, how often to evaluate, report only, and the reversed queue
    for a second process on the same ``--out``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default=out)
    p.add_argument("--seeds", type=int, default=seeds, help="seeds FIRST..FIRST+N-1")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--iters", type=int, default=iters)
    p.add_argument("--eval-every", type=int, default=500,
                   help="log the metrics every N iterations")
    p.add_argument("--report-only", action="store_true",
                   help="only regenerate the tables from the recorded runs")
    p.add_argument("--reverse", action="store_true",
                   help="work through the jobs from the last (a second process on the same OUT)")
    p.add_argument("--results-md", metavar="PATH", default=None,
                   help="also write the report (the text of OUT/table.md) into the markdown "
                        "file PATH, between its lines '<!-- generated: NAME begin -->' and "
                        "'<!-- generated: NAME end -->' (default: PATH is not touched)")
    return p


def _block(md_path, name: str) -> tuple:
    """``(lines, begin, end)``: the lines of the markdown file ``md_path`` and the indices
    of its marker lines ``<!-- generated: NAME begin -->`` and ``... end -->``. ``ValueError``
    naming the file and the marker when one is missing, appears more than once, or the end
    comes before the begin."""
    path = Path(md_path)
    lines = path.read_text().splitlines(keepends=True)
    at = []
    for marker in (f"<!-- generated: {name} begin -->", f"<!-- generated: {name} end -->"):
        hits = [i for i, line in enumerate(lines) if line.strip() == marker]
        if len(hits) != 1:
            raise ValueError(f"{path}: the marker line {marker!r} appears {len(hits)} times "
                             "(it must appear exactly once)")
        at.append(hits[0])
    if at[1] < at[0]:
        raise ValueError(f"{path}: the marker line '<!-- generated: {name} end -->' comes "
                         f"before '<!-- generated: {name} begin -->'")
    return lines, at[0], at[1]


def splice_block(md_path, name: str, text: str) -> None:
    """Replace the lines between the marker lines ``<!-- generated: NAME begin -->`` and
    ``<!-- generated: NAME end -->`` of the markdown file ``md_path`` by ``text``; the rest
    of the file is kept byte for byte. The file is rewritten through a temporary file and a
    rename; on a missing, repeated or misordered marker (``ValueError`` naming the file and
    the marker, :func:`_block`) nothing is written."""
    from mechanics.utils.atomic import atomic_write_text
    lines, begin, end = _block(md_path, name)
    body = text if text.endswith("\n") else text + "\n"
    atomic_write_text(md_path, "".join(lines[:begin + 1]) + body + "".join(lines[end:]))


def results_md(parser: argparse.ArgumentParser, path, name: str, text: str | None = None) -> None:
    """``--results-md PATH``: splice ``text`` into PATH's block ``name``
    (:func:`splice_block`); with ``text=None`` only check that PATH has the block (before
    any training). Nothing to do without PATH; a missing file or marker is a usage error
    (exit 2)."""
    if path is None:
        return
    try:
        if text is None:
            _block(path, name)
        else:
            splice_block(path, name, text)
    except (OSError, ValueError) as err:
        parser.error(f"--results-md: {err}")


def load_runs(path: Path) -> list:
    """The finished runs recorded in the JSON-lines file ``path``."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_run(path: Path, record: dict) -> None:
    """Append one run's record as one line (flushed and synced: it survives a kill)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _done(results: Path, key) -> set:
    return {json.dumps(key({k: r[k] for k in r}), sort_keys=True) for r in load_runs(results)}


def _claim(results: Path, job_key: str) -> Path | None:
    """Claim a job for this process (a file created exclusively next to ``results``; a
    claim whose process has died is taken over). ``None`` if another live process has it."""
    import hashlib
    d = results.parent / ".claims"
    d.mkdir(parents=True, exist_ok=True)
    path = d / (hashlib.sha1(job_key.encode()).hexdigest()[:16] + ".pid")
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(path.read_text() or 0)
                os.kill(pid, 0)                       # alive: the job is theirs
                return None
            except (ValueError, ProcessLookupError):
                path.unlink(missing_ok=True)          # a dead claim: take it over
                continue
            except PermissionError:
                return None
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        return path
    return None


def run_queue(jobs, results: Path, run_one, key=None) -> list:
    """Run every job of ``jobs`` (dicts) not yet in ``results`` (matched on ``key``, by
    default the job's own fields), in order; ``run_one(job) -> dict`` is appended with the
    job's fields as it finishes.
    Several processes may work through one queue at once (e.g. one per core, one with the
    job list reversed): each job is claimed before it runs and the results are re-read
    before each job, so no job runs twice."""
    jobs = list(jobs)
    if key is None:        # a record matches a job when it has the job's fields and values
        fields = sorted({k for j in jobs for k in j})
        key = lambda j: {k: j.get(k) for k in fields}   # noqa: E731
    for job in jobs:
        job_key = json.dumps(key(job), sort_keys=True)
        if job_key in _done(results, key):
            continue
        claim = _claim(results, job_key)
        if claim is None:
            continue
        try:
            if job_key in _done(results, key):        # finished while we were claiming
                continue
            t0 = time.perf_counter()
            record = {**job, **run_one(job), "wall_seconds": round(time.perf_counter() - t0, 2)}
            append_run(results, record)
        finally:
            claim.unlink(missing_ok=True)
        print(" ".join(f"{k}={record[k]}" for k in job), "->",
              ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in record.items() if k not in job and not isinstance(v, (dict, list))),
              flush=True)
    return load_runs(results)


def bootstrap_interval(values, level: float = 0.95, n_boot: int = 10_000, seed: int = 0):
    """Percentile bootstrap interval of the mean (``(nan, nan)`` for fewer than 2 values)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def mann_whitney(a, b) -> float:
    """Two-sided Mann-Whitney U p-value (``nan`` when a side has no values or all values
    of both sides are equal)."""
    from scipy.stats import mannwhitneyu
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0 or np.unique(np.concatenate([a, b])).size == 1:
        return float("nan")
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def summarize(runs: list, group: str, metrics: dict, reference: str) -> list:
    """One row per value of ``runs[i][group]``: n, and for each metric (name -> label)
    mean, 95% interval, and the Mann-Whitney p-value against the ``reference`` group.
    Runs whose metric is missing (diverged) are left out of that metric and counted."""
    names = list(dict.fromkeys(r[group] for r in runs))
    rows = []
    for name in names:
        rs = [r for r in runs if r[group] == name]
        row = {group: name, "n": len(rs), "metrics": {}}
        for m in metrics:
            vals = [r[m] for r in rs if r.get(m) is not None]
            ref = [r[m] for r in runs if r[group] == reference and r.get(m) is not None]
            lo, hi = bootstrap_interval(vals)
            row["metrics"][m] = {"mean": float(np.mean(vals)) if vals else float("nan"),
                                 "lo": lo, "hi": hi, "n": len(vals),
                                 "p_vs_ref": float("nan") if name == reference else mann_whitney(vals, ref)}
        rows.append(row)
    return rows


def markdown_table(rows: list, group: str, metrics: dict, reference: str) -> str:
    """The rows of :func:`summarize` as a markdown table: per metric ``mean [95% CI]`` and
    the Mann-Whitney p-value against ``reference``."""
    head = [group, "runs"] + list(metrics.values())
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [str(row[group]), str(row["n"])]
        for m in metrics:
            s = row["metrics"][m]
            miss = f" ({row['n'] - s['n']} missing)" if s["n"] < row["n"] else ""
            p = "" if row[group] == reference else f"; p = {s['p_vs_ref']:.2g}"
            cells.append(f"{s['mean']:.3g} [{s['lo']:.3g}, {s['hi']:.3g}]{p}{miss}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + (f"\n\nEach cell: mean [95% percentile-bootstrap interval of the mean]; "
                               f"p: two-sided Mann-Whitney U test against {reference}.")
