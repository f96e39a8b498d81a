"""``gamemech spectrum``: eigenvalues of an optimizer's step map on a game (Thm. 2, Fig. 1)."""
from __future__ import annotations

import argparse
import json
import re
import sys
import time

import numpy as np

from integrators.spectral import METHODS, get_method, spectrum
from integrators.tuning import tune

from .common import (CLIError, add_game_arguments, check_output_file, finite_float,
                     game_from_args, int_at_least, write_plot)

_HP_FLAGS = {"lr": "--lr", "beta": "--beta", "alpha": "--alpha", "beta_abs": "--beta-abs",
             "beta_arg": "--beta-arg"}


def _hyperparameters(args, method):
    given = {k: getattr(args, k) for k in _HP_FLAGS if getattr(args, k) is not None}
    extra = sorted(set(given) - set(method.params))
    if extra:
        raise CLIError(f"method {method.name} takes no {_HP_FLAGS[extra[0]]} (it takes: "
                       f"{', '.join(_HP_FLAGS[p] for p in method.params)})")
    return given


def _flag_names(message: str) -> str:
    """Library messages name ``eta``; the flag is ``--lr``."""
    return re.sub(r"\beta\b", "--lr (eta)", message)


def run(args) -> int:
    method = get_method(args.method)
    if args.plot:
        check_output_file(args.plot, "--plot")
    game = game_from_args(args)
    hp = _hyperparameters(args, method)
    report = {"game": game.name, "tuned": bool(args.tune)}
    try:
        if args.tune:
            print(f"tuning {method.name} on {game.name} ({game.n + game.m} parameters): "
                  f"differential evolution, at most {args.maxiter} generations, then "
                  f"Nelder-Mead...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            result = tune(method, game, fixed=hp, seed=args.seed, maxiter=args.maxiter)
            print(f"tuned in {time.perf_counter() - t0:.1f} s ({result.nfev} spectra)",
                  file=sys.stderr, flush=True)
            hp = result.params
            report["tuning"] = {"tuned": list(result.tuned), "nfev": result.nfev,
                                "strategy": result.strategy}
        spec = spectrum(method, game, **hp)
    except ValueError as err:
        raise CLIError(_flag_names(str(err))) from None
    report.update(spec.as_dict())
    if args.plot:
        from gamemech.spectrum_plots import figure1
        methods = [method.name] if method.name == "gda" else ["gda", method.name]
        full = method.hyperparameters(hp)
        fig = figure1(game, methods, "lr", None, **full)
        write_plot(fig, args.plot)
        report["plot"] = args.plot
    if args.json:
        print(json.dumps(report))
        return 0
    params = ", ".join(f"{k} = {v:.6g}" for k, v in spec.params.items())
    print(f"{method.name} on {game.name} ({params}{', tuned' if args.tune else ''}): "
          f"spectral radius {spec.spectral_radius:.10g} "
          f"({'converges' if spec.spectral_radius < 1 else 'does not converge'} locally)")
    if spec.formula_spectral_radius is not None:
        print(f"closed form ({'Thm. 2' if method.name == 'lead' else 'eq. 20'}): "
              f"spectral radius {spec.formula_spectral_radius:.10g}")
    order = np.argsort(-np.abs(spec.eigenvalues))
    print("eigenvalues: " + ", ".join(f"{spec.eigenvalues[i]:.6g}" for i in order))
    return 0


def _seed(text: str) -> int:
    """A numpy seed: an integer in [0, 2**32)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be an integer, got {text!r}") from None
    if not 0 <= v < 2**32:
        raise argparse.ArgumentTypeError(f"--seed must be in [0, 2**32), got {v}")
    return v


def register(sub) -> None:
    p = sub.add_parser("spectrum", help="eigenvalues of an optimizer's step map (Thm. 2, Fig. 1)",
                       description="Jacobian of a method's step map at the equilibrium, by "
                                   "autograd through the implemented update; its eigenvalues "
                                   "and spectral radius (largest modulus).")
    p.add_argument("--method", default="lead", choices=list(METHODS), metavar="NAME",
                   help=f"one of: {', '.join(METHODS)} (default lead)")
    add_game_arguments(p, default="quadratic")
    g = p.add_argument_group("hyperparameters (defaults: the method's)")
    g.add_argument("--lr", type=finite_float("--lr", minimum=0.0, strict=True),
                   help="learning rate eta > 0")
    g.add_argument("--beta", type=finite_float("--beta"), help="momentum beta")
    g.add_argument("--alpha", type=finite_float("--alpha"), help="LEAD coupling alpha")
    g.add_argument("--beta-abs", dest="beta_abs", type=finite_float("--beta-abs"),
                   help="complex momentum |beta|")
    g.add_argument("--beta-arg", dest="beta_arg", type=finite_float("--beta-arg"),
                   help="complex momentum arg(beta) in radians")
    t = p.add_argument_group("tuning")
    t.add_argument("--tune", action="store_true",
                   help="minimise the spectral radius over the hyperparameters not given")
    t.add_argument("--seed", type=_seed, default=0, help="tuning seed in [0, 2**32) (default 0)")
    t.add_argument("--maxiter", type=int_at_least("--maxiter", 1), default=100,
                   help="differential evolution generations (default 100)")
    p.add_argument("--plot", default=None, metavar="FILE",
                   help="write Fig. 1: eigenvalues vs the unit circle as lr sweeps (0, 2 lr]")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
