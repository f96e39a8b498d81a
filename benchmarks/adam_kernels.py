"""LEAD-Adam's Adam arithmetic (Alg. 2 lines 8-12): which public torch path is fastest.

On the parameters of LEAD Table 2's 8-Gaussians MLPs (G and D of width W), one Adam
update of all of them by

* ``fused``: ``optimizers.functional.adam_``, i.e. ``torch.optim.adam.adam(...,
  fused=True)`` (the function ``torch.optim.Adam(fused=True)`` runs; what LEAD-Adam uses);
* ``foreach formulas``: the same update by ``optimizers.functional.scale_by_adam``'s
  ``_foreach`` formulas (its fallback where the fused kernel does not apply);
* ``torch.optim.Adam``: ``torch.optim.Adam(...).step()`` with its CPU default
  (for reference).

Interleaved, median of ``--repeats`` x ``--steps`` calls; ratio to ``fused`` in the same
repeat. Run ``python benchmarks/adam_kernels.py`` (``--quick`` for a smoke version).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from benchmarks._common import (base_parser, finish_header, int_list, markdown_table,  # noqa: E402
                                median, positive_int, run_header, time_call, write_outputs)
from gans.models import build_models  # noqa: E402
from optimizers.functional import adam_, scale_by_adam  # noqa: E402

NAME = "adam_kernels"
LR, B1, B2, EPS = 2e-4, 0.5, 0.99, 1e-8


def _foreach(P, G, M, V, t):
    u, m1, v1 = scale_by_adam(G, M, V, t, b1=B1, b2=B2, eps=EPS)
    torch._foreach_copy_(M, m1)
    torch._foreach_copy_(V, v1)
    torch._foreach_mul_(u, -LR)
    torch._foreach_add_(P, u)


def kernels(width: int):
    G, D, _ = build_models("mlp", (2,), width=width)
    P = [p.detach().clone() for p in list(G.parameters()) + list(D.parameters())]
    grads = [torch.randn_like(p) for p in P]
    M, V = [torch.zeros_like(p) for p in P], [torch.zeros_like(p) for p in P]
    Q = [p.clone().requires_grad_() for p in P]
    ref = torch.optim.Adam(Q, lr=LR, betas=(B1, B2), eps=EPS)
    for q, g in zip(Q, grads):
        q.grad = g
    step = [0]

    def fused():
        step[0] += 1
        adam_(P, grads, M, V, step[0], lr=LR, b1=B1, b2=B2, eps=EPS)

    def formulas():
        step[0] += 1
        _foreach(P, grads, M, V, step[0])
    return {"fused": fused, "foreach formulas": formulas, "torch.optim.Adam": ref.step}


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--widths", type=int_list, default=None, help="default 256,1024,2000")
    p.add_argument("--steps", type=positive_int, default=None, help="calls per repeat (10)")
    args = p.parse_args(argv)
    args.widths = args.widths or ([16] if args.quick else [256, 1024, 2000])
    args.steps = args.steps or (2 if args.quick else 10)
    args.repeats = args.repeats or (1 if args.quick else 5)
    payload = run_header(NAME, argv, args)
    rows = []
    for w in args.widths:
        fns = kernels(w)
        times = {k: [] for k in fns}
        for k, f in fns.items():
            f()                                   # warm-up
        for rep in range(args.repeats):
            for k, f in fns.items():
                times[k].append(median([time_call(f) for _ in range(args.steps)]))
        ratios = {k: median([a / b for a, b in zip(times[k], times["fused"])]) for k in fns}
        rows += [{"width": w, "kernel": k, "ms": 1e3 * median(times[k]),
                  "ratio_to_fused": ratios[k]} for k in fns]
    finish_header(payload)
    payload.update(rows=rows, settings={k: v for k, v in vars(args).items() if k != "out"})
    text = markdown_table(["width", "kernel", "ms per update", "/ fused"],
                          [[r["width"], r["kernel"], f"{r['ms']:.3g}", f"{r['ratio_to_fused']:.2f}x"]
                           for r in rows])
    text += (f"\n\nmedian over {args.repeats} repeats of the median of {args.steps} calls, "
             f"torch threads {args.threads}"
             + (" Measured UNDER LOAD." if payload["under_load"] else ""))
    print(text)
    write_outputs(args.out, NAME, payload, text)
    return payload


if __name__ == "__main__":
    main()
