"""Data-parallel training launched from one process: :func:`train_spawned` starts
``cfg.nproc`` ranks of :func:`gans.loop.train_here` and returns rank 0's result."""
from __future__ import annotations

import copy
import json
import os

import torch

from .config import TrainConfig
from .device import select_device
from .loop import train_here
from .models import build_models
from .run import TrainResult
from .tasks import load_task_data


def spawned_rank(rank: int, world: int, cfg: TrainConfig, resume: bool, result: str,
                 overwrite: bool = False) -> None:
    """One process of :func:`train_spawned` (the process group is already set up)."""
    res = train_here(cfg, resume, overwrite)
    if rank == 0:
        from .report import _clean
        torch.save({"G": res.G.state_dict(), "D": res.D.state_dict(),
                    "G_ema": None if res.G_ema is None else res.G_ema.state_dict(),
                    "summary": json.dumps(_clean(res.summary)),
                    "history": json.dumps(_clean(res.history))}, result)


def train_spawned(cfg: TrainConfig, resume: bool, overwrite: bool = False) -> TrainResult:
    """Launch ``cfg.nproc`` processes (:func:`optimizers.distributed.launch`; gloo on CPU,
    nccl when training on CUDA) and return rank 0's result."""
    import tempfile

    from optimizers.distributed import launch
    device = select_device(cfg.device)
    if device.type == "cuda" and torch.cuda.device_count() < cfg.nproc:
        raise ValueError(f"nproc={cfg.nproc} needs as many GPUs; {torch.cuda.device_count()} visible")
    backend = "nccl" if device.type == "cuda" else "gloo"
    with tempfile.TemporaryDirectory(prefix="gamemech-train-") as tmp:
        result = os.path.join(tmp, "result.pt")
        try:
            launch(spawned_rank, cfg.nproc, args=(cfg, resume, result, overwrite), backend=backend)
        except Exception as err:  # a rank's ValueError arrives wrapped: keep its last line
            lines = [l for l in str(err).strip().splitlines() if l.strip()]
            last = lines[-1] if lines else type(err).__name__
            raise ValueError(f"data-parallel training failed: {last}") from None
        state = torch.load(result, weights_only=True)
    _, _, _, shape = load_task_data(cfg)
    G, D, _ = build_models(cfg.model, shape, cfg.z_dim, cfg.width)
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    G_ema = None
    if state["G_ema"] is not None:
        G_ema = copy.deepcopy(G).requires_grad_(False)
        G_ema.load_state_dict(state["G_ema"])
    return TrainResult(cfg, G.float(), D.float(), G_ema, json.loads(state["summary"]),
                       json.loads(state["history"]))
