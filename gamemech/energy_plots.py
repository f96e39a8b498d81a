"""Energy plots in the manner of LEAD Fig. 5 (Agg backend, written to files by the caller).

Left: contours of the energy over the (x_1, y_1) plane (every other coordinate at its
equilibrium value, velocities zero) with the trajectory's (x_1, y_1) path on top.
Right: the energy against time on a log axis, with the bounds ``E0 exp(-rho t)``.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mechanics.lyapunov import phase_state  # noqa: E402


def energy_grid(dynamics, energy, xlim, ylim, resolution: int = 121):
    """``(X, Y, E)``: the energy on a grid over (x_1, y_1), the rest of the state at the
    equilibrium (or zero) with zero velocity."""
    xs, ys = np.linspace(*xlim, resolution), np.linspace(*ylim, resolution)
    X, Y = np.meshgrid(xs, ys)
    game = dynamics.game
    base = (dynamics.equilibrium_state() if game.equilibrium is not None
            else torch.zeros(dynamics.dim, dtype=torch.float64))
    z = base.expand(*X.shape, dynamics.dim).clone()
    z[..., 0] = torch.from_numpy(X)
    z[..., game.n] = torch.from_numpy(Y)
    with torch.enable_grad():
        E = energy(game, phase_state(dynamics, z))
    return X, Y, E.detach().numpy()


def energy_figure(dynamics, energy, trace, bounds=(), title: str = ""):
    """Fig. 5-style figure from an :class:`~mechanics.lyapunov.EnergyTrace`.

    ``bounds``: ``(label, rho)`` pairs drawn as ``E0 exp(-rho (t - t0))`` on the right.
    Returns the matplotlib figure (save it with :func:`gamemech.cli.common.save_figure`).
    """
    fig, (ax_c, ax_t) = plt.subplots(1, 2, figsize=(9.5, 3.9))
    T = len(trace.ts)
    zs = trace.zs.detach().reshape(T, -1, dynamics.dim).numpy()
    n = dynamics.game.n
    px, py = zs[:, :, 0], zs[:, :, n]
    r = max(1.2 * float(np.max(np.abs(np.concatenate([px.ravel(), py.ravel()])))), 1e-3)
    X, Y, E = energy_grid(dynamics, energy, (-r, r), (-r, r))
    finite = E[np.isfinite(E)]
    if finite.size and np.ptp(finite) > 0:
        ax_c.contour(X, Y, E, levels=20, colors="k", linewidths=0.6)
    for b in range(px.shape[1]):
        ax_c.plot(px[:, b], py[:, b], color="tab:red", lw=1.2)
        ax_c.plot(px[0, b], py[0, b], "k^", ms=5)
    ax_c.set_xlim(-r, r)
    ax_c.set_ylim(-r, r)
    ax_c.set_xlabel("x_1")
    ax_c.set_ylabel("y_1")
    ax_c.set_title(f"contours of {trace.name} (velocities 0)", fontsize=9)

    ts = trace.ts.numpy()
    vals = trace.values.reshape(T, -1).numpy()
    for b in range(vals.shape[1]):
        ax_t.semilogy(ts, np.maximum(vals[:, b], 1e-300), color="tab:red", lw=1.2,
                      label=trace.name if b == 0 else None)
    E0 = float(vals[0].max())
    for (label, rho), style in zip(bounds, ("--", ":", "-.")):
        if rho is not None:
            ax_t.semilogy(ts, E0 * np.exp(-rho * (ts - ts[0])), "k" + style, lw=1.0,
                          label=f"{label}: E0 exp(-{rho:.3g} t)")
    positive = vals[vals > 0]
    if positive.size:
        ax_t.set_ylim(max(positive.min() * 0.5, E0 * 1e-16), positive.max() * 2)
    ax_t.set_xlabel("t")
    ax_t.set_ylabel("energy")
    ax_t.grid(True, which="both", alpha=0.3)
    ax_t.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
