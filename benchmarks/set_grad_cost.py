"""What writing ``.grad`` costs LEAD-Adam (``set_grad=True``, the default, against
``set_grad=False``), as ms per step and as a ratio to an alternating Adam step measured
in the same repeat.

Models: LEAD Table 2's 8-Gaussians MLPs (``gans.models.build_models("mlp", (2,),
width=W)``), batch 128, the non-saturating loss, per-player closures; LEAD-Adam with
``alpha = 0.3`` for both players and the default ``mixed_mode="auto"``. Each repeat runs
the three methods in a rotated order: a fresh optimizer, one warm-up step, ``--steps``
timed steps (median). The ratios are medians over repeats.

    python benchmarks/set_grad_cost.py --width 256 --repeats 5 --steps 20
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import optimizers  # noqa: E402
from gans.adam import AlternatingAdam  # noqa: E402
from gans.losses import non_saturating  # noqa: E402
from gans.models import build_models  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    G, D, z_dim = build_models("mlp", (2,), width=a.width)
    real, z = torch.randn(128, 2), torch.randn(128, z_dim)

    def closure(player):
        return non_saturating(D, real, G(z), player=player)

    kw = dict(lr=1e-4, betas=(0.5, 0.99))
    methods = {
        "adam-alt": lambda: AlternatingAdam(G.parameters(), D.parameters(), **kw),
        "lead-adam set_grad=True": lambda: optimizers.LEADAdam(
            G.parameters(), D.parameters(), alpha=0.3, **kw),
        "lead-adam set_grad=False": lambda: optimizers.LEADAdam(
            G.parameters(), D.parameters(), alpha=0.3, set_grad=False, **kw),
    }
    names, ratios = list(methods), {m: [] for m in methods}
    for r in range(a.repeats):
        ms = {}
        for m in names[r % len(names):] + names[:r % len(names)]:
            opt = methods[m]()
            opt.step(closure)
            times = []
            for _ in range(a.steps):
                t0 = time.perf_counter()
                opt.step(closure)
                times.append(time.perf_counter() - t0)
            ms[m] = 1e3 * statistics.median(times)
        for m in names:
            ratios[m].append(ms[m] / ms["adam-alt"])
        print(f"repeat {r}: " + ", ".join(f"{m} {v:.1f} ms" for m, v in ms.items()), flush=True)
    out = {m: statistics.median(v) for m, v in ratios.items()}
    print(f"width {a.width}, median ratio to adam-alt: "
          + ", ".join(f"{m} {v:.2f}x" for m, v in out.items()))
    return out


if __name__ == "__main__":
    main()
