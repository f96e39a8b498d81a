"""Faults in GAN training (gans.train): a run killed with a real SIGKILL at a random step
and resumed ends exactly where an uninterrupted run ends; checkpoints are atomic; a
non-finite loss or update is detected with its step and can be rolled back with a lower
learning rate; data-parallel training (nproc=2, gloo) follows one process."""
from __future__ import annotations

import csv
import logging
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import gans.train as gt
from gamemech.cli import main

BASE = dict(task="mog1d", width=16, batch_size=16, progress=False, seed=3)
ARGS = ["--task", "mog1d", "--width", "16", "--batch-size", "16", "--no-progress",
        "--seed", "3"]


def _ckpt(path):
    return torch.load(Path(path) / gt.CHECKPOINT, weights_only=True)


def _assert_same_state(a, b, exact=True, atol=0.0):
    """Models, optimizer state, samplers and RNG streams agree."""
    def walk(x, y, where):
        if isinstance(x, torch.Tensor):
            assert isinstance(y, torch.Tensor) and x.shape == y.shape, where
            if exact or not x.is_floating_point():
                assert torch.equal(x, y), where
            else:
                torch.testing.assert_close(x, y, rtol=0, atol=atol, msg=where)
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), where
            for k in x:
                if f"{where}.{k}" != "opt.game.auto_mode":   # LEAD-Adam auto's timings
                    walk(x[k], y[k], f"{where}.{k}")          # (its choice: in the iterates)
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y), where
            for i, (u, v) in enumerate(zip(x, y)):
                walk(u, v, f"{where}[{i}]")
        elif isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), where
        else:
            assert x == y, where
    for key in ("iteration", "G", "D", "opt", "sampler", "noise", "rng"):
        walk(a[key], b[key], key)


def _rows(path):
    with open(Path(path) / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def _spawn_and_kill(out, iters, rng):
    """Start ``gamemech train`` in a subprocess; SIGKILL it at a random moment after its
    first checkpoint. Returns the iteration of the checkpoint it left behind."""
    cmd = [sys.executable, "-c", "import sys; from gamemech.cli import main; sys.exit(main())",
           "train", *ARGS, "--iters", str(iters), "--checkpoint-every", "7", "--log-every", "1",
           "--out", str(out)]
    if (Path(out) / gt.CHECKPOINT).exists():
        cmd.append("--resume")
    before = _ckpt(out)["iteration"] if "--resume" in cmd else 0
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:          # wait for a checkpoint newer than before
        try:
            if _ckpt(out)["iteration"] > before:
                break
        except (FileNotFoundError, RuntimeError, EOFError):
            pass
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.3))           # then a random moment later
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL, "the run ended before it was killed"
    return _ckpt(out)["iteration"]


def test_sigkill_at_random_steps_then_resume_is_exact(tmp_path):
    iters = 400
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    ref = tmp_path / "uninterrupted"
    assert main(["train", *ARGS, "--iters", str(iters), "--checkpoint-every", "7",
                 "--log-every", "1", "--out", str(ref)]) == 0
    run = tmp_path / "killed"
    killed_at = [_spawn_and_kill(run, iters, rng) for _ in range(2)]   # killed twice
    assert 0 < killed_at[0] < killed_at[1] < iters, (seed, killed_at)
    assert main(["train", *ARGS, "--iters", str(iters), "--checkpoint-every", "7",
                 "--log-every", "1", "--out", str(run), "--resume"]) == 0
    _assert_same_state(_ckpt(ref), _ckpt(run), exact=True)
    ref_rows, rows = _rows(ref), _rows(run)     # nothing lost, nothing repeated
    assert [r["iter"] for r in rows] == [str(i) for i in range(1, iters + 1)]
    assert [(r["loss_g"], r["loss_d"]) for r in rows] == \
        [(r["loss_g"], r["loss_d"]) for r in ref_rows]
    assert not list(run.glob(".*.tmp")), "temporary files left behind"
    print(f"killed at checkpoints {killed_at} (seed {seed})")


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "run"
    gt.train(gt.TrainConfig(iters=4, checkpoint_every=2, out=str(out), **BASE))
    good = (out / gt.CHECKPOINT).read_bytes()

    def dies(src, dst):
        raise OSError("disk full (injected)")
    monkeypatch.setattr(os, "replace", dies)
    cfg = gt.TrainConfig(iters=6, checkpoint_every=2, out=str(out), **BASE)
    with pytest.raises(OSError, match="injected"):
        gt.train(cfg, resume=True)
    monkeypatch.undo()
    assert (out / gt.CHECKPOINT).read_bytes() == good         # the old one, intact
    assert not list(out.glob(".*.tmp"))                         # the temporary removed
    (out / f".{gt.CHECKPOINT}.abc123.tmp").write_bytes(good[:100])   # as left by SIGKILL
    gt.train(cfg, resume=True)
    assert not list(out.glob(".*.tmp")) and _ckpt(out)["iteration"] == 6


