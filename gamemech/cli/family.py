"""``gamemech family``: every derived optimizer (forces x schemes), the known optimizers
among them, and each one's tuned spectral radius on a game (``integrators.family``)."""
from __future__ import annotations

import json

from mechanics.forces import REGISTRY

from .common import (CLIError, add_game_arguments, check_writable, game_from_args,
                     save_figure)

#: short names the issue's command line uses for catalogue games.
_ALIASES = {"coop": "coop-adversarial"}


def _label(member) -> str:
    text = f"{'+'.join(member.forces)} / {member.scheme}"
    return text + (f"  ({member.known_as})" if member.known_as else "")


def figure(members, game_name: str):
    """Horizontal bars of the tuned spectral radii, best at the top."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ranked = [m for m in members if m.tuned_spectral_radius is not None]
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(ranked) + 1.2))
    ys = range(len(ranked))[::-1]
    colors = ["tab:orange" if m.known_as else "tab:blue" for m in ranked]
    ax.barh(list(ys), [m.tuned_spectral_radius for m in ranked], color=colors)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([_label(m) for m in ranked], fontsize=7)
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("tuned spectral radius (< 1: local linear convergence)")
    ax.set_title(f"the scheme family on {game_name} (orange: a known optimizer)")
    return fig


def _check_format(path: str) -> None:
    """Refuse a plot suffix matplotlib cannot write before any tuning runs."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backend_bases import FigureCanvasBase
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else "png"
    if suffix not in FigureCanvasBase.get_supported_filetypes():
        raise CLIError(f"cannot write plot {path}: unknown format {suffix!r}")


def run(args) -> int:
    from integrators.family import family
    args.game = _ALIASES.get(args.game, args.game)
    game = game_from_args(args)
    if args.plot:
        check_writable(args.plot, "plot file")
        _check_format(args.plot)
    for flag, v in (("--starts", args.starts), ("--polish-maxiter", args.polish_maxiter)):
        if v < 1:
            raise CLIError(f"{flag} must be >= 1, got {v}")
    forces = args.forces.split(",") if args.forces else None
    bad = [f for f in forces or () if f not in REGISTRY]
    if bad:
        raise CLIError(f"unknown force {bad[0]!r}; valid forces: {', '.join(REGISTRY)}")
    try:
        members = family(game, forces=forces, seed=args.seed, starts=args.starts,
                         polish_maxiter=args.polish_maxiter)
    except ValueError as err:
        raise CLIError(str(err)) from None
    if args.plot:
        save_figure(figure(members, game.name), args.plot)
    if args.json:
        print(json.dumps({"game": game.name, "members": [m.as_dict() for m in members]}))
        return 0
    for m in members:
        r = ("-" if m.tuned_spectral_radius is None else f"{m.tuned_spectral_radius:.6f}")
        print(f"{r:>10}  {_label(m)}" + ("" if m.runnable else "  [not runnable]"))
    return 0


def register(sub) -> None:
    p = sub.add_parser("family", help="the family of derived optimizers on a game",
                       description="Derive every member (subsets of the forces times the "
                                   "schemes), name the known optimizers among them, and rank "
                                   "the runnable ones by their tuned spectral radius.")
    add_game_arguments(p, default="bilinear", aliases=_ALIASES)    # coop as well
    p.add_argument("--forces", default=None,
                   help=f"forces to combine (default all registered: {','.join(REGISTRY)})")
    p.add_argument("--seed", type=int, default=0, help="tuning seed (default 0)")
    p.add_argument("--starts", type=int, default=16,
                   help="Nelder-Mead starts per member, Sobol points (default 16)")
    p.add_argument("--polish-maxiter", dest="polish_maxiter", type=int, default=100,
                   help="iterations per Nelder-Mead run (default 100)")
    p.add_argument("--plot", default=None, metavar="FILE", help="write the ranked radii")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
