"""Derived against hand-written: step time of ``optimizers.from_rule``'s LEAD over ``optimizers.LEAD``.

The rule is derived symbolically, ``integrators.derive("curl,magnetic,friction")`` (the
semi-implicit scheme of LEAD Prop. 1, eq. 11-12), and turned into numbers by
``to_update_rule(delta, mu, q)``; ``optimizers.LEAD`` gets the same ``lr = eta``,
``beta``, ``alpha``. Both run Algorithm 1 (simultaneous) on two identical copies of
each problem, steps interleaved one by one (A, B, A, B, ...), so that machine load hits
both alike; each step is timed on its own. The ratio is the median over paired steps of
``t(from_rule) / t(LEAD)``; the iterates of the two copies must agree (reported as the
largest absolute difference after the run).

Problems:

* ``gan-W``: LEAD Table 2's 8-Gaussians MLPs of width W, batch 128, non-saturating loss,
  closure in the per-player form;
* ``quadratic-100``: eq. 13 with players of dimension 50 (small tensors: the
  per-step Python overhead of the two optimizers dominates).

The other members of the family (``integrators.family``) against the optimizer each one
equals or competes with, same pairing (``member_rows``):

* explicit: GDA (curl + friction, ``mu = m/delta``) against ``optimizers.GDA``, heavy
  ball against ``optimizers.MomentumGDA``, consensus optimization (curl + friction +
  consensus, ``mu = m/delta``) against ``optimizers.CO`` -- target: within 5%;
* implicit magnetic (``mu = m/delta``, ``q = delta``: CGD's step, solved by GMRES on
  Hessian-vector products) against ``optimizers.CGD`` (conjugate gradient);
* implicit curl (``mu = m/delta``: the proximal point step, by fixed-point iteration)
  against ``optimizers.ExtraGradient`` with the same ``lr`` (EG approximates it with one
  extra gradient).

For the implicit members the table gives the inner iterations per step (GMRES products or
fixed-point evaluations; CGD's conjugate-gradient iterations beside them).

The same two implicit members Adam-preconditioned (``from_rule(..., precondition="adam",
lr=--adam-lr)``: LEAD Algorithm 2 on the solved direction, one solve per player, so two
per step) against ``optimizers.LEADAdam`` (``alpha = 1``, the explicit Adam-preconditioned
member) with the same Adam ``lr``: what the implicit solve costs over the explicit
coupling term. Their inner iterations are both players' together.

A member whose inner solve fails (the proximal fixed point can cycle between two ReLU
activation patterns on the GAN: the map is discontinuous and has no fixed point) gets a
row that says so instead of timings.

Run ``python benchmarks/derived_vs_handwritten.py`` (``--quick`` for a smoke version).
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import optimizers  # noqa: E402
from benchmarks._common import (base_parser, finish_header, gan_defaults, int_list,  # noqa: E402
                                markdown_table, median, parse_modes, positive_int, run_header,
                                time_call, write_outputs)
from gans.data import eight_gaussians  # noqa: E402
from gans.losses import non_saturating  # noqa: E402
from gans.models import build_models  # noqa: E402
from integrators import derive  # noqa: E402
from mechanics import quadratic  # noqa: E402

NAME = "derived_vs_handwritten"
TARGET = 1.05  # from_rule within 5% of LEAD


#: the explicit mixed-term modes ("auto" is double_backward for LEAD, Algorithm 1)
MODES = ("double_backward", "forward", "reverse_over_forward")


def derived_rule(delta: float, mu: float):
    """LEAD's rule from the physics: curl + magnetic (q = 2/mu + mu) + friction, Prop. 1."""
    return derive("curl,magnetic,friction").to_update_rule(delta, mu=mu, q=2.0 / mu + mu)


