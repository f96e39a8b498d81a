"""``gamemech demo``: simulate the four force sets on f = xy and write plots."""
from __future__ import annotations

from pathlib import Path

from .common import CLIError, finite_float


def run(args) -> int:
    from gamemech.demo import run_demo
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CLIError(f"cannot create --out {out}: {err.strerror or err}") from None
    summary = run_demo(args.out, mu=args.mu, t_end=args.t_end)
    for r in summary["runs"]:
        print(f"{r['forces']:<22} {r['backend']:<12} max Re(eig) {r['max_real_eigenvalue']:+.3f}  "
              f"final distance {r['final_distance']:.3g}  "
              f"{'converges' if r['converges'] else 'diverged' if r['diverged'] else 'does not converge'}")
    print(f"wrote {args.out}/phase_plane.png, distance.png, summary.json")
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="the bilinear game under four force sets (plots)")
    p.add_argument("--out", default="demo-out", help="output directory (default demo-out)")
    p.add_argument("--mu", type=finite_float("--mu", minimum=0.0, strict=True), default=0.5)
    p.add_argument("--t-end", type=finite_float("--t-end", minimum=0.0, strict=True), default=40.0)
    p.set_defaults(func=run)
