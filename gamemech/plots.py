"""Plots written to files (Agg backend, never a window)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def game_contours(ax, game, xlim, ylim, resolution: int = 120) -> None:
    """Contours of the first players' loss ``L_x`` over the (x_1, y_1) plane
    (other coordinates at their equilibrium values)."""
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    X, Y = np.meshgrid(xs, ys)
    ex, ey = game.equilibrium if game.equilibrium is not None else (np.zeros(game.n), np.zeros(game.m))
    px = np.broadcast_to(ex, X.shape + (game.n,)).copy()
    py = np.broadcast_to(ey, Y.shape + (game.m,)).copy()
    px[..., 0], py[..., 0] = X, Y
    with torch.no_grad():
        Z = game.losses(torch.from_numpy(px), torch.from_numpy(py))[0].numpy()
    ax.contour(X, Y, Z, levels=20, colors="0.75", linewidths=0.6)


def phase_plane(panels, title: str = ""):
    """One panel per ``(label, game, trajectory)``: the (x_1, y_1) path over contours."""
    k = len(panels)
    fig, axes = plt.subplots(1, k, figsize=(3.6 * k, 3.6), squeeze=False)
    for ax, (label, game, traj) in zip(axes[0], panels):
        x = traj.x[..., 0].detach().cpu().numpy().reshape(len(traj.ts), -1)
        y = traj.y[..., 0].detach().cpu().numpy().reshape(len(traj.ts), -1)
        r0 = max(float(np.max(np.hypot(x[0], y[0]))), 1e-3)
        # an escaping path is drawn until it leaves a disc of 4x the starting radius
        inside = np.cumprod(np.hypot(x, y) <= 4 * r0, axis=0).astype(bool)
        x, y = np.where(inside, x, np.nan), np.where(inside, y, np.nan)
        r = 1.15 * max(float(np.nanmax(np.abs(np.concatenate([x.ravel(), y.ravel()])))), r0)
        lim = (-r, r)
        game_contours(ax, game, lim, lim)
        for b in range(x.shape[1]):
            ax.plot(x[:, b], y[:, b], lw=1.0)
            ax.plot(x[0, b], y[0, b], "k^", ms=5)
        if game.equilibrium is not None:
            ax.plot(game.equilibrium[0][0], game.equilibrium[1][0], "r*", ms=9)
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title(label, fontsize=9)
    if title:
        fig.suptitle(title, y=1.04)
    fig.tight_layout()
    return fig


def distance_plot(curves, path=None, title: str = ""):
    """Distance to equilibrium against time, log axis; ``curves`` = [(label, ts, dist)]."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, ts, dist in curves:
        ax.semilogy(np.asarray(ts), np.maximum(np.asarray(dist), 1e-300), label=label)
    ax.set_xlabel("t")
    ax.set_ylabel("distance to equilibrium")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig
