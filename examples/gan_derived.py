"""Derived optimizers in training: every member of the scheme family, Adam-preconditioned
(``from_rule(..., precondition="adam")``, LEAD Algorithm 2 for any rule), on the 8-Gaussians
mixture at the official LEAD code's settings (``--preset lead-code``) on CPU, beside LEAD-Adam.

Every member (a set of forces containing the curl, times a scheme of
:mod:`integrators.schemes`) is derived with one set of physical parameters (mass 1):

- ``delta = 0.1`` and ``mu = 1/delta = 10``, so that the members with friction have no
  heavy-ball momentum of their own (``beta = 0``; Adam's first moment replaces it anyway);
- ``q = 0.06``, so that LEAD's member couples with ``alpha / eta = q / delta = 0.6``, the
  official code's alpha (and LEAD-Adam's in ``docs/results/appH``);
- ``gamma = 0.3`` for the consensus force (the value docs/GANS.md uses for consensus
  optimization; not tuned).

Under Adam preconditioning a member is fixed by its direction per unit eta (the rule's
coefficients divided by eta: magnetic coupling ``alpha/eta``, implicit coupling
``alpha_implicit/eta``, further force terms ``c_t/eta``, the lookahead of the evaluation
point, a proximal step), so many members coincide. Members with the same direction form one
*group* and are trained once per seed; the table names every member of each group. The
members' own mixed term is the rule's (``mixed_source="own"``, the derivation's zero-sum
convention); LEAD-Adam in ``docs/results/appH`` uses the official code's
``mixed_source="opponent"``, so LEAD's group and LEAD-Adam differ exactly by that choice.

A group whose Adam-preconditioned optimizer the library cannot build is listed with the
reason and not trained. Finished runs are appended to ``OUT/runs.jsonl`` (an interrupted
session resumes); an implicit member's record holds its inner solves'
``inner_iterations`` and ``unconverged_solves`` (the report lists them per group). A run
whose inner solve raises (a proximal fixed point, or an implicit coupling's GMRES, that
does not converge: ``unconverged="raise"``, the default) is recorded in
``OUT/failures.jsonl`` and its group is not trained again. The report --
``OUT/table.md``, ``OUT/summary.json``, ``OUT/samples.png`` -- is rewritten from
whatever runs exist, with LEAD-Adam's and alternating Adam's runs of the same width and
seeds read from ``--reference``;
``--results-md docs/RESULTS.md`` also writes it into RESULTS.md between the markers
``<!-- generated: derived begin/end -->``.

    python examples/gan_derived.py --out docs/results/derived --width 256 --seeds 5
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import torch

from _gan_experiments import (append_run, load_runs, machine, markdown_table, run_queue, summarize,
                              queue_arguments, results_md)
from gan_appH import METRICS, run_one, sample_grid

PHYSICAL = {"delta": 0.1, "mu": 10.0, "q": 0.06, "gamma": 0.3}
PARAMETER_OF = {"friction": "mu", "magnetic": "q", "consensus": "gamma"}
REFERENCE = "lead-adam"
COMMAND = "python examples/gan_derived.py --out docs/results/derived --width 256 --seeds 5"


def _rule(forces, scheme, phys):
    from integrators.derive import derive
    kw = {PARAMETER_OF[f]: phys[PARAMETER_OF[f]] for f in forces if f in PARAMETER_OF}
    return derive(list(forces), scheme).to_update_rule(
        phys["delta"], kw.get("mu"), kw.get("q"), gamma=kw.get("gamma"))


def signature(rule) -> tuple:
    """What fixes a rule's Adam-preconditioned optimizer: its coefficients per unit eta."""
    terms = tuple(sorted((t.label, round(t.coefficient / rule.eta, 9),
                          t.vector is not None) for t in rule.terms))
    return (round(rule.alpha / rule.eta, 9), round(rule.alpha_implicit / rule.eta, 9),
            round(rule.lookahead, 9), terms, bool(rule.proximal))


def label(sig: tuple) -> str:
    """A short readable name of a group from its signature."""
    alpha, implicit, lookahead, terms, proximal = sig
    parts = []
    if alpha:
        parts.append(f"coupling {alpha:g}")
    if implicit:
        parts.append(f"implicit coupling {implicit:g}")
    for name, c, _ in terms:
        parts.append(f"{name} {c:g}")
    if lookahead:
        parts.append(f"lookahead {lookahead:+g}")
    if proximal:
        parts.append("proximal")
    return "derived: " + (", ".join(parts) if parts else "gradient only")


def groups(phys=PHYSICAL) -> list:
    """``[{"label", "signature", "members": [(forces, scheme), ...], "forces", "scheme"}]``
    over every force set containing the curl and every scheme (members whose derivation
    fails are left out, with their error, under ``"underivable"``)."""
    from integrators.schemes import SCHEMES
    from mechanics.forces import REGISTRY
    others = [f for f in REGISTRY if f != "curl"]
    out: dict = {}
    for k in range(len(others) + 1):
        for extra in itertools.combinations(others, k):
            forces = ("curl",) + extra
            for scheme in SCHEMES:
                try:
                    rule = _rule(forces, scheme, phys)
                except (ValueError, KeyError, TypeError, NotImplementedError):
                    continue
                sig = signature(rule)
                g = out.setdefault(sig, {"label": label(sig), "signature": repr(sig),
                                         "members": [], "forces": forces, "scheme": scheme})
                g["members"].append(["+".join(forces), scheme])
    return list(out.values())


def buildable(group: dict, phys=PHYSICAL) -> str | None:
    """``None`` if the library builds the group's Adam-preconditioned optimizer, else why not."""
    from optimizers import from_rule
    x, y = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    try:
        from_rule(_rule(group["forces"], group["scheme"], phys), [x], [y],
                  precondition="adam", lr=1e-3)
    except (ValueError, TypeError, NotImplementedError) as err:
        return str(err)
    return None


def overrides(group: dict, phys=PHYSICAL) -> dict:
    """The group's TrainConfig fields. Implicit-coupling groups accept a GMRES solve that
    ends above tol (``unconverged="accept"``, counted in each run's record): their solves
    stall at 1.5-2x the float32 tol (10 eps), at rounding level, and the runs recorded
    before the option existed were made so. Proximal groups keep the default ("raise"):
    their fixed point diverges (relative change > 1), which is no step at all."""
    rule = _rule(group["forces"], group["scheme"], phys)
    gmres = not rule.is_explicit and not rule.proximal
    return {"forces": ",".join(group["forces"]), "scheme": group["scheme"],
            "delta": phys["delta"], "mu": phys["mu"], "q": phys["q"], "gamma": phys["gamma"],
            "precondition": "adam", **({"hyper": {"unconverged": "accept"}} if gmres else {})}


def tag(group_label: str) -> str:
    """The group's file-name tag; the sign of a look-ahead stays in it (``-1`` -> ``m1``,
    ``+1`` -> ``p1``), so that groups differing only in that sign keep their own files."""
    signed = group_label.replace("+", "p").replace("-", "m")
    return "".join(c if c.isalnum() else "_" for c in signed)


def inner_solves(runs: list) -> str:
    """``"; inner iterations per step X, unconverged solves N"`` over the ``runs`` that
    recorded their inner solves (implicit members), else ``""``."""
    rs = [r for r in runs if "inner_iterations" in r]
    if not rs:
        return ""
    per_step = sum(r["inner_iterations"] for r in rs) / max(1, sum(r["iters"] for r in rs))
    return (f"; inner iterations per step {per_step:.3g}, unconverged solves "
            f"{sum(r.get('unconverged_solves', 0) for r in rs)}")


