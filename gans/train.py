"""One training loop for every game optimizer: :func:`train` with a :class:`TrainConfig`.

An iteration draws one real batch, one latent batch ``z`` (and, for WGAN-GP, one ``eps``),
then calls ``opt.step(closure)`` once; ``closure(player)`` recomputes ``G(z)`` and returns
that player's loss (:mod:`gans.losses`), ``closure()`` the pair -- the contract of the
optimizers issue, with ``x`` = generator and ``y`` = discriminator. Every call within one
step sees the same batch, so extragradient-type methods evaluate one game.

``n_dis > 1``: before the joint step, the discriminator takes ``n_dis - 1`` steps alone
(fresh batches each): with the optimizer's own ``step_player`` when it has one (the Adam
baselines of :mod:`gans.adam`), otherwise with a separate ``torch.optim.Adam`` over the
discriminator (its learning rate and betas).

Reproducibility: the model initialisation uses the global RNG seeded with ``seed``; data,
latents and ``eps`` come from their own ``torch.Generator`` objects; evaluation runs under a
forked RNG with its own seed. A checkpoint holds the models, the EMA generator, the
optimizer state, every generator's state and the global RNG states, so a resumed run ends
with the same parameters as an uninterrupted one. Checkpoints are written atomically
(temporary file, then rename) and read with ``torch.load(weights_only=True)``.

Data parallel (``nproc > 1``, or a process group already set up by torchrun): every rank
draws the same full batch (same generators), keeps its equal share (``batch_size`` must
divide by the number of processes) and the optimizer averages every derivative over ranks
(:mod:`optimizers.distributed`), so N processes follow the iterates of one process on the
whole batch (up to rounding; batch normalisation sees only the rank's share). Rank 0
evaluates and writes every file.

Non-finite values: a non-finite loss or update stops the run and records the step
(``on_nonfinite="stop"``), or (``"rollback"``) restores the last good state (the last
checkpoint, or an in-memory snapshot every ``checkpoint_every or log_every`` iterations),
multiplies every learning rate by ``rollback_lr_factor`` and goes on, at most
``max_rollbacks`` times; each rollback is logged (logger ``gans.train``, a warning) and
recorded in the history and the summary.

The modules, one job each: :mod:`gans.tasks` (task registry and data loading),
:mod:`gans.optimizer_factory` (optimizer registry), :mod:`gans.config` (:class:`TrainConfig`),
:mod:`gans.device`, :mod:`gans.checkpoint`, :mod:`gans.run` (one run's state and step),
:mod:`gans.loop` (the loop) and :mod:`gans.parallel` (spawned data parallel); the RNGs
are :mod:`mechanics.utils.rng`'s. This module keeps :func:`train` and re-exports their
public names.
"""
from __future__ import annotations

from mechanics.utils.rng import seed_everything

from .checkpoint import CHECKPOINT
from .config import NONFINITE_POLICIES, TrainConfig
from .config import config_key as _config_key  # noqa: F401 (used by tests and tools)
from .device import select_device
from .device import world as _world
from .loop import log
from .loop import train_here as _train_here
from .optimizer_factory import OPTIMIZER_DEFAULTS, OPTIMIZERS, build_derived, build_optimizer
from .parallel import train_spawned as _train_spawned
from .run import Run as _Run  # noqa: F401 (used by tests)
from .run import TrainResult
from .tasks import MIXTURES, TASKS, Task, load_task_data

__all__ = ["CHECKPOINT", "MIXTURES", "NONFINITE_POLICIES", "OPTIMIZERS", "OPTIMIZER_DEFAULTS",
           "TASKS", "Task", "TrainConfig", "TrainResult", "build_derived", "build_optimizer",
           "load_task_data", "log", "seed_everything", "select_device", "train"]


def train(cfg: TrainConfig, resume: bool = False, overwrite: bool = False) -> TrainResult:
    """Train; write ``metrics.csv``, ``metrics.json``, ``samples.png`` and checkpoints to
    ``cfg.out`` (when given). ``resume``: continue from ``cfg.out/checkpoint.pt``. An
    earlier run in ``cfg.out`` is a ``ValueError`` unless ``resume`` or ``overwrite`` (which
    deletes its files once the new run is set up). ``cfg.nproc > 1`` launches that many
    data-parallel processes (module docstring)."""
    cfg = cfg.resolved()
    if cfg.nproc > 1 and _world()[1] == 1:
        return _train_spawned(cfg, resume, overwrite)
    return _train_here(cfg, resume, overwrite)
