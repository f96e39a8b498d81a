"""Checkpoint files of a run: the name, the atomic write, the guarded read, and the
clean-up of temporaries left by a killed process."""
from __future__ import annotations

from pathlib import Path

import torch

from mechanics.utils.atomic import atomic_write_bytes

CHECKPOINT = "checkpoint.pt"


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
