"""Cost per iteration (LEAD Sec. 6, Fig. 2): ms per GAN step of each optimizer, as a ratio
to the alternating Adam step measured in the same run.

Models: LEAD Table 2's 8-Gaussians MLPs (``gans.models.build_models("mlp", (2,), width=W)``:
four affine layers with ReLU, z in R^64), batch 128, non-saturating loss
(``gans.losses.non_saturating``, BCE with logits), closures in the per-player form
``closure(player)``. Three styles of step (``--styles``):

* ``fixed``: one batch of data and z drawn once, every closure call reuses it (the cost
  of the optimizer's arithmetic alone);
* ``train``: the closure draws a fresh 8-Gaussians batch and fresh z at every call
  (``lr = 2e-4``: issue 19's setting; the learning rate does not change the cost);
* ``loop``: the library's own training step, ``gans.run.Run.step()`` -- what
  ``gamemech train`` / ``gans.train.train`` run each iteration (the batch and z drawn once
  per step by the run's samplers, the closure it builds, ``opt.step``, the losses logged)
  -- with the settings of ``gamemech train --task 8gaussians --preset lead-code`` at the
  given width: batch 256 (not ``--batch``), z in R^64, N(0, 0.02) weights, Adam lr 3e-4,
  betas (0.5, 0.9) / (0.55, 0.9), alpha 0.6 and the official code's coupling
  ``mixed_source="opponent"`` (for which the run's closure is the pair form). Methods:
  ``adam-alt``, ``adam-alt-fused``, ``adam-sim``, ``lead-adam`` and ``lead-adam-nograd``
  (the others are not run in this style).

``--thread-counts 1,2`` repeats everything with each number of torch threads.

Methods (one optimizer step each; the parameters are those of one G, D pair):

* ``adam-alt``: alternating Adam (``gans.adam.AlternatingAdam``; each player its own
  forward and backward) -- the baseline every ratio divides by;
* ``adam-alt-fused``: the same with ``torch.optim.Adam(fused=True)`` (one-kernel Adam
  update, as LEAD-Adam's): the baseline with Adam arithmetic equal to LEAD-Adam's;
* ``adam-sim``: simultaneous Adam (``gans.adam.SimultaneousAdam``);
* ``lead-adam``: ``optimizers.LEADAdam`` (Alg. 2), both coupling terms on
  (``alpha = 0.3`` for G and D: the exact mixed term of both players), with each
  mixed-term mode (``double_backward``, ``forward``, ``reverse_over_forward``, and the
  default ``auto``, which times the two exact ones on its first steps and keeps the
  faster: ``optimizers.auto_mode``; its warm-up runs until that choice is made);
* ``lead-adam-nograd``: the same with ``set_grad=False`` (``.grad`` not written after the
  step: reverse over forward then needs no separate reverse pass for the plain gradient);
* ``lead-adam-g0``: the same with LEAD App. I's coupling ``alpha = (0, 0.3)`` (none for
  G), where G's mixed term is skipped (it would be multiplied by 0);
* ``extra-adam``, ``optimistic-adam``, ``co``, ``sga``;
* ``cgd`` and ``fr`` with 10 conjugate-gradient iterations (the settings of
  ``gans.train.OPTIMIZER_DEFAULTS``), each mixed-term mode; CGD with
  ``zero_sum=False`` because the non-saturating game is not zero-sum;
* ``wgan-gp``: alternating Adam on the WGAN-GP loss (penalty by double backward).

Protocol: in each repeat every method (in a rotated order) gets a fresh optimizer, one
warm-up step (it creates the lazy state) and ``--steps`` timed steps; its time is the
median step. ``auto`` is calibrated once, in the first repeat (its steps until the
choice, untimed: ``optimizers.auto_mode``), and that optimizer is timed in every repeat
(its choice per player is in the JSON rows, ``auto_choice``). A method's ratio is its
time over adam-alt's in the same repeat; the table gives medians over repeats. CUDA
timings synchronise before and after each step.

Run ``python benchmarks/cost_per_iteration.py`` (``--quick`` for a smoke version).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import optimizers  # noqa: E402
from benchmarks._common import (base_parser, check_device, finish_header, gan_defaults,  # noqa: E402
                                int_list, markdown_table, median, parse_modes, positive_int,
                                run_header, time_call, write_outputs)
from gans.adam import AlternatingAdam, SimultaneousAdam  # noqa: E402
from gans.data import eight_gaussians  # noqa: E402
from gans.losses import make_wgan_gp, non_saturating  # noqa: E402
from gans.models import build_models  # noqa: E402

NAME = "cost_per_iteration"
BASELINE = "adam-alt"
FUSED = "adam-alt-fused"
LR, ALPHA, BETAS = 1e-4, 0.3, (0.5, 0.99)
#: the training-style step's learning rate (issue 19); the cost does not depend on it
LR_TRAIN = 2e-4
STYLES = ("fixed", "train", "loop")
STYLE_TEXT = {"fixed": "one fixed batch and z", "train": "fresh data and z at every closure call",
              "loop": "gans.run.Run.step() of the lead-code preset (batch 256, "
                      "mixed_source='opponent')"}
#: ``loop`` style: method -> (``TrainConfig.optimizer``, extra ``hyper``) of the run
LOOP_METHODS = {"adam-alt": ("adam-alt", {}), "adam-alt-fused": ("adam-alt", {"fused": True}),
                "adam-sim": ("adam", {}), "lead-adam": ("lead-adam", {}),
                "lead-adam-nograd": ("lead-adam", {"set_grad": False})}
#: the preset the ``loop`` style trains with
LOOP_PRESET = "lead-code"
#: issue 19's target for LEAD-Adam / alternating Adam: 2.0x below width 1024, 1.8x from it
TARGETS = ((1024, 1.8), (0, 2.0))
#: LEAD App. I's coupling for the 8-Gaussians GAN: none for G (x), 0.3 for D (y)
ALPHA_APP_I = (0.0, 0.3)
CG_ITERS = 10


def _adam(cls):
    return lambda px, py, mode, lr: cls(px, py, lr=lr, betas=BETAS)


#: method -> (factory(params_x, params_y, mixed_mode, lr), takes mixed_mode, loss name)
METHODS: Dict[str, tuple] = {
    "adam-alt": (_adam(AlternatingAdam), False, "non-saturating"),
    "adam-alt-fused": (lambda px, py, mode, lr: AlternatingAdam(px, py, lr=lr, betas=BETAS,
                                                                fused=True),
                       False, "non-saturating"),
    "adam-sim": (_adam(SimultaneousAdam), False, "non-saturating"),
    "lead-adam": (lambda px, py, mode, lr: optimizers.LEADAdam(
        px, py, lr=lr, alpha=ALPHA, betas=BETAS, mixed_mode=mode), True, "non-saturating"),
    "lead-adam-nograd": (lambda px, py, mode, lr: optimizers.LEADAdam(
        px, py, lr=lr, alpha=ALPHA, betas=BETAS, mixed_mode=mode, set_grad=False), True,
        "non-saturating"),
    "lead-adam-g0": (lambda px, py, mode, lr: optimizers.LEADAdam(
        px, py, lr=lr, alpha=ALPHA_APP_I, betas=BETAS, mixed_mode=mode), True, "non-saturating"),
    "extra-adam": (lambda px, py, mode, lr: optimizers.ExtraAdam(px, py, lr=lr, betas=BETAS),
                   False, "non-saturating"),
    "optimistic-adam": (lambda px, py, mode, lr: optimizers.OptimisticAdam(px, py, lr=lr,
                                                                           betas=BETAS),
                        False, "non-saturating"),
    "co": (lambda px, py, mode, lr: optimizers.CO(px, py, lr=lr, gamma=0.1), False,
           "non-saturating"),
    "sga": (lambda px, py, mode, lr: optimizers.SGA(px, py, lr=lr, lam=1.0), False,
            "non-saturating"),
    "cgd": (lambda px, py, mode, lr: optimizers.CGD(px, py, lr=lr, zero_sum=False,
                                                    cg_max_iter=CG_ITERS, mixed_mode=mode),
            True, "non-saturating"),
    "fr": (lambda px, py, mode, lr: optimizers.FR(px, py, lr=lr, cg_max_iter=CG_ITERS,
                                                  preconditioner="rmsprop", damping=0.1,
                                                  adaptive_damping=True, mixed_mode=mode),
           True, "non-saturating"),
    "wgan-gp": (_adam(AlternatingAdam), False, "wgan-gp"),
}
MODES = ("double_backward", "forward", "reverse_over_forward", "auto")
DEFAULT_MODES = ("double_backward", "forward", "reverse_over_forward")


def variants(names: Sequence[str], modes: Sequence[str],
             own_modes: Optional[Dict[str, List[str]]] = None) -> List[tuple]:
    """``(label, method, mixed_mode)`` for every method, one per mode where it has one
    (``own_modes[method]``, from ``--methods name:mode+mode``, replaces ``modes``)."""
    out = []
    for n in names:
        if METHODS[n][1]:
            out += [(f"{n} [{m}]", n, m) for m in (own_modes or {}).get(n, modes)]
        else:
            out.append((n, n, None))
    return out


class Problem:
    """One G, D pair of width ``width``; closures in the player form, on one fixed batch
    (``style="fixed"``) or drawing a fresh batch, z and eps at every call (``"train"``)."""

    def __init__(self, width: int, batch: int, device: str, seed: int, style: str = "fixed"):
        torch.manual_seed(seed)
        self.G, self.D, self.z_dim = build_models("mlp", (2,), width=width)
        self.G, self.D = self.G.to(device), self.D.to(device)
        self.style, self.batch, self.device = style, batch, device
        self.lr = LR_TRAIN if style == "train" else LR
        gen = torch.Generator().manual_seed(seed)
        self.dtype = next(self.G.parameters()).dtype
        self.data = eight_gaussians()
        self.real = self.data.sample(batch, generator=gen).to(device, self.dtype)
        self.z = torch.randn(batch, self.z_dim, generator=gen).to(device, self.dtype)
        self.eps = torch.rand(batch, generator=gen).to(device, self.dtype)
        self.losses = {"non-saturating": non_saturating, "wgan-gp": make_wgan_gp(10.0)}
        self.n_params = sum(p.numel() for p in self.params())

    def params(self):
        return list(self.G.parameters()) + list(self.D.parameters())

    def closure(self, loss_name: str) -> Callable:
        loss = self.losses[loss_name]
        if self.style == "fixed":
            def closure(player):
                return loss(self.D, self.real, self.G(self.z), player, self.eps)
            return closure
        n, dev, dt = self.batch, self.device, self.dtype

        def closure(player):      # what a training loop's closure does: fresh draws
            real = self.data.sample(n).to(dev, dt)
            z = torch.randn(n, self.z_dim, device=dev, dtype=dt)
            eps = torch.rand(n, device=dev, dtype=dt)
            return loss(self.D, real, self.G(z), player, eps)
        return closure


class LoopProblem:
    """The ``loop`` style: a fresh ``gans.run.Run`` of the :data:`LOOP_PRESET` preset at
    ``width`` for every method (the same seed: the same models and batches); its step is
    ``Run.step()``."""

    def __init__(self, width: int, device: str, seed: int):
        self.width, self.device, self.seed = width, device, seed
        self.n_params = self.make("adam-alt", None)[0].n_params

    def make(self, method: str, mode: Optional[str]):
        """``(run, its optimizer)`` for ``method`` (``mode``: LEAD-Adam's mixed_mode)."""
        from gans.presets import config
        from gans.run import Run
        optimizer, hyper = LOOP_METHODS[method]
        hyper = dict(hyper, **({"mixed_mode": mode} if mode is not None else {}))
        threads = torch.get_num_threads()
        cfg = config(LOOP_PRESET, width=self.width, seed=self.seed, device=self.device,
                     progress=False, eval_every=0, optimizer=optimizer, hyper=hyper,
                     threads=threads)
        run = Run(cfg, torch.device(self.device))
        return run, run.opt


def count_flops(fn: Callable[[], object]) -> float:
    """Floating-point operations of one call as counted by ``torch.profiler`` (matrix
    products and elementwise arithmetic; independent of machine load)."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=acts, with_flops=True) as prof:
        fn()
    return float(sum(e.flops for e in prof.key_averages()))


#: ``--clock``: "wall" (``time.perf_counter``) or "cpu" (``time.process_time``)
CLOCK = {"clock": "wall"}


def _timer(device: str):
    """``time_call`` (wall) or its CPU-time twin (``--clock cpu``: with one torch thread
    on a loaded machine, the time the process computed, not the time it waited)."""
    if CLOCK["clock"] == "wall" or str(device).startswith("cuda"):
        return time_call

    def cpu_call(fn, device="cpu"):
        t = time.process_time()
        fn()
        return time.process_time() - t
    return cpu_call


def time_method(prob: Problem, method: str, mode: Optional[str], steps: int, device: str,
                slow_seconds: float = float("inf"), flops: bool = False,
                calibrated: Optional[Dict] = None):
    """``(median seconds, flops or None)`` of ``steps`` steps of a fresh optimizer after one
    warm-up step (one timed step only when the warm-up took longer than ``slow_seconds``);
    with ``flops``, one more (untimed) step is run under the profiler to count FLOPs.
    ``calibrated``: a dict that keeps, for ``mixed_mode="auto"``, the optimizer (and its
    step) calibrated in the first repeat, so that later repeats time it again without
    calibrating anew; ``calibrated["choice"]`` is its choice per player."""
    key = (method, mode)
    if mode == "auto" and calibrated is not None and key in calibrated:
        opt, step = calibrated[key]
        time_call = _timer(device)
        steps = 1 if time_call(step, device) > slow_seconds else steps
        t = median([time_call(step, device) for _ in range(steps)])
        return t, None
    if isinstance(prob, LoopProblem):
        run, opt = prob.make(method, mode)
        step = run.step
    else:
        factory, _, loss_name = METHODS[method]
        opt = factory(list(prob.G.parameters()), list(prob.D.parameters()), mode, prob.lr)
        closure = prob.closure(loss_name)

        def step():
            opt.step(closure)
    time_call = _timer(device)
    warm = time_call(step, device)  # lazy state, allocator
    for _ in range(50):                  # auto: until it has chosen (11 steps)
        if None not in getattr(opt, "mixed_mode_choice", {}).values():
            break
        step()
    if mode == "auto" and calibrated is not None:
        calibrated[key] = (opt, step)
        calibrated.setdefault("choice", {})[key] = dict(opt.mixed_mode_choice)
    steps = 1 if warm > slow_seconds else steps
    t = median([time_call(step, device) for _ in range(steps)])
    # the profiler's records of a slow step can exhaust memory (FR [forward] at width 2000
    # was killed at 23 GB on a 23 GB machine): count FLOPs of fast steps only
    return t, (count_flops(step) if flops and t <= slow_seconds else None)


def bench_width(width: int, labels: List[tuple], args, style: str = "fixed") -> List[Dict]:
    if style == "loop":
        prob = LoopProblem(width, args.device, args.seed)
        labels = [v for v in labels if v[1] in LOOP_METHODS]
    else:
        prob = Problem(width, args.batch, args.device, args.seed, style)
    times: Dict[str, List[float]] = {lab: [] for lab, _, _ in labels}
    ratios: Dict[str, List[float]] = {lab: [] for lab, _, _ in labels}
    fused_ratios: Dict[str, List[float]] = {lab: [] for lab, _, _ in labels}
    slow: set = set()
    flops: Dict[str, float] = {}
    calibrated: Dict = {}         # auto: calibrated once (first repeat), timed in every one
    for rep in range(args.repeats):
        k = rep % len(labels)
        order = labels[k:] + labels[:k]  # rotate: no method always runs first
        this = {}
        for lab, method, mode in order:
            if rep and lab in slow:
                continue
            this[lab], f = time_method(prob, method, mode, args.steps, args.device,
                                       args.slow_seconds, flops=args.flops and rep == 0,
                                       calibrated=calibrated)
            if f is not None:
                flops[lab] = f
            times[lab].append(this[lab])
            if this[lab] > args.slow_seconds and lab != BASELINE:
                slow.add(lab)  # too slow to repeat: measured in the first repeat only
        for lab in this:
            ratios[lab].append(this[lab] / this[BASELINE])
            if FUSED in this:
                fused_ratios[lab].append(this[lab] / this[FUSED])
    rows = []
    for lab, method, mode in labels:
        rows.append({"style": style, "threads": torch.get_num_threads(), "width": width,
                     "params": prob.n_params, "label": lab,
                     "method": method,
                     "mixed_mode": mode,
                     "auto_choice": calibrated.get("choice", {}).get((method, mode)),
                     "ms_per_iter": 1e3 * median(times[lab]),
                     "ms_all_repeats": [1e3 * t for t in times[lab]],
                     "ratio_to_adam_alt": median(ratios[lab]),
                     "ratio_to_adam_alt_fused": (median(fused_ratios[lab]) if fused_ratios[lab]
                                                 else None),
                     "ratios_all_repeats": ratios[lab], "repeats": len(times[lab]),
                     "steps_per_repeat": args.steps,
                     "gflop_per_iter": flops[lab] / 1e9 if lab in flops else None,
                     "flop_ratio_to_adam_alt": (flops[lab] / flops[BASELINE]
                                                if lab in flops and flops.get(BASELINE) else None)})
    return rows


def target_for(width: int) -> float:
    """Issue 19's bound on LEAD-Adam / alternating Adam at ``width``."""
    return next(t for w, t in TARGETS if width >= w)


def verdict(rows: List[Dict], min_width: int = 256) -> Dict:
    """The targets per style, alpha setting, mixed-term mode and width: LEAD-Adam <= 2.0x
    alternating Adam from width 256 (issue 8) and within 10% of Extra-Adam (where
    measured); issue 19's <= 2.0x below width 1024 and <= 1.8x from 1024 on."""
    out = {}
    for r in rows:
        if not r["method"].startswith("lead-adam"):
            continue
        extra = next((e for e in rows if e["width"] == r["width"] and e["style"] == r["style"]
                      and e.get("threads") == r.get("threads")
                      and e["method"] == "extra-adam"), None)
        rel = r["ratio_to_adam_alt"] / extra["ratio_to_adam_alt"] if extra else None
        prefix = "" if r["method"] == "lead-adam" else f"{r['method']} "   # keys as before
        style = "" if r["style"] == "fixed" else f"{r['style']} "
        threads = "" if r.get("thread_key") is None else f"{r['thread_key']} threads "
        key = f"{threads}{style}{prefix}width {r['width']} [{r['mixed_mode']}]"
        bound = target_for(r["width"])
        out[key] = {"style": r["style"], "threads": r.get("threads"), "method": r["method"],
                    "width": r["width"],
                    "mixed_mode": r["mixed_mode"], "auto_choice": r.get("auto_choice"),
                    "ratio_to_adam_alt": r["ratio_to_adam_alt"],
                    "ratio_to_adam_alt_fused": r["ratio_to_adam_alt_fused"],
                    "relative_to_extra_adam": rel,
                    "meets_2x": r["ratio_to_adam_alt"] <= 2.0,
                    "target": bound, "meets_target": r["ratio_to_adam_alt"] <= bound,
                    "within_10pct_of_extra_adam": None if rel is None else rel <= 1.10,
                    "target_applies": r["width"] >= min_width}
    return out


def table(rows: List[Dict], widths: Sequence[int]) -> str:
    """Methods down, widths across, one table per style; ``*`` marks a figure from one
    repeat (a slow method)."""
    threads = list(dict.fromkeys(r.get("threads") for r in rows))
    if len(threads) > 1:
        return "\n\n".join(f"### {t} torch thread{'s' if t != 1 else ''}\n\n" + table(
            [r for r in rows if r.get("threads") == t], widths) for t in threads)
    styles = list(dict.fromkeys(r["style"] for r in rows))
    if len(styles) > 1:
        return "\n\n".join(f"**{s}** ({STYLE_TEXT[s]})\n\n" + table(
            [r for r in rows if r["style"] == s], widths) for s in styles)
    labels = list(dict.fromkeys(r["label"] for r in rows))
    header = ["method"] + [f"W={w} ms" for w in widths] + [f"W={w} / adam-alt" for w in widths]
    with_fused = any(r["ratio_to_adam_alt_fused"] is not None for r in rows)
    if with_fused:
        header += [f"W={w} / adam-alt-fused" for w in widths]
    with_flops = any(r["flop_ratio_to_adam_alt"] is not None for r in rows)
    if with_flops:
        header += [f"W={w} FLOP ratio" for w in widths]
    base = {r["width"]: r["repeats"] for r in rows if r["label"] == BASELINE}
    body = []
    for lab in labels:
        by_w = {r["width"]: r for r in rows if r["label"] == lab}
        once = {w: "*" if by_w[w]["repeats"] < base[w] else "" for w in widths}
        body.append([lab] + [f"{by_w[w]['ms_per_iter']:.3g}{once[w]}" for w in widths]
                    + [f"{by_w[w]['ratio_to_adam_alt']:.2f}x{once[w]}" for w in widths]
                    + ([f"{by_w[w]['ratio_to_adam_alt_fused']:.2f}x{once[w]}"
                        if by_w[w]["ratio_to_adam_alt_fused"] is not None else "-"
                        for w in widths] if with_fused else [])
                    + ([f"{by_w[w]['flop_ratio_to_adam_alt']:.2f}x"
                        if by_w[w]["flop_ratio_to_adam_alt"] is not None else "-" for w in widths]
                       if with_flops else []))
    return markdown_table(header, body)


def plot(rows: List[Dict], widths: Sequence[int]):
    import matplotlib.pyplot as plt
    multi = len({r["style"] for r in rows}) > 1
    rows = [dict(r, label=f"{r['label']} ({r['style']})" if multi else r["label"]) for r in rows]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(7, 0.7 * len(labels)), 4))
    n = len(widths)
    bw = 0.8 / n
    for k, w in enumerate(widths):
        vals = [next(r["ratio_to_adam_alt"] for r in rows if r["label"] == lab and r["width"] == w)
                for lab in labels]
        ax.bar([i + (k - (n - 1) / 2) * bw for i in range(len(labels))], vals, bw, label=f"width {w}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(2.0, color="r", ls="--", lw=0.8, label="2x (target for LEAD-Adam)")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("time per iteration / alternating Adam")
    ax.set_title("Cost per iteration on the 8-Gaussians MLPs (LEAD Fig. 2)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def parse(argv: Optional[Sequence[str]]):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--widths", type=int_list, default=None, help="default 64,256,1024,2000")
    p.add_argument("--methods", default=None,
                   help=f"comma-separated subset of {','.join(METHODS)} (adam-alt is always "
                        f"run); 'name:mode+mode' runs that method in those modes only")
    p.add_argument("--modes", default=",".join(DEFAULT_MODES),
                   help=f"mixed-term modes for lead-adam, cgd, fr, a subset of {','.join(MODES)} "
                        f"(default: the three explicit ones)")
    p.add_argument("--styles", default=",".join(STYLES),
                   help="fixed (one batch for every call), train (fresh data and z at every "
                        "closure call), loop (gans.run.Run.step of the lead-code preset), or "
                        "a comma-separated subset (default: all three)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall time (default) or the process's CPU time (a loaded machine, one "
                        "torch thread: what the process computed, not what it waited)")
    p.add_argument("--thread-counts", type=int_list, default=None,
                   help="comma-separated torch thread counts to measure each in turn "
                        "(e.g. 1,2; overrides --threads)")
    p.add_argument("--steps", type=positive_int, default=None, help="timed steps per repeat (3)")
    p.add_argument("--batch", type=positive_int, default=128)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--no-flops", dest="flops", action="store_false",
                   help="skip the profiler's FLOP count (one extra step per method and width)")
    p.add_argument("--slow-seconds", type=float, default=5.0,
                   help="a method whose step takes longer is timed on one step, in the first "
                        "repeat only (its ratio still uses that repeat's adam-alt)")
    args = p.parse_args(argv)
    entries = list(METHODS) if args.methods is None else [
        m.strip() for m in args.methods.split(",") if m.strip()]
    names, args.own_modes = [], {}
    for entry in entries:
        name, _, own = entry.partition(":")
        if name not in METHODS:
            p.error(f"--methods: unknown method {name!r}; valid: {', '.join(METHODS)}")
        if own:
            args.own_modes[name] = [m for m in own.split("+") if m]
            if not METHODS[name][1] or any(m not in MODES for m in args.own_modes[name]):
                p.error(f"--methods {entry!r}: 'name:mode+mode' takes a method with mixed-term "
                        f"modes and modes among {','.join(MODES)}")
        names.append(name)
    args.methods = [BASELINE] + [m for m in names if m != BASELINE]
    parse_modes(p, args, MODES)
    args.styles = [t.strip() for t in args.styles.split(",") if t.strip()]
    if not args.styles or any(t not in STYLES for t in args.styles):
        p.error(f"--styles must be a subset of {','.join(STYLES)}")
    check_device(p, args)
    gan_defaults(args, [64, 256, 1024, 2000], steps=3)
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    payload = run_header(NAME, argv, args, args.device)
    CLOCK["clock"] = args.clock
    labels = variants(args.methods, args.modes, args.own_modes)
    rows = []
    counts = args.thread_counts or [args.threads]
    for threads in counts:
        torch.set_num_threads(threads)
        for style in args.styles:
            for w in args.widths:
                new = bench_width(w, labels, args, style)
                for r in new:
                    r["thread_key"] = threads if len(counts) > 1 else None
                rows += new
    torch.set_num_threads(args.threads)
    finish_header(payload)
    v = verdict(rows)
    payload.update(settings={k: v_ for k, v_ in vars(args).items() if k != "out"},
                   hyper=dict(lr=LR, lr_train=LR_TRAIN, alpha=ALPHA, alpha_app_i=ALPHA_APP_I,
                              betas=BETAS, cg_iters=CG_ITERS),
                   rows=rows, lead_adam_target=v)
    md = table(rows, args.widths)
    note = (f"\nms per iteration ({'process CPU time; ' if args.clock == 'cpu' else ''}"
            f"median over {args.repeats} repeats of the median of "
            f"{args.steps} steps), batch {args.batch} (loop style: 256), device {args.device}, "
            f"torch threads {','.join(map(str, counts))}; ratios to alternating Adam in the same "
            f"repeat; FLOP ratio: "
            f"torch.profiler's count for one step (load-independent; '-': not counted for steps "
            f"slower than {args.slow_seconds} s, whose profiles can exhaust memory); * = a method slower "
            f"than {args.slow_seconds} s per step, timed on one step in the first repeat only."
            + (" Measured UNDER LOAD (other jobs on the machine)." if payload["under_load"] else ""))
    alphas = {"lead-adam": f"alpha (G, D) = ({ALPHA}, {ALPHA})",
              "lead-adam-nograd": f"alpha (G, D) = ({ALPHA}, {ALPHA}), set_grad=False",
              "lead-adam-g0": f"alpha (G, D) = {ALPHA_APP_I} (App. I)"}
    loop = {"lead-adam": "lead-code: alpha 0.6, mixed_source='opponent'",
            "lead-adam-nograd": "lead-code: alpha 0.6, mixed_source='opponent', set_grad=False"}
    lines = [f"- {x['style']}, {x['threads']} thread(s): {x['method']} width {x['width']} "
             f"[{x['mixed_mode']}] "
             f"({(loop if x['style'] == 'loop' else alphas)[x['method']]}): "
             f"{x['ratio_to_adam_alt']:.2f}x alternating Adam "
             f"({'meets' if x['meets_target'] else 'MISSES'} <= {x['target']}x)"
             + (f", {x['relative_to_extra_adam']:.2f}x Extra-Adam "
                f"({'within' if x['within_10pct_of_extra_adam'] else 'NOT within'} 10%)"
                if x["relative_to_extra_adam"] is not None else "")
             + (f"; {x['ratio_to_adam_alt_fused']:.2f}x fused alternating Adam"
                if x["ratio_to_adam_alt_fused"] is not None else "")
             + ("" if x["target_applies"] else " [width < 256: target does not apply]")
             + ("" if not x.get("auto_choice") else " (auto chose " + ", ".join(
                 f"{p}: {c}" for p, c in x["auto_choice"].items()) + ")")
             for x in v.values()]
    text = md + "\n" + note + ("\n\n" + "\n".join(lines) if lines else "")
    print(text)
    write_outputs(args.out, NAME, payload, text, plot(rows, args.widths))
    return payload


if __name__ == "__main__":
    main()
