"""``gamemech claims``: run the claims ledger (one check per quantitative claim of the papers)."""
from __future__ import annotations

import json
import sys

import numpy as np

from gamemech.claims import render_markdown, rows_to_json, run_claims, select

from .common import CLIError, atomic_write_bytes, check_output_file, make_parent, wrote


def _json_default(obj):
    """numpy scalars and arrays (in the checks' raw data) as plain JSON values."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def _ids(text):
    return None if text is None else [s for s in text.split(",")]


def command_line(args) -> str:
    """The command that reproduces ``args`` (written into the ledger's header)."""
    parts = ["gamemech claims"]
    if args.only:
        parts.append(f"--only {args.only}")
    if args.quick:
        parts.append("--quick")
    if args.out:
        parts.append(f"--out {args.out}")
    return " ".join(parts)


def run(args) -> int:
    try:
        chosen = select(_ids(args.only))
    except ValueError as err:
        raise CLIError(str(err)) from None
    if args.out:
        check_output_file(args.out, "--out")
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731  (progress)
    rows = run_claims([c.id for c in chosen], quick=args.quick, log=log)
    if args.out:
        make_parent(args.out)
        atomic_write_bytes(args.out, (render_markdown(rows, command_line(args)) + "\n").encode())
        wrote(args.out)
    if args.json:
        print(json.dumps(rows_to_json(rows), default=_json_default))
    else:
        for r in rows:
            print(f"{r.id}: {r.verdict}. {r.evidence}")
    errors = [r.id for r in rows if r.error]
    if errors:
        print(f"gamemech: checks raised errors: {', '.join(errors)}", file=sys.stderr)
        return 1
    return 0


def register(sub) -> None:
    p = sub.add_parser("claims", help="check the papers' quantitative claims (docs/CLAIMS.md)",
                       description="Run one check per quantitative claim of the LEAD, "
                                   "Follow-the-Ridge and lecture-notes papers with the library, "
                                   "and report a verdict for each: holds / holds with a stated "
                                   "caveat / fails as stated / not checkable here. Exit code 0 "
                                   "whatever the verdicts, 1 if a check itself raised, 2 on bad "
                                   "input.")
    p.add_argument("--only", metavar="ID,...", help="comma-separated claim ids (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="reduced sizes (smaller experiments, so two verdicts read differently: "
                        "lead-sec5 and fr-sec6.1 fail as stated in the full run but not at "
                        "--quick sizes; see README). Timings: see README")
    p.add_argument("--out", metavar="FILE", help="write the markdown ledger to FILE "
                   "(atomically), e.g. docs/CLAIMS.md")
    p.add_argument("--json", action="store_true", help="print the rows as JSON on stdout")
    p.add_argument("--list", action="store_true", help="list the claim ids and exit")
    p.set_defaults(func=_entry)


def _entry(args) -> int:
    if args.list:
        for c in select(None):
            print(f"{c.id:22s} {c.paper}, {c.where}")
        return 0
    return run(args)