def gan_problem(width: int, batch: int, seed: int):
    """``make() -> (params_x, params_y, closure)``: fresh identical copies of one GAN."""
    torch.manual_seed(seed)
    G, D, z_dim = build_models("mlp", (2,), width=width)
    gen = torch.Generator().manual_seed(seed)
    dtype = next(G.parameters()).dtype
    real = eight_gaussians().sample(batch, generator=gen).to(dtype)
    z = torch.randn(batch, z_dim, generator=gen).to(dtype)

    def make():
        g, d = copy.deepcopy(G), copy.deepcopy(D)

        def closure(player):
            return non_saturating(d, real, g(z), player)
        return list(g.parameters()), list(d.parameters()), closure
    return make


def quadratic_problem(player_dim: int, seed: int):
    rng = np.random.default_rng(seed)
    game = quadratic(0.1, rng.standard_normal((player_dim, player_dim)) / np.sqrt(player_dim))
    x0, y0 = (torch.as_tensor(rng.standard_normal(player_dim)) for _ in range(2))

    def make():
        x, y = x0.clone().requires_grad_(True), y0.clone().requires_grad_(True)

        def closure(player):
            lx, ly = game.losses(x, y)
            return lx if player == "x" else ly
        return [x], [y], closure
    return make


def compare(make: Callable, rule, steps: int, repeats: int, mixed_mode: Optional[str]) -> Dict:
    px_a, py_a, clo_a = make()
    px_b, py_b, clo_b = make()
    lead = optimizers.LEAD(px_a, py_a, lr=rule.eta, beta=rule.beta, alpha=rule.alpha,
                           mixed_mode=mixed_mode)
    derived = optimizers.from_rule(rule, px_b, py_b, mixed_mode=mixed_mode)
    lead.step(clo_a), derived.step(clo_b)  # warm-up: lazy state
    ta, tb = [], []
    for rep in range(repeats):
        for k in range(steps):
            first_lead = (rep + k) % 2 == 0  # alternate who goes first
            for which in ((0, 1) if first_lead else (1, 0)):
                if which == 0:
                    ta.append(time_call(lambda: lead.step(clo_a)))
                else:
                    tb.append(time_call(lambda: derived.step(clo_b)))
    diff = max(float((a - b).detach().abs().max()) for a, b in zip(px_a + py_a, px_b + py_b))
    return {"lead_ms": 1e3 * median(ta), "from_rule_ms": 1e3 * median(tb),
            "ratio": median([b / a for a, b in zip(ta, tb)]),
            "ratio_of_medians": median(tb) / median(ta), "steps_timed": len(ta),
            "max_abs_iterate_difference": diff}


def _members(delta: float, mu: float, gamma: float, adam_lr: float):
    """``(name, rule, baseline builder, same iterates?, implicit?, from_rule options)`` of
    the members timed."""
    one = 1.0 / delta                                          # mu = m / delta: beta = 0
    gda = derive("curl,friction").to_update_rule(delta, mu=one)
    hb = derive("curl,friction").to_update_rule(delta, mu=mu)
    co = derive("curl,friction,consensus").to_update_rule(delta, mu=one, gamma=gamma)
    cgd = derive("curl,magnetic,friction", "implicit-magnetic").to_update_rule(
        delta, mu=one, q=delta)
    pp = derive("curl,friction", "implicit-curl").to_update_rule(delta, mu=one)
    adam = dict(precondition="adam", lr=adam_lr)
    lead_adam = lambda px, py, zs: optimizers.LEADAdam(px, py, lr=adam_lr, alpha=1.0)  # noqa: E731
    return [
        ("GDA", gda, lambda px, py, zs: optimizers.GDA(px, py, lr=gda.eta), True, False, {}),
        ("heavy ball", hb, lambda px, py, zs: optimizers.MomentumGDA(px, py, lr=hb.eta,
                                                                     beta=hb.beta), True, False,
         {}),
        ("consensus optimization", co,
         lambda px, py, zs: optimizers.CO(px, py, lr=co.eta, gamma=gamma), True, False, {}),
        ("implicit magnetic vs CGD", cgd,
         lambda px, py, zs: optimizers.CGD(px, py, lr=cgd.eta, zero_sum=zs), True, True, {}),
        ("implicit curl vs extragradient", pp,
         lambda px, py, zs: optimizers.ExtraGradient(px, py, lr=pp.eta), False, True, {}),
        ("implicit magnetic + Adam vs LEAD-Adam", cgd, lead_adam, False, True, adam),
        ("implicit curl + Adam vs LEAD-Adam", pp, lead_adam, False, True, adam),
    ]


