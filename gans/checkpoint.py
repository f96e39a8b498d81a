"""Checkpoint files of a run: the name, the atomic write, the guarded read, and the
clean-up of temporaries left by a killed process."""
from __future__ import annotations

from pathlib import Path

import torch

from mechanics.utils.atomic import atomic_write_bytes

CHECKPOINT = "checkpoint.pt"
#: the files of a run in its output directory (plus the ``samples_<iter>.png`` of evaluations)
RUN_FILES = (CHECKPOINT, "metrics.json", "metrics.csv", "samples.png")


def held_run_files(out: Path) -> list:
    """The files of an earlier run in ``out`` (empty when there is none)."""
    if not out.is_dir():
        return []
    return [f for f in RUN_FILES if (out / f).exists()] + \
        sorted(p.name for p in out.glob("samples_*.png"))


def check_out(out: Path | None, resume: bool, overwrite: bool) -> None:
    """Before any work: ``out`` must be a directory (or creatable), and an earlier run in it
    is only continued (``resume``) or replaced (``overwrite``), never overwritten silently."""
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise ValueError(f"out {out} exists and is not a directory")
    base = out
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ValueError(f"cannot create out {out}: {base} is a file, not a directory")
    held = held_run_files(out)
    if held and not (resume or overwrite):
        raise ValueError(f"out {out} already holds a run ({', '.join(held[:4])}"
                         f"{', ...' if len(held) > 4 else ''}); resume it (--resume) or replace "
                         "it (--overwrite)")


def clear_run(out: Path) -> list:
    """Delete the files of an earlier run in ``out`` (``overwrite``); return their names."""
    held = held_run_files(out)
    for name in held:
        (out / name).unlink(missing_ok=True)
    return held


def write_checkpoint(path: Path, data: bytes) -> None:
    """Write a checkpoint's bytes atomically (temporary file, then rename)."""
    atomic_write_bytes(path, data, what="checkpoint")


def read_checkpoint(out: Path, device) -> dict:
    """The checkpoint in directory ``out`` (``torch.load(weights_only=True)``); a missing,
    damaged or foreign file is a ValueError naming it."""
    ckpt = out / CHECKPOINT
    if not ckpt.is_file():
        raise ValueError(f"nothing to resume: {ckpt} does not exist")
    try:
        return torch.load(ckpt, weights_only=True, map_location=device)
    except Exception as err:  # a damaged or foreign file
        raise ValueError(f"cannot read checkpoint {ckpt}: {' '.join(str(err).split())[:200]}") from None


def remove_stale_temporaries(out: Path) -> None:
    """Temporary files of atomic writes cut short by a killed process."""
    for tmp in out.glob(".*.tmp"):
        if tmp.name.startswith((f".{CHECKPOINT}.", ".metrics.")):
            tmp.unlink(missing_ok=True)
