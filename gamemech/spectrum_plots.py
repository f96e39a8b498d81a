"""Fig. 1 of LEAD: eigenvalues of step maps against the unit circle while a hyperparameter
sweeps (Agg backend, never a window). The data come from
:func:`integrators.spectral.eigenvalue_sweep`."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from integrators.spectral import eigenvalue_sweep, get_method  # noqa: E402

_CMAPS = ("Blues", "Reds", "Greens", "Purples", "Oranges", "Greys")


def plot_eigenvalue_sweeps(sweeps, title: str = ""):
    """One figure, complex plane with the unit circle; ``sweeps`` is a list of
    ``(label, param, values, eigenvalues)`` with ``eigenvalues`` of shape
    ``(len(values), D)``; each sweep is a colour, darker for larger parameter values."""
    if not sweeps:
        raise ValueError("nothing to plot: no sweeps")
    fig, ax = plt.subplots(figsize=(5.2, 5.2))
    t = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(t), np.sin(t), color="black", lw=1.0, label="unit circle")
    for (label, param, values, eig), cmap in zip(sweeps, _CMAPS * len(sweeps)):
        values, eig = np.asarray(values, dtype=float), np.asarray(eig)
        shade = plt.get_cmap(cmap)(np.linspace(0.35, 0.95, len(values)))
        for i, (row, c) in enumerate(zip(eig, shade)):
            ax.scatter(row.real, row.imag, s=7, color=c,
                       label=f"{label}: {param} {values.min():.3g} to {values.max():.3g}"
                       if i == len(values) - 1 else None)
    ax.axhline(0, color="0.85", lw=0.5)
    ax.axvline(0, color="0.85", lw=0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("Re")
    ax.set_ylabel("Im")
    ax.legend(loc="lower left", fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def figure1(game, methods, param: str = "lr", values=None, **hp):
    """Fig. 1 for ``methods`` (e.g. ``["gda", "lead"]``) on ``game``: ``param`` sweeps
    ``values`` (default 40 points over (0, 2 lr]); other hyperparameters from ``hp``
    (each method takes those it knows) or its defaults."""
    if values is None:
        values = np.linspace(0.0, 2.0 * float(hp.get(param, 0.1)), 41)[1:]
    sweeps = []
    for name in methods:
        m = get_method(name)
        own = {k: v for k, v in hp.items() if k in m.params and k != param}
        sweeps.append((m.name, param, values,
                       eigenvalue_sweep(m, game, param, values, **own)))
    return plot_eigenvalue_sweeps(sweeps, title=f"{game.name}: eigenvalues of the step maps")
