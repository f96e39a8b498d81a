"""``gamemech demo``: simulate the four force sets on f = xy and write plots."""
from __future__ import annotations

import sys

from .common import CLIError, check_output_dir, finite_float

#: the files a demo writes; an --out holding any of them is not overwritten silently
DEMO_FILES = ("phase_plane.png", "distance.png", "summary.json")


def run(args) -> int:
    from gamemech.demo import run_demo
    out = check_output_dir(args.out)
    held = [f for f in DEMO_FILES if (out / f).exists()]
    if held and not args.overwrite:
        raise CLIError(f"--out {out} already holds a demo ({', '.join(held)}); pass "
                       "--overwrite to replace it, or name another directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CLIError(f"cannot create --out {out}: {err.strerror or err}") from None
    summary = run_demo(out, mu=args.mu, t_end=args.t_end,
                       log=lambda text: print(text, file=sys.stderr, flush=True))
    for r in summary["runs"]:
        print(f"{r['forces']:<22} {r['backend']:<12} max Re(eig) {r['max_real_eigenvalue']:+.3f}  "
              f"final distance {r['final_distance']:.3g}  "
              f"{'converges' if r['converges'] else 'diverged' if r['diverged'] else 'does not converge'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="the bilinear game under four force sets (plots)",
                       description="Simulate f = xy under four force sets with two backends "
                                   "(about a minute on 2 cores; one line per simulation) and "
                                   "write phase_plane.png, distance.png and summary.json.")
    p.add_argument("--out", default="demo-out", help="output directory (default demo-out)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files of an earlier demo in --out")
    p.add_argument("--mu", type=finite_float("--mu", minimum=0.0, strict=True), default=0.5)
    p.add_argument("--t-end", type=finite_float("--t-end", minimum=0.0, strict=True), default=40.0)
    p.set_defaults(func=run)
