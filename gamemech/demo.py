"""The main demo: the bilinear game f = xy under four force sets, both backends.

It shows the physics of LEAD Sec. 3 in one figure: the curl force alone spirals
out (GDA with momentum 1), friction alone does not save it, the magnetic force
alone does not either, and curl + magnetic + friction with q = 2/mu + mu converges.
Each panel's title carries the largest real part of the phase-space eigenvalues at
the equilibrium, whose sign predicts what the trajectory does.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from integrators import simulate
from mechanics import Particle, bilinear, forces_from_names

FORCE_SETS = (("curl",), ("curl", "friction"), ("curl", "magnetic"),
              ("curl", "magnetic", "friction"))


def run_demo(out, mu: float = 0.5, t_end: float = 40.0, backends=("scipy", "torchdiffeq"),
             log=None) -> dict:
    """Simulate every force set with every backend; write PNGs and ``summary.json``.
    ``log(text)``, when given, hears one line per simulation and per file written."""
    log = log or (lambda text: None)
    from mechanics.utils.atomic import atomic_write_bytes
    from mechanics.utils.figures import save_figure
    from gamemech.plots import distance_plot, phase_plane

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    game = bilinear()
    q = 2.0 / mu + mu
    ts = np.linspace(0.0, t_end, 601)
    panels, curves, rows = [], [], []
    for names in FORCE_SETS:
        dyn = Particle(game, forces_from_names(names, mu=mu, q=q))
        lam = dyn.max_real_eigenvalue()
        for backend in backends:
            log(f"simulating {' + '.join(names)} with {backend} (t = 0..{t_end:g})...")
            traj = simulate(dyn, dyn.state([1.0], [1.0]), ts, backend=backend,
                            rtol=1e-8, atol=1e-10, divergence_threshold=1e6)
            dist = traj.distance(game.equilibrium).numpy()
            rows.append({"forces": "+".join(names), "backend": backend,
                         "max_real_eigenvalue": lam, "final_distance": float(dist[-1]),
                         "diverged": bool(traj.diverged),
                         "converges": bool(dist[-1] < 1e-3 * dist[0]),
                         "nfev": traj.stats["nfev"]})
            if backend == backends[0]:
                label = " + ".join(names)
                panels.append((f"{label}\nmax Re(eig) = {lam:+.3f}", game, traj))
                curves.append((label, ts, dist))
    save_figure(phase_plane(panels, title=f"f = xy, mu = {mu}, q = 2/mu + mu = {q:.2f}"),
                out / "phase_plane.png")
    log(f"wrote {out / 'phase_plane.png'}")
    save_figure(distance_plot(curves, title="distance to the equilibrium (f = xy)"),
                out / "distance.png")
    log(f"wrote {out / 'distance.png'}")
    summary = {"game": "bilinear f = xy", "mu": mu, "q": q, "t_end": t_end, "runs": rows}
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    log(f"wrote {out / 'summary.json'}")
    return summary
