"""Capture and restore of the global random number generators (torch, CUDA, numpy,
Python's ``random``), and seeding them all.

The captured state holds only tensors and plain lists, what
``torch.load(weights_only=True)`` accepts, so it goes into checkpoints as it is. CUDA's
generators are captured only once CUDA is initialized (capturing never initializes it).
"""
from __future__ import annotations

import random

import numpy as np
import torch


def rng_state() -> dict:
    """The state of every global generator: ``{"torch", "cuda", "numpy", "python"}``."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    cuda = (torch.cuda.get_rng_state_all()
            if torch.cuda.is_available() and torch.cuda.is_initialized() else [])
    return {"torch": torch.get_rng_state(), "cuda": cuda,
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                      int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": [py_state[0], list(py_state[1]), py_state[2]]}


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured (CUDA's part where CUDA is available)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy and torch (CUDA included) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
