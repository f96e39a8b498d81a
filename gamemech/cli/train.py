"""``gamemech train``: train a GAN of the LEAD / Follow-the-Ridge experiments with any game
optimizer and write samples, a metrics CSV/JSON and checkpoints (:mod:`gans.train`).

Exit codes: 0 the run finished; 2 bad input (nothing trained, nothing written);
3 the run diverged (a non-finite loss or update; the message names the iteration and
what went non-finite; metrics.json records it as ``diverged_at`` / ``diverged_reason``)."""
from __future__ import annotations

import json
import logging
import os
import sys

from .common import CLIError, check_output_dir, finite_float, int_at_least

#: exit code of a run that diverged (distinct from 2, bad input)
EXIT_DIVERGED = 3


def _positive_int(name):
    return int_at_least(name, 1)


def _nonneg_int(name):
    return int_at_least(name, 0)


def parse_hyper(items) -> dict:
    """``KEY=VALUE`` pairs; values are read as JSON (numbers, true/false, lists), else strings."""
    out = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"--hyper expects KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out[key.strip().replace("-", "_")] = tuple(value) if isinstance(value, list) else value
    return out


def _pair(args, both, g, d):
    """``--lr`` sets both players; ``--lr-g`` / ``--lr-d`` override one."""
    v = getattr(args, both)
    return (getattr(args, g) if getattr(args, g) is not None else v,
            getattr(args, d) if getattr(args, d) is not None else v)


def _q(text):
    """``--q``: a finite number, or ``auto`` (q = 2/mu + mu, Thm. 1; needs --mu > 0)."""
    if text.strip().lower() == "auto":
        return "auto"
    return finite_float("--q")(text)


def _threads(text):
    if text.strip().lower() == "auto":
        return "auto"
    return _positive_int("--threads")(text)


def _resolve_q(args):
    if args.q != "auto":
        return args.q
    if args.mu is None or args.mu <= 0:
        raise CLIError("--q auto means q = 2/mu + mu and needs --mu > 0")
    return 2.0 / args.mu + args.mu


def config_from_args(args):
    from gans.train import TrainConfig
    lr_g, lr_d = _pair(args, "lr", "lr_g", "lr_d")
    alpha_g, alpha_d = _pair(args, "alpha", "alpha_g", "alpha_d")
    if args.precondition is not None and args.optimizer != "derived":
        raise CLIError("--precondition applies to --optimizer derived only")
    if args.optimizer == "derived":
        adam = args.precondition == "adam"
        given = [f for f in (("alpha", "alpha_g", "alpha_d", "beta") if adam else
                             ("lr", "lr_g", "lr_d", "alpha", "alpha_g", "alpha_d", "beta"))
                 if getattr(args, f) is not None]
        if given:
            raise CLIError(f"--optimizer derived takes its coefficients from the rule; "
                           f"--{given[0].replace('_', '-')} does not apply (use --delta, --mu, --q)")
    betas = _betas(args)
    if args.iters is None and args.preset is None:
        raise CLIError("--iters is required (or give --preset, which sets it)")
    kw = dict(
        task=args.task, optimizer=args.optimizer, iters=args.iters, model=args.model, loss=args.loss,
        batch_size=args.batch_size, lr_g=lr_g, lr_d=lr_d, alpha_g=alpha_g, alpha_d=alpha_d,
        betas=betas, beta=args.beta, hyper=parse_hyper(args.hyper), n_dis=args.n_dis, ema=args.ema,
        seed=args.seed, width=args.width, z_dim=args.z_dim, gp_weight=args.gp_weight,
        device=args.device, data_dir=args.data, out=args.out, checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every, eval_samples=args.eval_samples, log_every=args.log_every,
        progress=not args.no_progress, fid_features=args.fid_features,
        inception_weights=args.inception_weights, classifier_cache=args.classifier_cache,
        forces=args.forces, scheme=args.scheme, delta=args.delta, mu=args.mu, q=_resolve_q(args),
        gamma=args.gamma, precondition=args.precondition,
        nproc=args.nproc, on_nonfinite=args.on_nonfinite,
        rollback_lr_factor=args.rollback_lr_factor, max_rollbacks=args.max_rollbacks,
        init=args.init, data_radius=args.data_radius, data_std=args.data_std,
        threads=args.threads)
    if args.preset is not None:   # a flag given explicitly (not None) overrides the preset
        from gans.presets import config
        return config(args.preset, **{k: v for k, v in kw.items() if v is not None})
    defaults = {"batch_size": 128, "init": "default"}
    return TrainConfig(**{k: defaults.get(k) if v is None and k in defaults else v
                          for k, v in kw.items()})


def _betas(args):
    """``--beta1`` / ``--beta2`` over the preset's (per-player) or the task's betas."""
    if args.beta1 is None and args.beta2 is None:
        return None
    from gans.presets import PRESETS, player_betas
    from gans.train import TASKS
    base = (PRESETS[args.preset].settings.get("betas") if args.preset else None) or TASKS[args.task].betas
    pair = tuple((b[0] if args.beta1 is None else args.beta1, b[1] if args.beta2 is None else args.beta2)
                 for b in player_betas(base))
    return pair if pair[0] != pair[1] else pair[0]


