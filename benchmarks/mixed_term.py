"""Benchmark: cost of LEAD's mixed term grad_ij L_i . d_j, double backward vs forward-over-reverse vs reverse-over-forward.

Models: LEAD Table 2 (8-Gaussians MLPs: 3 hidden ReLU layers of --width units, z in R^64),
batch 128, non-saturating GAN losses. Each configuration runs LEAD steps (simultaneous)
with the pair closure and with the per-player closure; reported as seconds per
step (best of N, interleaved) and as ratios (forward / double_backward, and LEAD / GDA per mode). Ratios, not absolute
times, are what carries over between machines.

    python benchmarks/mixed_term.py [--width 2000] [--steps 6] [--device cpu]
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))   # run from a checkout

import torch
from torch.nn.functional import softplus

import optimizers
from gans.models import build_models


def make(width, device, seed=0):
    torch.manual_seed(seed)
    G, D, zd = build_models("mlp", (2,), width=width)
    G, D = G.to(device), D.to(device)
    z = torch.randn(128, zd, device=device)
    real = torch.randn(128, 2, device=device)

    def per_player(player):
        if player == "x":
            return softplus(-D(G(z))).mean()
        return softplus(D(G(z))).mean() + softplus(-D(real)).mean()

    def pair():
        fake = D(G(z))
        return softplus(-fake).mean(), softplus(fake).mean() + softplus(-D(real)).mean()
    return G, D, pair, per_player


def _timed(opt, closure, device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    opt.step(closure)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args(argv)
    runs = {}
    for form in ("pair", "per_player"):
        for mode in ("gda", "double_backward", "forward", "reverse_over_forward"):
            G, D, pair, single = make(a.width, a.device)
            opt = (optimizers.GDA(G.parameters(), D.parameters(), lr=1e-4) if mode == "gda" else
                   optimizers.LEAD(G.parameters(), D.parameters(), lr=1e-4, beta=0.5,
                                   alpha=0.1, mixed_mode=mode))
            runs[(mode, form)] = (opt, pair if form == "pair" else single)
    times = {k: [] for k in runs}
    for k, (opt, clo) in runs.items():
        _timed(opt, clo, a.device)                      # warm-up (also makes d != 0)
    for _ in range(a.steps):                            # interleaved: load affects all alike
        for k, (opt, clo) in runs.items():
            times[k].append(_timed(opt, clo, a.device))
    res = {k: min(v) for k, v in times.items()}          # best-of-N: robust to machine load
    nparams = sum(p.numel() for p in list(G.parameters()) + list(D.parameters()))
    print(f"LEAD mixed term on 8-Gaussians MLPs: width {a.width}, {nparams:,} parameters, "
          f"batch 128, device {a.device}, best of {a.steps} interleaved steps")
    print(f"{'closure':<11} {'GDA s':>8} {'LEAD dbl-bwd s':>15} {'LEAD fwd s':>11} "
          f"{'LEAD rof s':>11} {'fwd/dbl':>8} {'dbl/GDA':>8} {'fwd/GDA':>8} {'rof/GDA':>8}")
    for form in ("pair", "per_player"):
        g, d, f, r = (res[(k, form)] for k in ("gda", "double_backward", "forward",
                                               "reverse_over_forward"))
        print(f"{form:<11} {g:8.4f} {d:15.4f} {f:11.4f} {r:11.4f} {f / d:8.2f} {d / g:8.2f} "
              f"{f / g:8.2f} {r / g:8.2f}")


if __name__ == "__main__":
    main()
