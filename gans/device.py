"""Where a run executes: the torch device and the process group's (rank, world size)."""
from __future__ import annotations

import torch


def select_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else CPU. ``cuda`` without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but CUDA is not available on this machine")
        return torch.device(name)
    raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")


def world():
    """``(rank, world size)`` of the process group (``(0, 1)`` without one)."""
    from optimizers.distributed import world as _world
    return _world()
