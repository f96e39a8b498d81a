"""``gamemech derive``: the discrete update rule of a force set under a scheme (Prop. 1)."""
from __future__ import annotations

import json

from integrators.derive import derive
from mechanics.forces import REGISTRY
from integrators.schemes import SCHEMES

from .common import CLIError, finite_float


def run(args) -> int:
    try:
        rule = derive(args.forces.split(","), args.scheme, convention=args.charge_convention)
    except (ValueError, TypeError) as err:
        raise CLIError(str(err)) from None
    given = {k: getattr(args, k) for k in ("delta", "mu", "q", "mass", "gamma")}
    values = None
    if args.delta is not None:
        try:
            values = rule.values(args.delta, mu=args.mu, q=args.q, mass=args.mass or 1.0,
                                 gamma=args.gamma)
        except ValueError as err:
            raise CLIError(f"{err} (give --mu/--q/--gamma)") from None
    elif any(v is not None for v in given.values()):
        raise CLIError("numeric values need --delta (with --mu, --q, --gamma, --mass as the "
                       "rule needs)")
    if args.json:
        report = {"scheme": rule.scheme.name, "forces": list(rule.forces),
                  "charge_convention": rule.convention, **rule.as_strings(),
                  "implicit_gradient": rule.implicit_gradient, "text": rule.text()}
        if args.latex:
            report["latex"] = rule.latex()
        if values is not None:
            report["values"] = values
        print(json.dumps(report))
        return 0
    print(rule.latex() if args.latex else rule.text())
    if values is not None:
        print("values: " + ", ".join(f"{k} = {v:.10g}" for k, v in values.items()))
    return 0


def register(sub) -> None:
    p = sub.add_parser("derive", help="derive an optimizer from forces and a scheme (Prop. 1)",
                       description="Eliminate the velocities of a discretized eq. 10 and print "
                                   "the two-step rule x[k+1] = x[k] + beta dx[k] - eta grad_x f "
                                   "- alpha grad_xy f dy[k] with exact coefficients.")
    p.add_argument("--forces", default="curl,magnetic,friction",
                   help=f"comma-separated subset of {','.join(REGISTRY)} "
                        "(default curl,magnetic,friction)")
    p.add_argument("--scheme", default="semi-implicit", choices=list(SCHEMES), metavar="NAME",
                   help=f"one of: {', '.join(SCHEMES)} (default semi-implicit, Prop. 1)")
    p.add_argument("--charge-convention", choices=["eq7", "slides"], default="eq7",
                   help="magnetic force q grad_xy f (eq. 7, default) or 2q (slides)")
    p.add_argument("--latex", action="store_true", help="print LaTeX")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    g = p.add_argument_group("numbers (optional): substitute into the coefficients")
    g.add_argument("--delta", type=finite_float("--delta", minimum=0.0, strict=True))
    g.add_argument("--mu", type=finite_float("--mu", minimum=0.0))
    g.add_argument("--q", type=finite_float("--q"))
    g.add_argument("--mass", type=finite_float("--mass", minimum=0.0, strict=True))
    g.add_argument("--gamma", type=finite_float("--gamma", minimum=0.0),
                   help="consensus force weight gamma >= 0")
    p.set_defaults(func=run)