def run(args) -> int:
    from gans.data import DataFormatError
    from gans.train import TASKS, train
    if TASKS[args.task].needs_data_dir and not args.data:
        raise CLIError(f"--task {args.task} reads the dataset's files from a directory: "
                       "give --data DIR (nothing is downloaded)")
    if args.out:
        check_output_dir(args.out)
    if args.resume and args.overwrite:
        raise CLIError("--resume continues the run in --out and --overwrite replaces it: "
                       "give one of them")
    if args.device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            raise CLIError("--device cuda: CUDA is not available on this machine (use auto or cpu)")
    _log_to_stderr()
    from optimizers.distributed import init_from_env, world
    if args.nproc > 1 and "RANK" in os.environ:
        raise CLIError("--nproc launches its own processes; under torchrun leave it at 1")
    init_from_env()                                   # under torchrun: join its group
    try:
        result = train(config_from_args(args), resume=args.resume, overwrite=args.overwrite)
    except (ValueError, TypeError, DataFormatError) as err:
        raise CLIError(" ".join(str(err).split())) from None
    if world()[0] != 0:                               # rank 0 reports
        return 0
    s = result.summary
    if args.json:
        from gans.report import _clean
        print(json.dumps(_clean(s)))
    else:
        _print_summary(s, args)
    if s["diverged_at"] is not None:
        print(f"gamemech train: diverged at iteration {s['diverged_at']}: "
              f"{s['diverged_reason'][:300]} (exit code {EXIT_DIVERGED}; --on-nonfinite rollback "
              f"retries with lower learning rates)", file=sys.stderr)
        return EXIT_DIVERGED
    return 0


def _print_summary(s, args) -> None:
    if "modes_covered" in s:
        quality = (f"modes covered {s['modes_covered']}/{s['n_modes']}, high-quality "
                   f"{s['hq_fraction']:.3f}, energy distance {s['energy_distance']:.4g}")
    else:
        fid = "n/a" if s.get("fid") is None else f"{s['fid']:.3f}"
        quality = f"FID ({s.get('fid_features') or 'no features'}) {fid}"
    spi = s["seconds_per_iter"]
    resumed = "" if s["resumed_from"] is None else f" (resumed from iteration {s['resumed_from']})"
    print(f"{s['task']} / {s['optimizer']}: {s['iters']} iterations{resumed}"
          f"{' (diverged at %d)' % s['diverged_at'] if s['diverged_at'] is not None else ''}; "
          f"{quality}; {'%.4g s/iter' % spi if spi is not None else 'no new iterations'}"
          f"{'; files in ' + args.out if args.out else ''}")


class _StderrHandler(logging.Handler):
    """Writes to the *current* ``sys.stderr`` (which tests and tools may swap)."""

    def emit(self, record) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001  (logging must not raise)
            self.handleError(record)