def test_damaged_checkpoint_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "run"
    gt.train(gt.TrainConfig(iters=2, checkpoint_every=1, out=str(out), **BASE))
    data = (out / gt.CHECKPOINT).read_bytes()
    (out / gt.CHECKPOINT).write_bytes(data[: len(data) // 2])
    rc = main(["train", *ARGS, "--iters", "4", "--checkpoint-every", "1", "--out", str(out),
               "--resume"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot read checkpoint" in err and "Traceback" not in err


@pytest.fixture
def poison(monkeypatch):
    """Set the discriminator's first weight to NaN before iteration ``at + 1`` (once)."""
    state = {"at": None, "fired": 0}
    orig = gt._Run.step

    def step(self):
        if self.iteration == state["at"] and not state["fired"]:
            state["fired"] += 1
            with torch.no_grad():
                next(self.D.parameters()).fill_(float("nan"))
        return orig(self)
    monkeypatch.setattr(gt._Run, "step", step)
    return state


def test_nonfinite_loss_stops_with_its_step(tmp_path, poison):
    poison["at"] = 13
    r = gt.train(gt.TrainConfig(iters=20, log_every=5, out=str(tmp_path / "s"), **BASE))
    assert r.summary["diverged_at"] == 14 and r.summary["iters"] == 13
    (msg,) = [h["diverged"] for h in r.history if "diverged" in h]
    assert "step 14" in msg and "non-finite loss" in msg


def test_nonfinite_rollback_lowers_lr_and_finishes(tmp_path, poison, caplog):
    poison["at"] = 13
    cfg = gt.TrainConfig(iters=20, log_every=5, on_nonfinite="rollback", out=str(tmp_path / "r"),
                         **BASE)
    with caplog.at_level(logging.WARNING, logger="gans.train"):
        r = gt.train(cfg)
    assert r.summary["diverged_at"] is None and r.summary["iters"] == 20
    (event,) = r.summary["rollbacks"]
    assert event["iter"] == 14 and event["to_iter"] == 10        # last snapshot: iteration 10
    assert event["lr_after"] == [v * 0.5 for v in event["lr_before"]]
    assert all(torch.isfinite(p).all() for p in list(r.G.parameters()) + list(r.D.parameters()))
    assert "iteration 14" in caplog.text and "rolled back to iteration 10" in caplog.text
    assert any(row.get("event") == "rollback" for row in r.history)


def test_nonfinite_update_detected_then_rollbacks_exhausted(tmp_path, caplog):
    """GDA with lr 1e300: the first update overflows. Each rollback halves the rates; after
    max_rollbacks the run stops, naming the step."""
    cfg = gt.TrainConfig(iters=5, optimizer="gda", lr_g=1e300, lr_d=1e300, log_every=1,
                         on_nonfinite="rollback", max_rollbacks=2, **BASE)
    with caplog.at_level(logging.WARNING, logger="gans.train"):
        r = gt.train(cfg)
    assert r.summary["diverged_at"] == 1 and len(r.summary["rollbacks"]) == 2
    (msg,) = [h["diverged"] for h in r.history if "diverged" in h]
    assert "non-finite iterate" in msg and "step 1" in msg
    first, second = r.summary["rollbacks"]
    assert second["lr_before"] == first["lr_after"]              # compounding
    assert second["lr_after"] == [v * 0.25 for v in first["lr_before"]]
    assert "2 rollbacks used, stopping" in caplog.text


def test_nproc2_then_resume_on_one_process_matches_one_process(tmp_path):
    """2 gloo processes for 10 iterations, resumed by 1 process to 20 == 1 process for 20."""
    one = tmp_path / "one"
    gt.train(gt.TrainConfig(iters=20, checkpoint_every=10, out=str(one), **BASE))
    two = tmp_path / "two"
    r2 = gt.train(gt.TrainConfig(iters=10, checkpoint_every=10, nproc=2, out=str(two), **BASE))
    assert r2.summary["nproc"] == 2 and _ckpt(two)["iteration"] == 10
    gt.train(gt.TrainConfig(iters=20, checkpoint_every=10, out=str(two), **BASE), resume=True)
    # float32 models: mean of two shard means vs one mean, 20 Adam steps (~1e-8 seen)
    _assert_same_state(_ckpt(one), _ckpt(two), exact=False, atol=1e-6)


def test_nproc_refuses_unequal_shards_and_non_game_optimizers():
    with pytest.raises(ValueError, match="equal shards"):
        gt.train(gt.TrainConfig(iters=1, nproc=3, **BASE))
    with pytest.raises(ValueError, match="game optimizer"):
        gt.train(gt.TrainConfig(iters=1, nproc=2, optimizer="adam", **BASE))
