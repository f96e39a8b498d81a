"""What defines a run: :class:`TrainConfig`, its validation against the task and optimizer
registries (:meth:`TrainConfig.resolved`), and the part of it a checkpoint must agree with
(:func:`config_key`)."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from .optimizer_factory import OPTIMIZERS
from .tasks import TASKS

NONFINITE_POLICIES = ("stop", "rollback")
#: below this many parameters (generator + discriminator) ``threads="auto"`` means 1 thread
SMALL_MODEL = 1_000_000


@dataclass
class TrainConfig:
    """Everything that defines a run. ``None`` means "the task's / model's default"."""

    task: str = "8gaussians"
    optimizer: str = "lead-adam"
    iters: int = 1000
    model: str | None = None
    loss: str | None = None
    batch_size: int = 128
    lr_g: float | None = None
    lr_d: float | None = None
    alpha_g: float | None = None
    alpha_d: float | None = None
    betas: tuple | None = None
    beta: float | None = None          #: heavy-ball momentum of LEAD (Algorithm 1)
    hyper: dict = field(default_factory=dict)  #: extra optimizer hyperparameters
    n_dis: int = 1
    ema: float = 0.0
    seed: int = 0
    width: int | None = None
    z_dim: int | None = None
    gp_weight: float = 10.0
    device: str = "auto"
    data_dir: str | None = None
    out: str | None = None
    checkpoint_every: int = 0
    eval_every: int = 0
    eval_samples: int = 2500
    log_every: int = 10
    progress: bool = True
    forces: str = "curl,magnetic,friction"  #: derived: force set of the rule
    scheme: str = "semi-implicit"      #: derived: discretization scheme (integrators.schemes)
    delta: float | None = None         #: derived: time step
    mu: float | None = None            #: derived: friction
    q: float | None = None             #: derived: magnetic charge (eq. 7 convention)
    gamma: float | None = None         #: derived: consensus weight (force "consensus")
    precondition: str | None = None    #: derived: None (the plain rule) or "adam" (Alg. 2)
    fid_features: str = "auto"         #: auto | classifier | inception | none | PATH (TorchScript)
    inception_weights: str | None = None
    classifier_cache: str | None = None
    nproc: int = 1                     #: data-parallel processes (gloo on CPU, nccl on CUDA)
    on_nonfinite: str = "stop"         #: "stop" or "rollback" (see the module docstring)
    rollback_lr_factor: float = 0.5    #: learning rates are multiplied by this per rollback
    max_rollbacks: int = 3
    data_radius: float | None = None   #: 8gaussians: radius of the means (None: 1, App. I.1)
    data_std: float | None = None      #: mixtures: per-coordinate std (None: the task's)
    init: str = "default"              #: models.INITS: "default" (PyTorch) or "normal-0.02"
    preset: str | None = None          #: the gans.presets name this config came from (echoed)
    #: torch threads: None leaves torch's setting; "auto" uses 1 thread for models under
    #: SMALL_MODEL parameters (threads cost more than they give there, and much more on a
    #: loaded machine), torch's default otherwise; an integer sets it (``gamemech train``:
    #: ``--threads``, default auto)
    threads: int | str | None = None

    def resolved(self) -> "TrainConfig":
        """A copy with task defaults filled in and every field validated."""
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        t = TASKS[self.task]
        c = dataclasses.replace(self, hyper=dict(self.hyper))
        c.model = c.model or t.model
        c.loss = c.loss or t.loss
        c.lr_g = t.lr[0] if c.lr_g is None else c.lr_g
        c.lr_d = t.lr[1] if c.lr_d is None else c.lr_d
        c.alpha_g = t.alpha[0] if c.alpha_g is None else c.alpha_g
        c.alpha_d = t.alpha[1] if c.alpha_d is None else c.alpha_d
        c.betas = tuple(t.betas if c.betas is None else c.betas)
        from .presets import check_mixture_settings
        check_mixture_settings(c)
        for name in ("iters", "batch_size", "n_dis", "eval_samples", "log_every"):
            if getattr(c, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(c, name)}")
        for name in ("checkpoint_every", "eval_every"):
            if getattr(c, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(c, name)}")
        for name in ("lr_g", "lr_d"):
            if not (getattr(c, name) > 0 and math.isfinite(getattr(c, name))):
                raise ValueError(f"{name} must be positive and finite, got {getattr(c, name)}")
        if isinstance(c.nproc, bool) or not isinstance(c.nproc, int) or c.nproc < 1:
            raise ValueError(f"nproc must be an integer >= 1, got {c.nproc!r}")
        if c.nproc > 1 and not isinstance(OPTIMIZERS[c.optimizer], str):
            raise ValueError(f"optimizer {c.optimizer!r} is not a game optimizer of optimizers/; "
                             "data-parallel training (nproc > 1) needs one")
        if c.batch_size % c.nproc:
            raise ValueError(f"batch_size {c.batch_size} does not split into nproc={c.nproc} "
                             "equal shards")
        if c.on_nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"on_nonfinite must be one of {', '.join(NONFINITE_POLICIES)}, "
                             f"got {c.on_nonfinite!r}")
        if not 0.0 < c.rollback_lr_factor < 1.0:
            raise ValueError(f"rollback_lr_factor must lie in (0, 1), got {c.rollback_lr_factor}")
        if c.max_rollbacks < 0:
            raise ValueError(f"max_rollbacks must be >= 0, got {c.max_rollbacks}")
        if not (c.threads in (None, "auto") or (isinstance(c.threads, int)
                                                 and not isinstance(c.threads, bool) and c.threads >= 1)):
            raise ValueError(f"threads must be None, 'auto' or an integer >= 1, got {c.threads!r}")
        if not 0.0 <= c.ema < 1.0:
            raise ValueError(f"ema must lie in [0, 1) (0: no EMA), got {c.ema}")
        if t.needs_data_dir and not c.data_dir:
            raise ValueError(f"task {self.task!r} reads its files from a directory: give data_dir "
                             "(--data DIR); nothing is downloaded")
        return c


_NOT_IN_KEY = ("iters", "out", "progress", "checkpoint_every", "eval_every", "eval_samples",
               "log_every", "device", "data_dir", "fid_features", "inception_weights",
               "classifier_cache", "nproc", "on_nonfinite", "rollback_lr_factor",
               "max_rollbacks", "preset", "threads")


def config_key(cfg: TrainConfig) -> dict:
    """The settings a checkpoint must agree with (those that change the iterates)."""
    d = dataclasses.asdict(cfg)
    key = {k: v for k, v in d.items() if k not in _NOT_IN_KEY}
    key["betas"] = list(key["betas"])
    key["hyper"] = json.dumps(key["hyper"], sort_keys=True)
    return key