def _log_to_stderr() -> None:
    """Show the trainer's messages (size, resume, files written, rollbacks) as
    ``gamemech train: ...`` lines on stderr."""
    logger = logging.getLogger("gans.train")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("gamemech train: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def register(sub) -> None:
    from gans.losses import LOSSES
    from gans.models import MODELS
    from gans.train import OPTIMIZERS, TASKS
    p = sub.add_parser("train", help="train a GAN with a game optimizer (LEAD App. H-I, FR Sec. 6.2)",
                       description="Train a GAN with a game optimizer; write metrics.csv, "
                                   "metrics.json, samples.png (and checkpoint.pt) to --out.",
                       epilog=f"Exit codes: 0 done; 2 bad input (nothing written); "
                              f"{EXIT_DIVERGED} the run diverged (non-finite loss or update; the "
                              f"message names the iteration and the value).")
    p.add_argument("--task", required=True, choices=list(TASKS))
    p.add_argument("--optimizer", default="lead-adam", choices=list(OPTIMIZERS),
                   help="game optimizer (default lead-adam); adam = simultaneous Adam, "
                        "adam-alt = alternating Adam (generator first)")
    p.add_argument("--model", default=None, choices=list(MODELS), help="default: the task's")
    p.add_argument("--loss", default=None, choices=list(LOSSES),
                   help="default: saturating for mixtures, non-saturating for images")
    p.add_argument("--iters", type=_positive_int("--iters"), default=None,
                   help="iterations (required unless --preset sets them)")
    from gans.presets import PRESETS
    p.add_argument("--preset", default=None, choices=list(PRESETS),
                   help="named settings of a paper's experiment (gans.presets: lead-code = the "
                        "official LEAD code's 8-Gaussians, lead-paper = the paper's text); "
                        "flags given explicitly override it")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory")
    p.add_argument("--data", default=None, metavar="DIR", help="dataset directory (cifar10, mnist)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier run in --out (without it, or --resume, an --out "
                        "holding a run is refused)")
    p.add_argument("--threads", type=_threads, default="auto",
                   help="torch threads: auto (default: 1 for models under 1M parameters, where "
                        "more threads only cost, most of all on a loaded machine; torch's "
                        "default otherwise) or a number")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    h = p.add_argument_group("hyperparameters (None: the task's defaults, LEAD App. I)")
    h.add_argument("--lr", type=finite_float("--lr", 0.0, strict=True), default=None)
    h.add_argument("--lr-g", type=finite_float("--lr-g", 0.0, strict=True), default=None)
    h.add_argument("--lr-d", type=finite_float("--lr-d", 0.0, strict=True), default=None)
    h.add_argument("--alpha", type=finite_float("--alpha"), default=None,
                   help="LEAD coupling alpha for both players")
    h.add_argument("--alpha-g", type=finite_float("--alpha-g"), default=None)
    h.add_argument("--alpha-d", type=finite_float("--alpha-d"), default=None)
    h.add_argument("--beta1", type=finite_float("--beta1"), default=None)
    h.add_argument("--beta2", type=finite_float("--beta2"), default=None)
    h.add_argument("--beta", type=finite_float("--beta"), default=None, help="LEAD momentum beta")
    h.add_argument("--hyper", action="append", metavar="KEY=VALUE",
                   help="extra optimizer hyperparameter, e.g. gamma=0.1 (CO), lam=1 (SGA); repeatable")
    h.add_argument("--batch-size", "--batch", type=_positive_int("--batch-size"), default=None,
                   help="default 128 (or the preset's)")
    from gans.models import INITS
    h.add_argument("--init", default=None, choices=list(INITS),
                   help="weight initialisation: default (PyTorch's) or normal-0.02 (the official "
                        "LEAD code / DCGAN)")
    h.add_argument("--data-radius", type=finite_float("--data-radius", 0.0, strict=True), default=None,
                   help="8gaussians: radius of the means (default 1, App. I.1)")
    h.add_argument("--data-std", type=finite_float("--data-std", 0.0, strict=True), default=None,
                   help="mixtures: per-coordinate std of every mode (default: the task's)")
    h.add_argument("--n-dis", type=_positive_int("--n-dis"), default=1,
                   help="discriminator steps per generator step")
    h.add_argument("--ema", type=finite_float("--ema", 0.0), default=0.0,
                   help="generator EMA decay in [0, 1) (0: off)")
    h.add_argument("--seed", type=int, default=0)
    h.add_argument("--width", type=_positive_int("--width"), default=None,
                   help="model width (mlp: hidden units, default 2000 as Table 2)")
    h.add_argument("--z-dim", type=_positive_int("--z-dim"), default=None)
    h.add_argument("--gp-weight", type=finite_float("--gp-weight", 0.0), default=10.0)
    r = p.add_argument_group("--optimizer derived: the rule derived from forces and a scheme")
    r.add_argument("--forces", default="curl,magnetic,friction")
    r.add_argument("--scheme", default="semi-implicit", help="integrators.schemes name")
    r.add_argument("--delta", type=finite_float("--delta", 0.0, strict=True), default=None)
    r.add_argument("--mu", type=finite_float("--mu", 0.0), default=None)
    r.add_argument("--q", type=_q, default=None,
                   help="magnetic charge, or auto for q = 2/mu + mu (Thm. 1)")
    r.add_argument("--gamma", type=finite_float("--gamma", 0.0), default=None,
                   help="consensus weight gamma (force consensus)")
    r.add_argument("--precondition", choices=["adam"], default=None,
                   help="adam: the rule's direction through Adam, LEAD Alg. 2 (with --lr, "
                        "--beta1/--beta2)")
    f = p.add_argument_group("scale-out and faults")
    f.add_argument("--nproc", type=_positive_int("--nproc"), default=1,
                   help="data-parallel processes (torch.distributed; gloo on CPU, nccl on "
                        "CUDA); --batch-size must divide by it. Or run under torchrun.")
    f.add_argument("--on-nonfinite", choices=["stop", "rollback"], default="stop",
                   help="on a non-finite loss or update: stop (default), or roll back to the "
                        "last good state and lower the learning rates")
    f.add_argument("--rollback-lr-factor", type=finite_float("--rollback-lr-factor", 0.0,
                                                             strict=True), default=0.5,
                   help="learning-rate multiplier per rollback, in (0, 1) (default 0.5)")
    f.add_argument("--max-rollbacks", type=_nonneg_int("--max-rollbacks"), default=3)
    o = p.add_argument_group("logging, evaluation, checkpoints")
    o.add_argument("--checkpoint-every", type=_nonneg_int("--checkpoint-every"), default=0)
    o.add_argument("--eval-every", type=_nonneg_int("--eval-every"), default=0)
    o.add_argument("--eval-samples", type=_positive_int("--eval-samples"), default=2500)
    o.add_argument("--log-every", type=_positive_int("--log-every"), default=10)
    o.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    o.add_argument("--fid-features", default="auto",
                   help="auto | classifier | inception | none | PATH of a TorchScript module")
    o.add_argument("--inception-weights", default=None, metavar="FILE",
                   help="local InceptionV3 FID weights (needs torch-fidelity); never downloaded")
    o.add_argument("--classifier-cache", default=None, metavar="FILE",
                   help="cache of the digits/MNIST feature classifier")
    p.set_defaults(func=run)
