"""Files a training run writes: ``metrics.csv``, ``metrics.json`` and sample plots (PNG).
Every file is written through a temporary file and a rename."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import torch

from mechanics.utils.atomic import atomic_write_bytes
from mechanics.utils.figures import save_figure


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def write_json(obj: dict, path) -> None:
    """JSON with non-finite floats written as ``null``."""
    atomic_write_bytes(path, (json.dumps(_clean(obj), indent=2) + "\n").encode())


def write_csv(rows: list, path) -> None:
    """One row per logged iteration; columns are the union of the rows' keys."""
    cols = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols or ["iter"], extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    atomic_write_bytes(path, buf.getvalue().encode())


def image_grid(images: torch.Tensor, ncol: int = 8) -> np.ndarray:
    """``(N, C, H, W)`` images in [-1, 1] -> one ``(rows*H, ncol*W[, 3])`` array in [0, 1]."""
    x = ((images.clamp(-1, 1) + 1) / 2).cpu().numpy()
    n, c, h, w = x.shape
    rows = -(-n // ncol)
    grid = np.ones((c, rows * (h + 1) + 1, ncol * (w + 1) + 1), dtype=np.float32)
    for k in range(n):
        r, q = divmod(k, ncol)
        grid[:, 1 + r * (h + 1):1 + r * (h + 1) + h, 1 + q * (w + 1):1 + q * (w + 1) + w] = x[k]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def write_samples_plot(evaluator, path) -> None:
    """Real against generated samples: scatter (2-D), histograms (1-D) or an image grid."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg, fake, real = evaluator.cfg, evaluator.fake, evaluator.real
    title = f"{cfg.task} / {cfg.optimizer} / {evaluator.run.iteration} iters"
    if fake is None:
        return
    if fake.dim() == 4:
        fig, ax = plt.subplots(figsize=(6, 6))
        ax.imshow(image_grid(fake[:64]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
    else:
        f, r = fake.numpy(), real.numpy()
        means = evaluator.run.mixture.means.numpy()
        fig, ax = plt.subplots(figsize=(5, 5) if f.shape[1] == 2 else (6, 3.5))
        if f.shape[1] == 1:
            lo, hi = float(means.min()) - 2, float(means.max()) + 2
            bins = np.linspace(lo, hi, 161)
            ax.hist(r[:, 0], bins=bins, alpha=0.5, label="real", color="0.5")
            ax.hist(np.clip(f[:, 0], lo, hi), bins=bins, alpha=0.6, label="generated", color="C0")
        else:
            ax.scatter(r[:, 0], r[:, 1], s=2, c="0.7", label="real")
            ax.scatter(f[:, 0], f[:, 1], s=2, c="C0", label="generated")
            ax.scatter(means[:, 0], means[:, 1], marker="x", c="C3", s=30, label="modes")
            span = float(np.abs(means).max()) * 1.6 + 0.5
            ax.set_xlim(-span, span)
            ax.set_ylim(-span, span)
            ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize=7)
    ax.set_title(title, fontsize=9)
    save_figure(fig, Path(path))