def compare_member(make: Callable, rule, baseline: Callable, zero_sum: bool, steps: int,
                   repeats: int, options: Optional[Dict] = None) -> Dict:
    px_a, py_a, clo_a = make()
    px_b, py_b, clo_b = make()
    base = baseline(px_a, py_a, zero_sum)
    derived = optimizers.from_rule(rule, px_b, py_b, **(options or {}))
    ta, tb, cg = [], [], []
    try:
        base.step(clo_a), derived.step(clo_b)  # warm-up: lazy state
        inner0 = derived.inner_iterations
        for rep in range(repeats):
            for k in range(steps):
                for which in ((0, 1) if (rep + k) % 2 == 0 else (1, 0)):
                    if which == 0:
                        ta.append(time_call(lambda: base.step(clo_a)))
                        if getattr(base, "last_cg", None) is not None:
                            cg.append(base.last_cg.iterations)
                    else:
                        tb.append(time_call(lambda: derived.step(clo_b)))
    except ValueError as err:    # an inner solve that does not converge: reported, not hidden
        return {"error": str(err), "steps_timed": len(tb)}
    diff = max(float((a - b).detach().abs().max()) for a, b in zip(px_a + py_a, px_b + py_b))
    return {"baseline_ms": 1e3 * median(ta), "derived_ms": 1e3 * median(tb),
            "ratio": median([b / a for a, b in zip(ta, tb)]), "steps_timed": len(ta),
            "inner_per_step": (derived.inner_iterations - inner0) / len(tb),
            "baseline_cg_per_step": (sum(cg) / len(cg)) if cg else None,
            "max_abs_iterate_difference": diff}


def member_table(rows: List[Dict]) -> str:
    header = ["problem", "member vs baseline", "baseline ms/step", "derived ms/step",
              "derived / baseline (median of paired)", "within 5%", "inner iterations/step",
              "baseline CG iterations/step", "max abs iterate diff"]
    body = [[r["problem"], r["member"], "-", "-", f"failed after {r['steps_timed']} steps: "
             f"{r['error'][:90]}", "-", "-", "-", "-"] if "error" in r else
            [r["problem"], r["member"], f"{r['baseline_ms']:.3g}", f"{r['derived_ms']:.3g}",
             f"{r['ratio']:.3f}",
             ("yes" if r["ratio"] <= TARGET else "NO") if not r["implicit"] else "n/a",
             f"{r['inner_per_step']:.1f}" if r["implicit"] else "-",
             f"{r['baseline_cg_per_step']:.1f}" if r["baseline_cg_per_step"] is not None else "-",
             f"{r['max_abs_iterate_difference']:.1e}" if r["same_iterates"] else "(differ)"]
            for r in rows]
    return markdown_table(header, body)


def table(rows: List[Dict]) -> str:
    header = ["problem", "mixed mode", "LEAD ms/step", "from_rule ms/step",
              "from_rule / LEAD (median of paired)", "within 5%", "steps timed",
              "max abs iterate diff"]
    body = [[r["problem"], r["mixed_mode"], f"{r['lead_ms']:.3g}", f"{r['from_rule_ms']:.3g}",
             f"{r['ratio']:.3f}", "yes" if r["ratio"] <= TARGET else "NO", r["steps_timed"],
             f"{r['max_abs_iterate_difference']:.1e}"] for r in rows]
    return markdown_table(header, body)


