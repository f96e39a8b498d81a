"""``gamemech energy``: simulate a game and verify that an energy decays along the way.

The game, forces, initial state and solver are given exactly as for ``simulate``
(``--q auto`` means Thm. 1's ``q = 2/mu + mu`` and is the default here). The report
(``--json``) has at least ``energy_initial``, ``energy_final``, ``max_energy_rate``,
``monotone``, ``fitted_rate``, ``bound_rate`` (Thm. 1's rho, eq. 43, where the particle
is Thm. 1's setting, else null) and ``certified_rate`` (the exact rate for a quadratic
energy on linear dynamics, else null).
"""
from __future__ import annotations

import json
import math

from mechanics import ENERGY_NAMES, Particle, energy_from_name, thm1_setting, verify_energy
from mechanics.energy import LEAD_FORMS

from .common import (CLIError, add_force_arguments, add_game_arguments, finite_float,
                     forces_from_args, game_from_args, write_plot)
from .simulate import add_solver_arguments, add_state_arguments, run_simulation


def _clean(value):
    """JSON-safe: non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _energy(args, dyn):
    if args.energy != "lead":
        return energy_from_name(args.energy, mass=args.mass)
    try:  # eq. 37 is Thm. 1's energy: insist on Thm. 1's setting
        setting = thm1_setting(dyn)
    except ValueError as err:
        raise CLIError(f"--energy lead: {err}") from None
    return setting.energy(args.lead_form)


def _check_before_simulating(args) -> None:
    """Refuse an energy that does not fit the game and forces before integrating."""
    try:
        dyn = Particle(game_from_args(args), forces_from_args(args), mass=args.mass)
    except ValueError as err:
        raise CLIError(str(err)) from None
    _energy(args, dyn)


def run(args) -> int:
    _check_before_simulating(args)
    game, dyn, traj = run_simulation(args)
    energy = _energy(args, dyn)
    try:
        thm1 = thm1_setting(dyn).rate
    except ValueError:
        thm1 = None
    bound = args.bound if args.bound is not None else thm1
    try:
        rep = verify_energy(dyn, energy, traj, bound_rate=bound)
    except (ValueError, TypeError) as err:
        raise CLIError(str(err)) from None
    report = {k: _clean(v) for k, v in rep.to_dict().items()}
    report.update(game=game.name, forces=args.forces, backend=traj.stats["backend"],
                  method=traj.stats["method"], t_end=float(traj.ts[-1]),
                  diverged=bool(traj.diverged.any()), bound_rate=_clean(bound),
                  bound_source=None if bound is None else
                  ("--bound" if args.bound is not None else "Thm. 1 (eq. 43)"))
    if args.plot:
        from gamemech.energy_plots import energy_figure
        from mechanics import track_energy
        curves = [("bound", bound), ("certified", rep.certified_rate)]
        fig = energy_figure(dyn, energy, track_energy(dyn, energy, traj), curves,
                            title=f"{game.name}: {args.forces}, energy {rep.energy}")
        write_plot(fig, args.plot)
        report["plot"] = args.plot
    if args.json:
        print(json.dumps(report))
        return 0
    fmt = lambda v: "n/a" if v is None else f"{v:.4g}"  # noqa: E731
    print(f"{rep.energy} on {game.name} under {args.forces}: E {fmt(rep.energy_initial)} -> "
          f"{fmt(rep.energy_final)} at t = {report['t_end']:.4g}; "
          f"{'monotone' if rep.monotone else 'NOT monotone'}, max dE/dt = {fmt(rep.max_energy_rate)}"
          f" at t = {fmt(rep.max_rate_time)}")
    print(f"rates: fitted {fmt(rep.fitted_rate)}, bound {fmt(bound)}"
          f"{'' if rep.bound_holds is None else (' (holds)' if rep.bound_holds else ' (VIOLATED)')}"
          f", certified {fmt(rep.certified_rate)}"
          f"{'' if rep.bound_certified is None else (' >= Thm. 1: yes' if rep.bound_certified else ' >= Thm. 1: NO')}")
    if rep.growth_found:
        print(f"energy grows at state {[round(v, 6) for v in rep.growth_state]}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("energy", help="verify that an energy decays (LEAD Thm. 1)",
                       description="Simulate a game under forces and check an energy along "
                                   "the trajectory: exact dE/dt by autograd, monotonicity, "
                                   "fitted rate, Thm. 1's bound, the certified rate.")
    add_game_arguments(p, default="quadratic")
    add_force_arguments(p, q_auto=True)
    add_state_arguments(p)
    add_solver_arguments(p)
    p.add_argument("--energy", choices=ENERGY_NAMES, default="lead",
                   help="lead (Thm. 1, eq. 37), kinetic, or hamiltonian (1/2|v|^2, eq. 14)")
    p.add_argument("--lead-form", choices=LEAD_FORMS, default="eq37",
                   help="eq37 (consistent, default) or eq16 (as printed, with its typo)")
    p.add_argument("--bound", type=finite_float("--bound", minimum=0.0), default=None,
                   metavar="RHO", help="check E(t) <= E0 exp(-RHO t), a decay rate RHO >= 0 "
                                       "(default: Thm. 1's rho where it applies)")
    p.add_argument("--plot", default=None, metavar="FILE", help="write a Fig. 5-style plot")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
