"""Data-parallel game optimization on ``torch.distributed``.

Each rank evaluates the players' losses on its own shard of the batch; every derivative
an optimizer takes from an :class:`~optimizers.autodiff.Evaluation` -- gradients
``grad_i L_s``, Hessian-block products ``grad_ij L_s . v`` (LEAD's mixed term eq. 12,
Alg. 1-2; CGD's and FR's blocks), loss values, and CO's / SGA's ``J^T xi`` -- is
averaged over ranks with ``all_reduce`` (sum) divided by the world size. Every rank then
computes the same update, so the parameters stay identical without being sent around.
No optimizer's math changes: the hook sits in the Evaluation (see ``optimizers.autodiff``).

Why it is exact. With the global loss the mean of equal-sized shard means,
``L = (1/W) sum_r L_r``, every quantity above is linear in the loss for a fixed vector
``v`` (``grad L = mean grad L_r``, ``grad_ij L . v = mean grad_ij L_r . v``); the vectors
``v`` an optimizer feeds in (displacements ``d_j``, CG directions, ``xi``) are built from
already-averaged values, so they agree on all ranks. CO's ``grad 1/2 |xi|^2 = J^T xi`` is
not linear in the loss, so ``xi`` is averaged first and ``J_r^T xi`` is averaged after
(the value shift in ``Evaluation.grad_wrt(graph=True)``). The result equals one process
on the union of the shards up to floating-point rounding (tested to 1e-10, float64).

Usage::

    torch.distributed.init_process_group("gloo", ...)      # or torchrun / launch()
    opt = data_parallel(optimizers.LEADAdam(G.parameters(), D.parameters(), lr=2e-4, alpha=0.1))
    xb = shard(batch)                                       # this rank's equal share
    opt.step(lambda: (loss_g(xb), loss_d(xb)))              # each loss a MEAN over xb

Losses must be means over the shard and shards equal in size for the average to be the
loss of the union (:func:`shard` refuses unequal shards). Every rank must call ``step``
the same number of times with the same closure structure; a rank that raises outside the
optimizer (a bug in its closure) leaves the others waiting until the backend's timeout.
A non-finite loss or iterate on any rank is seen by all (the mean is non-finite), so all
ranks roll back or raise together.
"""
from __future__ import annotations

import os
import tempfile
from typing import Callable, Iterable, List, Optional, Sequence

import torch
import torch.distributed as dist

from .base import GameOptimizer

__all__ = ["AllReduceMean", "data_parallel", "broadcast_parameters", "shard",
           "max_divergence", "world", "launch", "init_from_env"]


def _require_initialized() -> None:
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this build of torch")
    if not dist.is_initialized():
        raise RuntimeError("torch.distributed is not initialized: call "
                           "torch.distributed.init_process_group (or run under torchrun / "
                           "optimizers.distributed.launch) first")


def world(group=None):
    """``(rank, world_size)`` in ``group``; ``(0, 1)`` when not initialized."""
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


class AllReduceMean:
    """Average a list of tensors over the ranks of ``group``: ``all_reduce(SUM) / W``.

    Tensors of one dtype and device are flattened into one buffer, so a call costs one
    collective per dtype. ``calls`` and ``numel`` count the collectives and the elements
    reduced (for cost accounting).
    """

    def __init__(self, group=None):
        _require_initialized()
        self.group = group
        self.world_size = dist.get_world_size(group)
        self.calls = 0
        self.numel = 0

    def __call__(self, tensors: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        tensors = list(tensors)
        if self.world_size == 1 or not tensors:
            return tensors
        out: List[Optional[torch.Tensor]] = [None] * len(tensors)
        buckets = {}
        for k, t in enumerate(tensors):
            buckets.setdefault((t.dtype, t.device), []).append(k)
        for idx in buckets.values():
            flat = torch.cat([tensors[k].detach().reshape(-1) for k in idx])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=self.group)
            flat = flat / self.world_size
            self.calls += 1
            self.numel += flat.numel()
            for k, piece in zip(idx, flat.split([tensors[k].numel() for k in idx])):
                out[k] = piece.view(tensors[k].shape)
        return out  # type: ignore[return-value]


