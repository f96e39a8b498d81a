"""The training loop of one process (:func:`train_here`): resume, step, log, evaluate,
checkpoint, handle non-finite values (stop or roll back), and write the run's files.

What the user hears (logger ``gans.train``, INFO; ``gamemech train`` prints it on stderr):
the run's size and threads, the iteration a resumed run starts from, an earlier run
replaced (``overwrite``), every file written, and where and why a run diverged."""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import torch

from .checkpoint import CHECKPOINT, check_out, clear_run, read_checkpoint, remove_stale_temporaries
from .config import TrainConfig
from .device import select_device
from .optimizer_factory import describe_optimizer
from .run import Run, TrainResult

log = logging.getLogger("gans.train")


def train_here(cfg: TrainConfig, resume: bool, overwrite: bool = False) -> TrainResult:
    from .evaluate import Evaluator
    from .report import write_csv

    device = select_device(cfg.device)
    out = Path(cfg.out) if cfg.out else None
    if (resume or cfg.checkpoint_every) and out is None:
        raise ValueError("checkpoints need an output directory (out)")
    check_out(out, resume, overwrite)                  # before any work
    run = Run(cfg, device)
    writer = run.rank == 0                  # rank 0 evaluates and writes the files
    say = log.info if writer else log.debug
    resumed_from = None
    if resume:
        run.load_state_dict(read_checkpoint(out, device))
        resumed_from = run.iteration
        if run.iteration > cfg.iters:
            raise ValueError(f"checkpoint is at iteration {run.iteration}, beyond iters={cfg.iters}")
        say("resumed from iteration %d (%s)", run.iteration, out / CHECKPOINT)
    elif overwrite and writer and out is not None:
        removed = clear_run(out)
        if removed:
            say("replacing the earlier run in %s (removed %s)", out, ", ".join(removed))
    if writer and out is not None and out.is_dir():
        remove_stale_temporaries(out)
    evaluator = Evaluator(cfg, run)
    say("%s / %s: %d parameters on %s, %d torch threads, iterations %d..%d", cfg.task,
        cfg.optimizer, run.n_params, device, torch.get_num_threads(), run.iteration + 1, cfg.iters)
    if cfg.checkpoint_every and writer:
        say("checkpoint every %d iterations to %s", cfg.checkpoint_every, out / CHECKPOINT)

    bar = None
    if cfg.progress and writer:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.iters, initial=run.iteration, desc=f"{cfg.task}/{cfg.optimizer}",
                   dynamic_ncols=True, leave=False)
    start_iter, t_start, diverged = run.iteration, time.perf_counter(), None
    seconds_at_start = run.train_seconds
    rollback = cfg.on_nonfinite == "rollback"
    good, good_every, rollbacks = (run.snapshot() if rollback else None), \
        (cfg.checkpoint_every or cfg.log_every), []
    while run.iteration < cfg.iters:
        t0 = time.perf_counter()
        run.G.train()
        run.D.train()
        fault = _step(run)
        if fault is not None:
            if rollback and len(rollbacks) < cfg.max_rollbacks:
                rollbacks.append(run.roll_back(good, *fault, cfg.rollback_lr_factor))
                run.history.append(rollbacks[-1])
                good = run.snapshot()
                continue
            diverged = fault
            run.history.append({"iter": fault[0], "loss_g": run.last["x"],
                                "loss_d": run.last["y"], "diverged": fault[1]})
            if rollback:
                log.warning("iteration %d: %s; %d rollbacks used, stopping", fault[0],
                            " ".join(fault[1].split())[:300], len(rollbacks))
            break
        run.train_seconds += time.perf_counter() - t0
        it = run.iteration
        row = None
        if it % cfg.log_every == 0 or it == cfg.iters:
            row = _row(run)
        if writer and cfg.eval_every and it % cfg.eval_every == 0 and it != cfg.iters:
            row = row or _row(run)
            row.update(evaluator.evaluate())
            if out is not None:
                _write_samples(evaluator, out / f"samples_{it:07d}.png", say)
        if row is not None:
            run.history.append(row)
        if bar is not None:
            bar.update(1)
            if row is not None:
                bar.set_postfix(loss_g=f"{run.last['x']:.3g}", loss_d=f"{run.last['y']:.3g}")
        snap = None
        if cfg.checkpoint_every and it % cfg.checkpoint_every == 0 and it != cfg.iters:
            snap = run.snapshot()
            if writer:
                run.save_checkpoint(out / CHECKPOINT, snap)
                write_csv(run.history, out / "metrics.csv")
        if rollback and it % good_every == 0:
            good = snap or run.snapshot()
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t_start
    if writer and run.mixture is None:
        say("evaluating %d samples...", cfg.eval_samples)
    final = evaluator.evaluate() if writer else {}
    if not run.history or run.history[-1]["iter"] != run.iteration:
        run.history.append(_row(run))
    run.history[-1].update(final)
    done_here = run.iteration - start_iter
    summary = {"task": cfg.task, "model": cfg.model, "optimizer": cfg.optimizer, "loss": cfg.loss,
               "iters": run.iteration, "seed": cfg.seed, "device": str(device),
               "batch_size": cfg.batch_size, "n_dis": cfg.n_dis, "ema": cfg.ema,
               **_what_ran(cfg, run), "width": cfg.width, "resumed_from": resumed_from,
               "nproc": run.world, "threads": torch.get_num_threads(), "parameters": run.n_params,
               "rollbacks": rollbacks,
               "seconds_per_iter": (run.train_seconds - seconds_at_start) / done_here
               if done_here > 0 else None,
               "wall_seconds": round(wall, 3),
               "diverged_at": None if diverged is None else diverged[0],
               "diverged_reason": None if diverged is None else " ".join(diverged[1].split()),
               "loss_g": run.last["x"], "loss_d": run.last["y"], **final}
    from .presets import resolved_settings
    summary["config"] = resolved_settings(cfg, run.mixture, run.z_dim)
    if out is not None and writer:
        summary["files"] = _write_files(run, evaluator, out, summary, say)
    return TrainResult(cfg, run.G, run.D, run.G_ema, summary, run.history)


