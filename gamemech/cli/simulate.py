"""``gamemech simulate``: simulate one game under a force set and report the outcome."""
from __future__ import annotations

import json

import numpy as np

from integrators import BACKENDS, SCIPY_METHODS, TORCHDIFFEQ_METHODS, TORCHODE_METHODS, simulate
from integrators.simulate import DEFAULT_METHOD
from mechanics import Particle

from .common import (CLIError, add_force_arguments, add_game_arguments, available_memory,
                     check_output_file, finite_float, forces_from_args, game_from_args, gib,
                     parse_vector, write_plot)


def add_state_arguments(p) -> None:
    g = p.add_argument_group("initial state (vectors: JSON lists or, in 1-D, numbers)")
    g.add_argument("--x0", default=None, help="initial x (default: 1 in every coordinate)")
    g.add_argument("--y0", default=None, help="initial y (default: 1 in every coordinate)")
    g.add_argument("--vx0", default=None, help="initial x velocity (default 0: at rest)")
    g.add_argument("--vy0", default=None, help="initial y velocity (default 0: at rest)")


def add_solver_arguments(p) -> None:
    g = p.add_argument_group("solver")
    g.add_argument("--t-end", type=finite_float("--t-end", minimum=0.0, strict=True), default=20.0,
                   help="final time (default 20)")
    g.add_argument("--n-points", type=int, default=401, help="number of save times (default 401)")
    g.add_argument("--backend", choices=list(BACKENDS), default="scipy",
                   help="torchode is optional (pip install torchode)")
    g.add_argument("--method", default=None,
                   help=f"scipy: {', '.join(SCIPY_METHODS)}; torchdiffeq: "
                        f"{', '.join(TORCHDIFFEQ_METHODS)}; torchode: {', '.join(TORCHODE_METHODS)} "
                        f"(defaults {DEFAULT_METHOD})")
    g.add_argument("--rtol", type=finite_float("--rtol", minimum=0.0, strict=True), default=1e-8)
    g.add_argument("--atol", type=finite_float("--atol", minimum=0.0, strict=True), default=1e-10)


def initial_state(args, game, dyn):
    def vec(name, dim, default):
        text = getattr(args, name)
        v = np.full(dim, default) if text is None else parse_vector(text, name.replace("_", "-"))
        if v.size == 1 and dim > 1:
            v = np.full(dim, v[0])
        if v.size != dim:
            raise CLIError(f"--{name} has {v.size} entries but the player has dimension {dim}")
        return v
    x, y = vec("x0", game.n, 1.0), vec("y0", game.m, 1.0)
    vx, vy = vec("vx0", game.n, 0.0), vec("vy0", game.m, 0.0)
    return dyn.state(x, y, vx, vy)


#: bytes per saved state entry: the float64 trajectory, the solver's copy, the torch copy
#: and one derived array (distances, energies) -- a lower bound on what the run holds.
BYTES_PER_ENTRY = 4 * 8


def check_trajectory_fits(n_points: int, state_dim: int) -> None:
    """Refuse ``--n-points`` whose trajectory cannot fit in memory, before allocating."""
    need = n_points * (state_dim + 1) * BYTES_PER_ENTRY
    have = available_memory()
    if have is not None and need > have:
        raise CLIError(f"--n-points {n_points}: the trajectory needs about {gib(need)} "
                       f"({n_points} save times x {state_dim + 1} values x {BYTES_PER_ENTRY} B) "
                       f"but {gib(have)} of memory is available; use fewer points")


def run_simulation(args):
    """Shared by ``simulate`` and ``energy``: build everything, integrate, return parts."""
    if args.n_points < 2:
        raise CLIError(f"--n-points must be at least 2, got {args.n_points}")
    if args.plot:
        check_output_file(args.plot, "--plot")
    game = game_from_args(args)
    check_trajectory_fits(args.n_points, 2 * (game.n + game.m))
    try:
        dyn = Particle(game, forces_from_args(args), mass=args.mass)
    except ValueError as err:
        raise CLIError(str(err)) from None
    z0 = initial_state(args, game, dyn)
    ts = np.linspace(0.0, args.t_end, args.n_points)
    try:
        traj = simulate(dyn, z0, ts, backend=args.backend, method=args.method,
                        rtol=args.rtol, atol=args.atol)
    except (ValueError, ImportError) as err:   # ImportError: an optional backend not installed
        raise CLIError(str(err)) from None
    return game, dyn, traj


def run(args) -> int:
    game, dyn, traj = run_simulation(args)
    final = traj.final
    parts = dyn.split(final)
    dist = traj.distance(game.equilibrium)
    report = {
        "game": game.name,
        "forces": args.forces,
        "backend": traj.stats["backend"],
        "method": traj.stats["method"],
        "t_end": float(traj.ts[-1]),
        "final_state": {k: getattr(parts, k).detach().tolist() for k in ("x", "y", "vx", "vy")},
        "final_distance": float(dist[-1]),
        "initial_distance": float(dist[0]),
        "diverged": bool(traj.diverged),
        "diverged_at": None if not bool(traj.diverged) else float(traj.diverged_at),
        "max_real_eigenvalue": dyn.max_real_eigenvalue(),
        "nfev": traj.stats["nfev"],
        "success": traj.success,
    }
    if args.plot:
        from gamemech.plots import phase_plane
        fig = phase_plane([(f"{game.name}: {args.forces}", game, traj)])
        write_plot(fig, args.plot)
        report["plot"] = args.plot
    if args.json:
        print(json.dumps(report))
    else:
        state = ("diverged at t = %.3g" % report["diverged_at"] if report["diverged"]
                 else trend(report["initial_distance"], report["final_distance"]))
        print(f"{game.name} under {args.forces}: distance {report['initial_distance']:.4g} -> "
              f"{report['final_distance']:.4g} at t = {report['t_end']:.4g} ({state}); "
              f"max Re(eig) at equilibrium = {report['max_real_eigenvalue']:.4g}")
    return 0


def trend(first: float, last: float) -> str:
    """How the distance to the equilibrium moved: grows / shrinks (by what factor)."""
    if last > first:
        return f"grows, x{last / first:.3g}" if first > 0 else "grows"
    if last < first:
        return f"shrinks, x{last / first:.3g}"
    return "unchanged"


def register(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a game under forces (LEAD eq. 10)",
                       description="Simulate the particle of a game under a set of forces.")
    add_game_arguments(p)
    add_force_arguments(p)
    add_state_arguments(p)
    add_solver_arguments(p)
    p.add_argument("--plot", default=None, metavar="FILE", help="write a phase-plane plot")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
