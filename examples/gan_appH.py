"""LEAD App. H at the official code's settings (``--preset lead-code``) on CPU: LEAD-Adam
against alternating and simultaneous Adam on the 8-Gaussians mixture, over widths and seeds.

Every (width, seed, optimizer) run is one ``gans.train.train`` call of the ``lead-code``
preset (5001 iterations, batch 256, ...; :mod:`gans.presets`) with only the MLP width
changed. Each finished run is appended to ``OUT/runs.jsonl`` (a rerun skips the runs
already there, so an interrupted session resumes), and its final samples to
``OUT/samples/``. The report -- ``OUT/table.md``, ``OUT/summary.json`` and one sample grid
per width ``OUT/samples_w<width>.png`` -- is rewritten from whatever runs exist: per
optimizer the mean, a 95% bootstrap interval and a two-sided Mann-Whitney U p-value
against LEAD-Adam of modes covered, high-quality fraction and the energy distance to real
samples (:func:`gans.metrics.energy_distance`).

The full protocol of docs/RESULTS.md (widths 256 and 512, 10 seeds, three optimizers):

    python examples/gan_appH.py --out docs/results/appH --widths 256 512 --seeds 10

``--report-only`` rewrites the report without training; ``--results-md docs/RESULTS.md``
also writes it into RESULTS.md between the markers ``<!-- generated: appH begin/end -->``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from _gan_experiments import (machine, markdown_table, run_queue, summarize, load_runs, queue_arguments,
                              results_md)

METRICS = {"modes_covered": "modes (of 8)", "hq_fraction": "high-quality fraction",
           "energy_distance": "energy distance",
           "energy_best": "lowest energy distance along training"}
REFERENCE = "lead-adam"
#: row order of each width's table (and of summary.json), whatever the order of runs.jsonl;
#: any other optimizer follows, in the order its runs first appear there
ROW_ORDER = ("lead-adam", "adam-alt", "adam")
N_SAMPLES = 1000


def run_one(job: dict, out: Path, iters: int, eval_every: int, overrides=None,
            tag: str | None = None) -> dict:
    """Train one ``lead-code`` run of ``job`` (width, seed, optimizer; ``overrides`` are
    further config fields), save its final samples as ``OUT/samples/w<width>_<tag>_s<seed>.npy``
    (``tag`` defaults to the optimizer) and return its metrics and resolved config (for an
    implicit derived member also its ``inner_iterations`` and ``unconverged_solves``)."""
    from gans.presets import config
    from gans.train import train
    cfg = config("lead-code", optimizer=job["optimizer"], width=job["width"], seed=job["seed"],
                 iters=iters, device="cpu", progress=False, eval_every=eval_every,
                 **(overrides or {}))
    res = train(cfg)
    s = res.summary
    G = res.G.eval()
    with torch.no_grad():
        z = torch.randn(N_SAMPLES, s["config"]["z_dim"], generator=torch.Generator().manual_seed(1234),
                        dtype=torch.float32)
        fake = G(z).numpy().astype(np.float32)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    np.save(out / "samples" / f"w{job['width']}_{tag or job['optimizer']}_s{job['seed']}.npy", fake)
    curve = [[h["iter"], h["energy_distance"]] for h in res.history if "energy_distance" in h]
    # an implicit derived member's inner solves (metrics.json's names; absent otherwise)
    solves = {k: v for k, v in (s.get("derived") or {}).items()
              if k in ("inner_iterations", "unconverged_solves")}
    return {"iters": s["iters"], "modes_covered": s.get("modes_covered"),
            "hq_fraction": s.get("hq_fraction"), "energy_distance": s.get("energy_distance"),
            "diverged_at": s["diverged_at"], "seconds_per_iter": s["seconds_per_iter"],
            "energy_curve": curve, **solves, "config": s["config"]}


def real_floor(n: int = 2500, draws: int = 10) -> dict:
    """Energy distance between two independent real samples of ``n`` (the noise floor)."""
    from gans.metrics import energy_distance
    from gans.presets import config, mixture_of
    mix = mixture_of(config("lead-code").resolved())
    g = torch.Generator().manual_seed(0)
    vals = [energy_distance(mix.sample(n, g), mix.sample(n, g)) for _ in range(draws)]
    return {"mean": float(np.mean(vals)), "max": float(np.max(vals)), "n": n, "draws": draws}


def sample_grid(runs: list, width: int, out: Path, optimizers, max_seeds: int = 5) -> Path | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mechanics.utils.figures import save_figure
    from gans.presets import config, mixture_of
    rs = [r for r in runs if r["width"] == width]
    seeds = sorted({r["seed"] for r in rs})[:max_seeds]
    if not seeds:
        return None
    mix = mixture_of(config("lead-code").resolved())
    real = mix.sample(N_SAMPLES, torch.Generator().manual_seed(1)).numpy()
    fig, axes = plt.subplots(len(optimizers), len(seeds), squeeze=False,
                             figsize=(2.2 * len(seeds), 2.2 * len(optimizers)))
    for i, opt in enumerate(optimizers):
        for j, seed in enumerate(seeds):
            ax = axes[i][j]
            ax.scatter(real[:, 0], real[:, 1], s=1, c="0.75")
            f = out / "samples" / f"w{width}_{opt}_s{seed}.npy"
            rec = [r for r in rs if r["optimizer"] == opt and r["seed"] == seed]
            if f.is_file() and rec:
                x = np.load(f)
                ax.scatter(x[:, 0], x[:, 1], s=1, c="C0")
                ed = rec[0]["energy_distance"]
                ax.set_title(f"{opt} s{seed}: {rec[0]['modes_covered']}/8, "
                             f"E {'n/a' if ed is None else f'{ed:.3f}'}", fontsize=7)
            ax.set_xlim(-2.2, 2.2)
            ax.set_ylim(-2.2, 2.2)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
    fig.suptitle(f"8-Gaussians, lead-code preset, width {width}: final samples (blue) "
                 "over real (grey)", fontsize=8)
    path = out / f"samples_w{width}.png"
    save_figure(fig, path)
    return path


def energy_curves(runs: list, width: int, out: Path, optimizers) -> Path:
    """Energy distance against iteration, one thin line per seed, one panel per optimizer."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mechanics.utils.figures import save_figure
    fig, axes = plt.subplots(1, len(optimizers), sharey=True, squeeze=False,
                             figsize=(3.2 * len(optimizers), 2.8))
    for ax, opt in zip(axes[0], optimizers):
        for r in runs:
            if r["width"] == width and r["optimizer"] == opt and r["energy_curve"]:
                it, e = zip(*r["energy_curve"])
                ax.plot(it, e, lw=1, label=f"s{r['seed']}")
        ax.set_yscale("log")
        ax.set_title(opt, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("energy distance to real", fontsize=8)
    fig.suptitle(f"8-Gaussians, lead-code preset, width {width}", fontsize=8)
    fig.tight_layout()
    path = out / f"energy_w{width}.png"
    save_figure(fig, path)
    return path


def in_row_order(rows: list) -> list:
    """The rows of :func:`summarize` in :data:`ROW_ORDER`, the others after them (stable)."""
    rank = {name: i for i, name in enumerate(ROW_ORDER)}
    return sorted(rows, key=lambda row: rank.get(row["optimizer"], len(rank)))


def report(out: Path, optimizers, command: str) -> str:
    from gans.report import write_json
    runs = load_runs(out / "runs.jsonl")
    for r in runs:   # the best point of the logged curve (every --eval-every iterations)
        vals = [e for _, e in r.get("energy_curve") or [] if e is not None]
        r["energy_best"] = min(vals) if vals else None
    floor = real_floor()
    parts = [f"Command: `{command}`  ", f"Machine: {machine()}  ",
             f"Energy distance between two independent real samples of {floor['n']} "
             f"(the noise floor): mean {floor['mean']:.2g}, max {floor['max']:.2g} over "
             f"{floor['draws']} draws.", ""]
    summary = {"floor": floor, "widths": {}}
    for width in sorted({r["width"] for r in runs}):
        rs = [r for r in runs if r["width"] == width]
        rows = in_row_order(summarize(rs, "optimizer", METRICS, REFERENCE))
        seeds = sorted({r["seed"] for r in rs})
        parts += [f"**Width {width}** ({len(rs)} runs, seeds {seeds}):", "",
                  markdown_table(rows, "optimizer", METRICS, REFERENCE), ""]
        diverged = [f"{r['optimizer']} s{r['seed']}" for r in rs if r["diverged_at"]]
        if diverged:
            parts += [f"Diverged: {', '.join(diverged)}", ""]
        summary["widths"][width] = rows
        sample_grid(runs, width, out, optimizers)
        energy_curves(runs, width, out, optimizers)
    text = "\n".join(parts)
    (out / "table.md").write_text(text + "\n")
    write_json(summary, out / "summary.json")   # NaN (the reference's p-value, 1-seed intervals) -> null
    return text


def main(argv=None):
    p = queue_arguments(__doc__.splitlines()[0], "docs/results/appH", seeds=10, iters=5001)
    p.add_argument("--widths", nargs="+", type=int, default=[256, 512])
    p.add_argument("--optimizers", nargs="+", default=["lead-adam", "adam-alt", "adam"])
    a = p.parse_args(argv)
    results_md(p, a.results_md, "appH")
    torch.set_num_threads(1)
    out = Path(a.out)
    if not a.report_only:
        jobs = [{"width": w, "seed": s, "optimizer": o} for w in a.widths
                for s in range(a.first_seed, a.first_seed + a.seeds) for o in a.optimizers]
        run_queue(jobs[::-1] if a.reverse else jobs, out / "runs.jsonl", lambda j: run_one(j, out, a.iters, a.eval_every),
                  key=lambda j: {k: j[k] for k in ("width", "seed", "optimizer")})
    text = report(out, a.optimizers, "python examples/gan_appH.py --out docs/results/appH "
                  "--widths 256 512 --seeds 10")
    print(text)
    results_md(p, a.results_md, "appH", text)


if __name__ == "__main__":
    main()