def _all_params(opt: GameOptimizer) -> List[torch.Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]


def broadcast_parameters(params: Iterable[torch.Tensor], src: int = 0, group=None) -> None:
    """Copy rank ``src``'s values of ``params`` to every rank (in place)."""
    _require_initialized()
    with torch.no_grad():
        for p in params:
            buf = p.detach().clone()
            dist.broadcast(buf, src=src, group=group)
            p.copy_(buf)


def data_parallel(optimizer: GameOptimizer, group=None, *, sync: bool = True) -> GameOptimizer:
    """Make ``optimizer`` average its derivatives over the ranks of ``group``.

    ``sync=True`` first broadcasts rank 0's parameters, so all ranks start equal.
    Returns the optimizer (its checkpoints are unchanged and load at any world size).
    """
    if not isinstance(optimizer, GameOptimizer):
        raise TypeError(f"data_parallel needs a GameOptimizer, got {type(optimizer).__name__}")
    optimizer.reducer = AllReduceMean(group)
    if sync:
        broadcast_parameters(_all_params(optimizer), group=group)
    return optimizer


def shard(batch: torch.Tensor, rank: Optional[int] = None, world_size: Optional[int] = None,
          ) -> torch.Tensor:
    """This rank's equal share (along dim 0) of a batch held by every rank.

    Refuses a batch whose size is not a multiple of the world size: with unequal shards
    the mean of shard means is not the mean of the batch."""
    r, w = world()
    rank = r if rank is None else rank
    world_size = w if world_size is None else world_size
    if not isinstance(batch, torch.Tensor) or batch.dim() == 0:
        raise TypeError("shard needs a tensor with a batch dimension")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    n = batch.shape[0]
    if n % world_size:
        raise ValueError(f"batch of {n} does not split into {world_size} equal shards")
    k = n // world_size
    return batch[rank * k:(rank + 1) * k]


def max_divergence(params: Iterable[torch.Tensor], group=None) -> float:
    """Largest ``|p - p_rank0|`` over ranks and parameters (0.0 when all agree)."""
    _require_initialized()
    params = [p.detach() for p in params]
    flat = torch.cat([p.reshape(-1) for p in params]) if params else torch.zeros(0)
    ref = flat.clone()
    dist.broadcast(ref, src=0, group=group)
    dev = (flat - ref).abs().max() if flat.numel() else torch.zeros((), dtype=flat.dtype)
    dev = dev.reshape(1).to(torch.float64)
    dist.all_reduce(dev, op=dist.ReduceOp.MAX, group=group)
    return float(dev)


# ------------------------------------------------------------------ launching
def init_from_env(backend: Optional[str] = None) -> bool:
    """Initialise from torchrun's environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...).

    Returns False (and does nothing) when those variables are absent. The backend
    defaults to ``nccl`` when CUDA is available, else ``gloo``."""
    if dist.is_initialized():
        return True
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return False
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend)
    return True


def _worker(rank: int, fn: Callable, nproc: int, init_file: str, backend: str, args: tuple):
    dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank,
                            world_size=nproc)
    try:
        fn(rank, nproc, *args)
    finally:
        dist.destroy_process_group()


def launch(fn: Callable, nproc: int, args: tuple = (), backend: str = "gloo") -> None:
    """Run ``fn(rank, world_size, *args)`` in ``nproc`` new processes joined in one group.

    Uses ``torch.multiprocessing.spawn`` and a rendezvous file (no network port), so it
    works on one machine without a free port. ``fn`` must be importable (a module-level
    function). Raises ``ProcessRaisedException`` if any process fails.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive integer, got {nproc!r}")
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory(prefix="gamemech-dist-") as tmp:
        init_file = os.path.join(tmp, "rendezvous")
        mp.spawn(_worker, args=(fn, nproc, init_file, backend, tuple(args)), nprocs=nproc,
                 join=True)