def report(out: Path, width: int, reference: Path, gs: list) -> str:
    from gans.report import write_json
    runs = load_runs(out / "runs.jsonl")
    seeds = sorted({r["seed"] for r in runs})
    refs = [dict(r, optimizer=r["optimizer"]) for r in load_runs(reference)
            if r["width"] == width and r["seed"] in seeds
            and r["optimizer"] in (REFERENCE, "adam-alt")]
    rows_in = refs + [dict(r, optimizer=r["group"]) for r in runs]
    for r in rows_in:
        vals = [e for _, e in r.get("energy_curve") or [] if e is not None]
        r["energy_best"] = min(vals) if vals else None
    parts = [f"Command: `{COMMAND}`  ", f"Machine: {machine()}  ",
             f"Physical parameters (mass 1): {json.dumps(PHYSICAL)}; Adam lr 3e-4, betas "
             "(0.5, 0.9) generator / (0.55, 0.9) discriminator (the lead-code preset), "
             f"width {width}, seeds {seeds}. Reference rows (lead-adam, adam-alt) are the "
             f"runs of the same width and seeds in `{reference}`.", ""]
    if rows_in:
        rows = summarize(rows_in, "optimizer", METRICS, REFERENCE)
        parts += [markdown_table(rows, "optimizer", METRICS, REFERENCE), ""]
    else:
        rows = []
    parts += ["Groups (members with the same Adam-preconditioned direction):", ""]
    for g in gs:
        why = g.get("not_buildable")
        status = f"not run: {why}" if why else \
            f"{sum(r['group'] == g['label'] for r in runs)} runs" + inner_solves(
                [r for r in runs if r["group"] == g["label"]])
        parts.append(f"- **{g['label']}** ({status}): "
                     + ", ".join(f"{f} / {s}" for f, s in g["members"]))
    trained = [g["label"] for g in gs if any(r["group"] == g["label"] for r in runs)]
    if trained:     # final samples: one row per trained group, one column per seed
        grid = sample_grid([dict(r, optimizer=tag(r["group"])) for r in runs], width, out,
                           [tag(t) for t in trained])
        if grid is not None:
            parts += ["", f"Final samples (rows: {'; '.join(trained)}): `{grid.name}`"]
    text = "\n".join(parts)
    (out / "table.md").write_text(text + "\n")
    write_json({"physical": PHYSICAL, "width": width, "groups": gs, "rows": rows},
               out / "summary.json")   # NaN (the reference's p-value, 1-seed intervals) -> null
    return text


def main(argv=None):
    p = queue_arguments(__doc__.splitlines()[0], "docs/results/derived", seeds=5, iters=5001)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--reference", default="docs/results/appH/runs.jsonl",
                   help="runs.jsonl of gan_appH.py holding LEAD-Adam's and Adam's runs")
    p.add_argument("--only", nargs="*", default=None,
                   help="train only these groups (exact labels, in this order within a seed)")
    a = p.parse_args(argv)
    results_md(p, a.results_md, "derived")
    torch.set_num_threads(1)
    out = Path(a.out)
    gs = groups()
    for g in gs:
        why = buildable(g)
        if why:
            g["not_buildable"] = why
    if not a.report_only:
        runnable = {g["label"]: g for g in gs if "not_buildable" not in g}
        unknown = sorted(set(a.only or ()) - {g["label"] for g in gs})
        if unknown:
            p.error(f"--only: no group labelled {', '.join(map(repr, unknown))}; the groups: "
                    + "; ".join(g["label"] for g in gs))
        todo = list(runnable.values()) if a.only is None else \
            [runnable[name] for name in a.only if name in runnable]
        seeds = list(range(a.first_seed, a.first_seed + a.seeds))
        jobs = [{"width": a.width, "seed": s, "optimizer": "derived", "group": g["label"]}
                for s in (seeds[::-1] if a.reverse else seeds) for g in todo]
        by_label = {g["label"]: g for g in todo}
        failures = out / "failures.jsonl"
        for job in jobs:            # seed-major: every group advances
            failed = {r["group"]: r["error"] for r in load_runs(failures)}
            if job["group"] in failed:
                continue
            try:
                run_queue([job], out / "runs.jsonl",
                          lambda j: run_one(j, out, a.iters, a.eval_every,
                                            overrides(by_label[j["group"]]), tag(j["group"])),
                          key=lambda j: {k: j[k] for k in ("width", "seed", "group")})
            except ValueError as err:   # an inner solve that did not converge (proximal, GMRES)
                msg = " ".join(str(err).split())[:300]
                append_run(failures, {"group": job["group"], "seed": job["seed"], "error": msg})
                print(f"{job['group']} seed {job['seed']}: training failed: {msg}", flush=True)
    failed = {r["group"]: r for r in load_runs(out / "failures.jsonl")}
    for g in gs:
        if g["label"] in failed and "not_buildable" not in g:
            f = failed[g["label"]]
            g["not_buildable"] = f"training failed (seed {f['seed']}): {f['error']}"
    text = report(out, a.width, Path(a.reference), gs)
    print(text)
    results_md(p, a.results_md, "derived", text)


if __name__ == "__main__":
    main()
