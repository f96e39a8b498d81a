"""LEAD App. H on the 8-Gaussians mixture, scaled to a CPU: LEAD-Adam against Adam over seeds.

Each (optimizer, seed) run is one ``gans.train.train`` call (the same loop as ``gamemech
train``); the script prints one line per run and a table of modes covered / high-quality
fraction (mean and range over seeds), and writes ``summary.json`` and ``samples.png`` (one
panel per run) to ``--out``.

    python examples/train_8gaussians.py --iters 5000 --width 256 --seeds 0 1 2 3 4 --out runs/8g
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gans.train import TrainConfig, train  # noqa: E402
from mechanics.utils.figures import save_figure  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--optimizers", nargs="+", default=["lead-adam", "adam-alt", "adam"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--iters", type=int, default=5000)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--loss", default="saturating")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of both players (default: LEAD App. I.2's 2e-4 / 1e-4)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs/8gaussians")
    a = p.parse_args(argv)
    out = Path(a.out)
    runs = []
    for opt in a.optimizers:
        for seed in a.seeds:
            cfg = TrainConfig(task="8gaussians", optimizer=opt, iters=a.iters, width=a.width,
                              loss=a.loss, seed=seed, device=a.device, progress=False,
                              lr_g=a.lr, lr_d=a.lr,
                              out=str(out / f"{opt}_seed{seed}"))
            r = train(cfg)
            s = r.summary
            runs.append({k: s[k] for k in ("optimizer", "seed", "iters", "modes_covered", "n_modes",
                                           "hq_fraction", "seconds_per_iter", "diverged_at")})
            print(f"{opt:16s} seed {seed}: modes {s['modes_covered']}/{s['n_modes']}, "
                  f"hq {s['hq_fraction']:.3f}, {s['seconds_per_iter']:.4f} s/iter", flush=True)
    table = {}
    for opt in a.optimizers:
        rs = [r for r in runs if r["optimizer"] == opt]
        modes = np.array([r["modes_covered"] for r in rs])
        hq = np.array([r["hq_fraction"] for r in rs])
        table[opt] = {"modes_mean": float(modes.mean()), "modes_min": int(modes.min()),
                      "modes_max": int(modes.max()), "hq_mean": float(hq.mean()),
                      "hq_min": float(hq.min()), "hq_max": float(hq.max()),
                      "seconds_per_iter_mean": float(np.mean([r["seconds_per_iter"] for r in rs]))}
        t = table[opt]
        print(f"{opt:16s} modes {t['modes_mean']:.1f} [{t['modes_min']}, {t['modes_max']}]  "
              f"hq {t['hq_mean']:.3f} [{t['hq_min']:.3f}, {t['hq_max']:.3f}]  "
              f"{t['seconds_per_iter_mean']:.4f} s/iter")
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({"args": vars(a), "runs": runs, "table": table}, indent=2))
    _panel_plot(out, a)


def _panel_plot(out: Path, a) -> None:
    """All runs' sample plots side by side (rows: optimizers, columns: seeds)."""
    fig, axes = plt.subplots(len(a.optimizers), len(a.seeds), squeeze=False,
                             figsize=(2.6 * len(a.seeds), 2.6 * len(a.optimizers)))
    for i, opt in enumerate(a.optimizers):
        for j, seed in enumerate(a.seeds):
            ax = axes[i][j]
            ax.imshow(plt.imread(out / f"{opt}_seed{seed}" / "samples.png"))
            ax.set_axis_off()
            ax.set_title(f"{opt}, seed {seed}", fontsize=8)
    fig.tight_layout()
    save_figure(fig, out / "samples.png", dpi=110)


if __name__ == "__main__":
    main()