def _step(run: Run):
    """One iteration; ``None``, or ``(iteration, message)`` when something went non-finite."""
    try:
        run.step()
    except FloatingPointError as err:  # includes optimizers.NonFiniteError (names its step)
        return run.iteration + 1, str(err)
    if not (math.isfinite(run.last["x"]) and math.isfinite(run.last["y"])):
        return run.iteration, (f"non-finite loss at iteration {run.iteration} "
                               f"(loss_g={run.last['x']}, loss_d={run.last['y']})")
    return None


def _row(run: Run) -> dict:
    return {"iter": run.iteration, "loss_g": run.last["x"], "loss_d": run.last["y"],
            "seconds": round(run.train_seconds, 4)}


def _what_ran(cfg: TrainConfig, run: Run) -> dict:
    """The optimizer's actual hyperparameters (from the optimizer, not the task defaults):
    ``lr``/``alpha``/``betas`` as (generator, discriminator) pairs (``None`` where the
    optimizer has no such hyperparameter), the full per-player record, and for a derived
    rule its forces, scheme, delta, mu, q and coefficients."""
    rec = describe_optimizer(cfg, run.opt)
    hp = rec["hyperparameters"]

    def pair(name):
        values = [hp.get(p, {}).get(name) for p in ("generator", "discriminator")]
        return None if all(v is None for v in values) else values
    out = {"lr": pair("lr"), "alpha": pair("alpha"), "betas": pair("betas"),
           "hyperparameters": hp, "optimizer_class": rec["class"],
           "optimizer_options": rec["options"]}
    if "derived" in rec:
        out["derived"] = rec["derived"]
    return out


def _write_samples(evaluator, path: Path, say) -> None:
    from .report import write_samples_plot
    write_samples_plot(evaluator, path)
    say("wrote %s", path)


def _write_files(run: Run, evaluator, out: Path, summary: dict, say) -> dict:
    from .report import write_csv, write_json
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": str(out / "metrics.csv"), "json": str(out / "metrics.json"),
             "samples": str(out / "samples.png")}
    write_csv(run.history, out / "metrics.csv")
    say("wrote %s", out / "metrics.csv")
    if run.cfg.checkpoint_every:
        run.save_checkpoint(out / CHECKPOINT)
        files["checkpoint"] = str(out / CHECKPOINT)
        say("wrote %s", out / CHECKPOINT)
    _write_samples(evaluator, out / "samples.png", say)
    summary["files"] = files
    write_json(summary, out / "metrics.json")
    say("wrote %s", out / "metrics.json")
    return files
