"""The training loop of one process (:func:`train_here`): resume, step, log, evaluate,
checkpoint, handle non-finite values (stop or roll back), and write the run's files."""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from .checkpoint import CHECKPOINT, read_checkpoint, remove_stale_temporaries
from .config import TrainConfig
from .device import select_device
from .run import Run, TrainResult

log = logging.getLogger("gans.train")


def train_here(cfg: TrainConfig, resume: bool) -> TrainResult:
    from .evaluate import Evaluator
    from .report import write_csv, write_json, write_samples_plot

    device = select_device(cfg.device)
    out = Path(cfg.out) if cfg.out else None
    if (resume or cfg.checkpoint_every) and out is None:
        raise ValueError("checkpoints need an output directory (out)")
    run = Run(cfg, device)
    writer = run.rank == 0                  # rank 0 evaluates and writes the files
    resumed_from = None
    if resume:
        run.load_state_dict(read_checkpoint(out, device))
        resumed_from = run.iteration
        if run.iteration > cfg.iters:
            raise ValueError(f"checkpoint is at iteration {run.iteration}, beyond iters={cfg.iters}")
    if writer and out is not None and out.is_dir():
        remove_stale_temporaries(out)
    evaluator = Evaluator(cfg, run)

    bar = None
    if cfg.progress and writer:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.iters, initial=run.iteration, desc=f"{cfg.task}/{cfg.optimizer}",
                   dynamic_ncols=True, leave=False)
    start_iter, t_start, diverged_at = run.iteration, time.perf_counter(), None
    seconds_at_start = run.train_seconds
    rollback = cfg.on_nonfinite == "rollback"
    good, good_every, rollbacks = (run.snapshot() if rollback else None), \
        (cfg.checkpoint_every or cfg.log_every), []
    while run.iteration < cfg.iters:
        t0 = time.perf_counter()
        run.G.train()
        run.D.train()
        fault = None
        try:
            run.step()
        except FloatingPointError as err:  # includes optimizers.NonFiniteError (names its step)
            fault = (run.iteration + 1, str(err))
        else:
            if not (math.isfinite(run.last["x"]) and math.isfinite(run.last["y"])):
                fault = (run.iteration, f"non-finite loss at iteration {run.iteration} "
                         f"(loss_g={run.last['x']}, loss_d={run.last['y']})")
        if fault is not None:
            if rollback and len(rollbacks) < cfg.max_rollbacks:
                rollbacks.append(run.roll_back(good, *fault, cfg.rollback_lr_factor))
                run.history.append(rollbacks[-1])
                good = run.snapshot()
                continue
            diverged_at = fault[0]
            run.history.append({"iter": diverged_at, "loss_g": run.last["x"],
                                "loss_d": run.last["y"], "diverged": fault[1]})
            if rollback:
                log.warning("iteration %d: %s; %d rollbacks used, stopping", fault[0],
                            " ".join(fault[1].split())[:300], len(rollbacks))
            break
        run.train_seconds += time.perf_counter() - t0
        it = run.iteration
        row = None
        if it % cfg.log_every == 0 or it == cfg.iters:
            row = {"iter": it, "loss_g": run.last["x"], "loss_d": run.last["y"],
                   "seconds": round(run.train_seconds, 4)}
        if writer and cfg.eval_every and it % cfg.eval_every == 0 and it != cfg.iters:
            row = row or {"iter": it, "loss_g": run.last["x"], "loss_d": run.last["y"],
                          "seconds": round(run.train_seconds, 4)}
            row.update(evaluator.evaluate())
            if out is not None:
                write_samples_plot(evaluator, out / f"samples_{it:07d}.png")
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
    final = evaluator.evaluate() if writer else {}
    if not run.history or run.history[-1]["iter"] != run.iteration:
        run.history.append({"iter": run.iteration, "loss_g": run.last["x"], "loss_d": run.last["y"],
                            "seconds": round(run.train_seconds, 4)})
    run.history[-1].update(final)
    done_here = run.iteration - start_iter
    summary = {"task": cfg.task, "model": cfg.model, "optimizer": cfg.optimizer, "loss": cfg.loss,
               "iters": run.iteration, "seed": cfg.seed, "device": str(device),
               "batch_size": cfg.batch_size, "n_dis": cfg.n_dis, "ema": cfg.ema,
               "lr": [cfg.lr_g, cfg.lr_d], "alpha": [cfg.alpha_g, cfg.alpha_d],
               "betas": list(cfg.betas), "width": cfg.width, "resumed_from": resumed_from,
               "nproc": run.world, "rollbacks": rollbacks,
               "seconds_per_iter": (run.train_seconds - seconds_at_start) / done_here
               if done_here > 0 else None,
               "wall_seconds": round(wall, 3), "diverged_at": diverged_at, "loss_g": run.last["x"], "loss_d": run.last["y"],
               **final}
    from .presets import resolved_settings
    summary["config"] = resolved_settings(cfg, run.mixture, run.z_dim)
    if out is not None and writer:
        out.mkdir(parents=True, exist_ok=True)
        write_csv(run.history, out / "metrics.csv")
        summary["files"] = {"csv": str(out / "metrics.csv"), "json": str(out / "metrics.json"),
                            "samples": str(out / "samples.png")}
        if cfg.checkpoint_every:
            run.save_checkpoint(out / CHECKPOINT)
            summary["files"]["checkpoint"] = str(out / CHECKPOINT)
        write_samples_plot(evaluator, out / "samples.png")
        write_json(summary, out / "metrics.json")
    return TrainResult(cfg, run.G, run.D, run.G_ema, summary, run.history)