def plot(rows: List[Dict]):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(rows)), 3.5))
    labels = [f"{r['problem']}\n{r['mixed_mode']}" for r in rows]
    ax.bar(range(len(rows)), [r["ratio"] for r in rows])
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(TARGET, color="r", ls="--", lw=0.8, label="target: within 5%")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("step time, from_rule / LEAD")
    ax.set_ylim(0.8, max(1.2, max(r["ratio"] for r in rows) + 0.05))
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_members(rows: List[Dict]):
    import matplotlib.pyplot as plt
    rows = [r for r in rows if "error" not in r]
    fig, ax = plt.subplots(figsize=(max(5, 1.0 * len(rows)), 3.5))
    ax.bar(range(len(rows)), [r["ratio"] for r in rows],
           color=["tab:orange" if r["implicit"] else "tab:blue" for r in rows])
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(TARGET, color="r", ls="--", lw=0.8, label="explicit target: within 5%")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r['problem']}\n{r['member']}" for r in rows], fontsize=6,
                       rotation=60, ha="right")
    ax.set_ylabel("step time, derived / baseline")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def parse(argv):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--widths", type=int_list, default=None, help="GAN widths (default 256,1024)")
    p.add_argument("--steps", type=positive_int, default=None, help="paired steps per repeat (10)")
    p.add_argument("--batch", type=positive_int, default=128)
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--delta", type=float, default=0.01, help="step size delta of Prop. 1")
    p.add_argument("--mu", type=float, default=1.0, help="friction mu; q = 2/mu + mu")
    p.add_argument("--gamma", type=float, default=0.5, help="consensus weight gamma")
    p.add_argument("--adam-lr", dest="adam_lr", type=float, default=1e-3,
                   help="Adam's lr for the Adam-preconditioned members and LEAD-Adam")
    args = p.parse_args(argv)
    parse_modes(p, args, MODES)
    if not (args.delta > 0 and args.mu > 0 and args.adam_lr > 0):
        p.error("--delta, --mu and --adam-lr must be positive")
    gan_defaults(args, [256, 1024], steps=10, quick_steps=2)
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    payload = run_header(NAME, argv, args)
    rule = derived_rule(args.delta, args.mu)
    problems = [(f"gan-{w}", gan_problem(w, args.batch, args.seed)) for w in args.widths]
    problems.append(("quadratic-100", quadratic_problem(50, args.seed)))
    rows = []
    for name, make in problems:
        for mode in args.modes:
            rows.append({"problem": name, "mixed_mode": mode,
                         **compare(make, rule, args.steps, args.repeats, mode)})
    member_rows = []
    zero_sum = {name: name.startswith("quadratic") for name, _ in problems}
    for name, make in problems:
        for label, mrule, baseline, same, implicit, opts in _members(
                args.delta, args.mu, args.gamma, args.adam_lr):
            member_rows.append({"problem": name, "member": label, "rule": mrule.name,
                                "same_iterates": same, "implicit": implicit,
                                "precondition": opts.get("precondition"),
                                **compare_member(make, mrule, baseline, zero_sum[name],
                                                 args.steps, args.repeats, opts)})
    finish_header(payload)
    payload.update(settings={k: v for k, v in vars(args).items() if k != "out"},
                   rule={"eta": rule.eta, "beta": rule.beta, "alpha": rule.alpha,
                         "lookahead": rule.lookahead, "name": rule.name}, rows=rows,
                   member_rows=member_rows)
    md = table(rows)
    note = (f"\nRule {rule.name}: eta = {rule.eta:.4g}, beta = {rule.beta:.4g}, alpha = "
            f"{rule.alpha:.4g} (delta = {args.delta}, mu = {args.mu}, q = 2/mu + mu); torch "
            f"threads {args.threads}." + (" Measured UNDER LOAD (other jobs on the machine)."
                                          if payload["under_load"] else ""))
    print(md + "\n" + note)
    write_outputs(args.out, NAME, payload, md + "\n" + note, plot(rows))
    members_md = member_table(member_rows)
    print("\nOther members of the family:\n\n" + members_md + "\n" + note)
    write_outputs(args.out, NAME + "_members", payload, members_md + "\n" + note,
                  plot_members(member_rows))
    return payload


if __name__ == "__main__":
    main()
