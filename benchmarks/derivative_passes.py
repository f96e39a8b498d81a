"""Derivative passes alone: LEAD-Adam's direction ``g_i + alpha M_i`` per player, by each
mixed-term mode, against the plain gradient ``g_i`` (what an alternating Adam step
differentiates), with no optimizer arithmetic.

Models and data as ``cost_per_iteration.py`` (LEAD Table 2's 8-Gaussians MLPs, batch 128,
non-saturating loss, per-player closures); ``d_j`` is a fixed random displacement of
size 1e-3. For each width and player: ``gradient`` is ``Evaluation.grad(i)`` (one forward,
one reverse pass wrt the player's own parameters) and ``<mode>`` is
``Evaluation.grad_plus_mixed(i, d_j, 0.3)`` in that mixed-term mode. Interleaved,
``--steps`` calls per repeat, median over all; ratio to ``gradient`` of the same player.

Run ``python benchmarks/derivative_passes.py`` (``--quick`` for a smoke version).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from benchmarks._common import (base_parser, check_device, finish_header, gan_defaults,  # noqa: E402
                                int_list, markdown_table, median, parse_modes, positive_int,
                                run_header, time_call, write_outputs)
from benchmarks.cost_per_iteration import Problem  # noqa: E402
from optimizers.autodiff import OTHER, Evaluation, GameClosure  # noqa: E402

NAME = "derivative_passes"
MODES = ("double_backward", "forward", "reverse_over_forward")
ALPHA = 0.3


def measure(prob: Problem, player: str, modes: Sequence[str], steps: int, repeats: int,
            device: str) -> Dict[str, float]:
    """Median ms of the plain gradient and of the direction in each mode, interleaved."""
    params = {"x": list(prob.G.parameters()), "y": list(prob.D.parameters())}
    gen = torch.Generator().manual_seed(1)
    d_j = [1e-3 * torch.randn(p.shape, generator=gen).to(p) for p in params[OTHER[player]]]
    closure = GameClosure(prob.closure("non-saturating"))

    def call(mode):
        ev = Evaluation(closure, params, mixed_mode=mode or "double_backward",
                        second_order=mode is not None)
        return ev.grad(player) if mode is None else ev.grad_plus_mixed(player, d_j, ALPHA)

    kinds = [None, *modes]
    times = {k: [] for k in kinds}
    for k in kinds:
        call(k)                                       # warm-up
    for _ in range(repeats):
        for _ in range(steps):
            for k in kinds:
                times[k].append(time_call(lambda: call(k), device))
    return {("gradient" if k is None else k): 1e3 * median(v) for k, v in times.items()}


def plot(rows, widths, kinds):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    bw = 0.8 / len(widths)
    for k, w in enumerate(widths):
        vals = [next(r["ratio_both"] for r in rows if r["width"] == w and r["kind"] == kind)
                for kind in kinds]
        ax.bar([i + (k - (len(widths) - 1) / 2) * bw for i in range(len(kinds))], vals, bw,
               label=f"width {w}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(range(len(kinds)))
    ax.set_xticklabels(kinds, fontsize=8)
    ax.set_ylabel("both players / plain gradients")
    ax.set_title(f"LEAD-Adam's direction g + {ALPHA} M, derivative passes only")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def parse(argv: Optional[Sequence[str]]):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--widths", type=int_list, default=None, help="default 256,1024,2000")
    p.add_argument("--modes", default=",".join(MODES), help="subset of " + ",".join(MODES))
    p.add_argument("--steps", type=positive_int, default=None, help="calls per repeat (3)")
    p.add_argument("--batch", type=positive_int, default=128)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    args = p.parse_args(argv)
    parse_modes(p, args, MODES)
    check_device(p, args)
    gan_defaults(args, [256, 1024, 2000], steps=3)
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    payload = run_header(NAME, argv, args, args.device)
    rows = []
    for w in args.widths:
        prob = Problem(w, args.batch, args.device, args.seed)
        ms = {i: measure(prob, i, args.modes, args.steps, args.repeats, args.device)
              for i in ("x", "y")}
        for kind in ["gradient", *args.modes]:
            both = ms["x"][kind] + ms["y"][kind]
            rows.append({"width": w, "kind": kind, "ms_x": ms["x"][kind], "ms_y": ms["y"][kind],
                         "ratio_x": ms["x"][kind] / ms["x"]["gradient"],
                         "ratio_y": ms["y"][kind] / ms["y"]["gradient"],
                         "ratio_both": both / (ms["x"]["gradient"] + ms["y"]["gradient"])})
    finish_header(payload)
    payload.update(settings={k: v for k, v in vars(args).items() if k != "out"}, rows=rows)
    md = markdown_table(["width", "derivative", "G (x) ms", "D (y) ms", "G / gradient",
                         "D / gradient", "both / gradients"],
                        [[r["width"], r["kind"], r["ms_x"], r["ms_y"], f"{r['ratio_x']:.2f}x",
                          f"{r['ratio_y']:.2f}x", f"{r['ratio_both']:.2f}x"] for r in rows])
    note = (f"\nms per call (median of {args.repeats} x {args.steps} interleaved calls), batch "
            f"{args.batch}, device {args.device}, torch threads {args.threads}; direction = "
            f"g + {ALPHA} M." + (" Measured UNDER LOAD (other jobs on the machine)."
                                 if payload["under_load"] else ""))
    print(md + "\n" + note)
    write_outputs(args.out, NAME, payload, md + "\n" + note,
                  plot(rows, args.widths, ["gradient", *args.modes]))
    return payload


if __name__ == "__main__":
    main()
