"""Digits (scikit-learn's 8x8 digits, resized to 32x32): LEAD-Adam against Adam with the
DCGAN-style models of LEAD Table 3 at a reduced width, over seeds, scored by digits-FID.

Every (seed, optimizer) run is one ``gans.train.train`` call: task ``digits``, model
``dcgan`` (``--width``; 256 gives Table 3's channels), App. I.2's optimizer settings (the
task defaults: lr 2e-4 / 1e-4, betas (0.5, 0.99), LEAD-Adam alpha 0 / 0.3, non-saturating
loss), batch 64, DCGAN initialisation N(0, 0.02). FID uses the features of the digits
classifier (:class:`gans.metrics.DigitsClassifier`, trained deterministically on the 1797
labelled digits, cached in ``OUT/classifier.pt``): **digits-FID**, comparable only between
runs of this package. Finished runs are appended to ``OUT/runs.jsonl`` (a rerun resumes);
``OUT/table.md`` (mean, 95% bootstrap interval, Mann-Whitney p-value against LEAD-Adam) and
the sample grid ``OUT/samples.png`` are rewritten from whatever runs exist;
``--results-md docs/RESULTS.md`` also writes the table into RESULTS.md between the markers
``<!-- generated: digits begin/end -->``.

The full protocol of docs/RESULTS.md:

    python examples/gan_digits.py --out docs/results/digits --seeds 5
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from _gan_experiments import (load_runs, machine, markdown_table, queue_arguments, results_md, run_queue,
                              summarize)

METRICS = {"fid": "digits-FID", "inception_score": "digits-IS"}
REFERENCE = "lead-adam"


def run_one(job: dict, out: Path, a) -> dict:
    from gans.train import TrainConfig, train
    cfg = TrainConfig(task="digits", model="dcgan", width=a.width, optimizer=job["optimizer"],
                      iters=a.iters, batch_size=a.batch_size, seed=job["seed"], device="cpu",
                      init="normal-0.02", progress=False, eval_every=a.eval_every,
                      eval_samples=a.eval_samples, fid_features="classifier",
                      classifier_cache=str(out / "classifier.pt"))
    res = train(cfg)
    s = res.summary
    G = res.G.eval()
    with torch.no_grad():
        z = torch.randn(64, s["config"]["z_dim"], generator=torch.Generator().manual_seed(1234),
                        dtype=torch.float32)
        imgs = G(z).numpy().astype(np.float16)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    np.save(out / "samples" / f"{job['optimizer']}_s{job['seed']}.npy", imgs)
    curve = [[h["iter"], h["fid"]] for h in res.history if h.get("fid") is not None]
    return {"iters": s["iters"], "width": a.width, "fid": s.get("fid"),
            "inception_score": s.get("inception_score"), "diverged_at": s["diverged_at"],
            "seconds_per_iter": s["seconds_per_iter"], "fid_curve": curve, "config": s["config"]}


def real_floor(out: Path) -> float:
    """digits-FID of one half of the real digits against the other (a floor for the table)."""
    from gans.data import load_digits_images
    from gans.metrics import cached_classifier, classifier_extractors, frechet_distance
    images, labels = load_digits_images(32)
    clf = cached_classifier(images, labels, out / "classifier.pt", input_size=8)
    feats, _ = classifier_extractors(clf)
    perm = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))
    half = images.shape[0] // 2
    return frechet_distance(feats, images[perm[:half]], images[perm[half:]])


def sample_grid(runs: list, out: Path, optimizers, max_seeds: int = 5) -> Path | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mechanics.utils.figures import save_figure
    from gans.report import image_grid
    seeds = sorted({r["seed"] for r in runs})[:max_seeds]
    if not seeds:
        return None
    fig, axes = plt.subplots(len(optimizers), len(seeds), squeeze=False,
                             figsize=(2.4 * len(seeds), 2.6 * len(optimizers)))
    for i, opt in enumerate(optimizers):
        for j, seed in enumerate(seeds):
            ax = axes[i][j]
            ax.axis("off")
            f = out / "samples" / f"{opt}_s{seed}.npy"
            rec = [r for r in runs if r["optimizer"] == opt and r["seed"] == seed]
            if f.is_file() and rec:
                x = torch.from_numpy(np.load(f).astype(np.float32))[:36]
                ax.imshow(image_grid(x, ncol=6), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                fid = rec[0]["fid"]
                ax.set_title(f"{opt} s{seed}: FID {'n/a' if fid is None else f'{fid:.2f}'}", fontsize=7)
    fig.suptitle("digits (32x32), DCGAN-style models: final samples", fontsize=8)
    path = out / "samples.png"
    save_figure(fig, path)
    return path


def report(out: Path, optimizers, command: str) -> str:
    from gans.report import write_json
    runs = load_runs(out / "runs.jsonl")
    parts = [f"Command: `{command}`  ", f"Machine: {machine()}  "]
    if runs:
        parts.append(f"digits-FID of one half of the real digits against the other: "
                     f"{real_floor(out):.3g}.")
        rows = summarize(runs, "optimizer", METRICS, REFERENCE)
        seeds = sorted({r["seed"] for r in runs})
        c = runs[0]
        parts += ["", f"{len(runs)} runs, seeds {seeds}, width {c['width']}, {c['iters']} "
                      f"iterations:", "", markdown_table(rows, "optimizer", METRICS, REFERENCE)]
        diverged = [f"{r['optimizer']} s{r['seed']}" for r in runs if r["diverged_at"]]
        if diverged:
            parts += ["", f"Diverged: {', '.join(diverged)}"]
        write_json(rows, out / "summary.json")   # NaN (p-value, 1-seed interval) -> null
        sample_grid(runs, out, optimizers)
    text = "\n".join(parts)
    (out / "table.md").write_text(text + "\n")
    return text


def main(argv=None):
    p = queue_arguments(__doc__.splitlines()[0], "docs/results/digits", seeds=5, iters=1000)
    p.add_argument("--optimizers", nargs="+", default=["lead-adam", "adam-alt"])
    p.add_argument("--width", type=int, default=16, help="DCGAN width (Table 3: 256)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-samples", type=int, default=1797)
    a = p.parse_args(argv)
    results_md(p, a.results_md, "digits")
    torch.set_num_threads(1)
    out = Path(a.out)
    if not a.report_only:
        jobs = [{"seed": s, "optimizer": o} for s in range(a.first_seed, a.first_seed + a.seeds)
                for o in a.optimizers]
        run_queue(jobs[::-1] if a.reverse else jobs, out / "runs.jsonl", lambda j: run_one(j, out, a))
    text = report(out, a.optimizers, "python examples/gan_digits.py --out docs/results/digits "
                  f"--seeds 5 --iters {a.iters} --width {a.width}")
    print(text)
    results_md(p, a.results_md, "digits", text)


if __name__ == "__main__":
    main()
