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
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import io
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import data as gdata
from .adam import AlternatingAdam, SimultaneousAdam, player_loss
from .losses import get_loss
from .models import build_models, init_weights

CHECKPOINT = "checkpoint.pt"
NONFINITE_POLICIES = ("stop", "rollback")
log = logging.getLogger("gans.train")


# ---------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class Task:
    kind: str            #: "mixture" or "image"
    model: str           #: default model
    loss: str            #: default loss
    lr: tuple            #: default (lr_g, lr_d)
    betas: tuple         #: default Adam betas
    alpha: tuple         #: default LEAD alpha (generator, discriminator)


_IMG = dict(kind="image", loss="non-saturating", lr=(2e-4, 1e-4), betas=(0.5, 0.99), alpha=(0.0, 0.3))
_MIX = dict(kind="mixture", loss="saturating", lr=(2e-4, 1e-4), betas=(0.5, 0.99), alpha=(0.0, 0.3))
#: task name -> defaults. Images: LEAD App. I.2 (lr 2e-4 / 1e-4, betas (0.5, 0.99),
#: alpha_g = 0, alpha_d = 0.3, non-saturating loss); mixtures: the same optimizer settings
#: (App. I.1 gives none), saturating (zero-sum) loss as in FR Sec. 6.2.1.
TASKS = {"8gaussians": Task(model="mlp", **_MIX), "mog1d": Task(model="fr-mlp", **_MIX),
         "grid": Task(model="fr-mlp", **_MIX), "digits": Task(model="dcgan", **_IMG),
         "mnist": Task(model="dcgan", **_IMG), "cifar10": Task(model="dcgan", **_IMG)}

MIXTURES = {"8gaussians": gdata.eight_gaussians, "mog1d": gdata.mog1d, "grid": gdata.grid2d}

#: CLI name -> optimizers.<class name> (game optimizers) or a local Adam baseline.
OPTIMIZERS = {"lead-adam": "LEADAdam", "lead": "LEAD", "gda": "GDA", "extra-adam": "ExtraAdam",
              "optimistic-adam": "OptimisticAdam", "co": "CO", "sga": "SGA", "cgd": "CGD",
              "fr": "FR", "adam": SimultaneousAdam, "adam-alt": AlternatingAdam,
              "derived": "from_rule"}

#: hyperparameters a GAN run needs that differ from the optimizer's own defaults (``--hyper``
#: overrides): FR App. D.2/D.4 -- 10 CG iterations, RMSprop preconditioning, Levenberg-
#: Marquardt damping (initial lambda 0.1: our choice, the paper gives none); CGD: 10 CG steps.
OPTIMIZER_DEFAULTS = {"fr": {"cg_max_iter": 10, "preconditioner": "rmsprop", "damping": 0.1,
                             "adaptive_damping": True},
                      "cgd": {"cg_max_iter": 10}}


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
        if not 0.0 <= c.ema < 1.0:
            raise ValueError(f"ema must lie in [0, 1) (0: no EMA), got {c.ema}")
        if t.kind == "image" and self.task in ("cifar10", "mnist") and not c.data_dir:
            raise ValueError(f"task {self.task!r} reads its files from a directory: give data_dir "
                             "(--data DIR); nothing is downloaded")
        return c


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


# ----------------------------------------------------------------------- data setup
def load_task_data(cfg: TrainConfig):
    """``(mixture or None, images or None, labels or None, data_shape)``."""
    if cfg.task in MIXTURES:
        from .presets import mixture_of
        mix = mixture_of(cfg)
        return mix, None, None, (mix.dim,)
    size = 32 if cfg.model in ("dcgan", "resnet") else None
    if cfg.task == "digits":
        images, labels = gdata.load_digits_images(size)
    elif cfg.task == "mnist":
        images, labels = gdata.read_mnist(cfg.data_dir, "train", size)
    else:
        images, labels = gdata.read_cifar10(cfg.data_dir, "train")
        images = gdata.resize(images, size)
    return None, images, labels, tuple(images.shape[1:])


def build_optimizer(cfg: TrainConfig, G, D):
    """The optimizer named ``cfg.optimizer`` over (generator, discriminator) parameters.
    Hyperparameters go as pairs ``(generator, discriminator)``; a flag the optimizer does
    not take is an error (``alpha`` and ``beta`` only when set explicitly or accepted)."""
    entry = OPTIMIZERS[cfg.optimizer]
    if cfg.optimizer == "derived":
        return build_derived(cfg, G, D)
    if isinstance(entry, str):
        import optimizers
        cls = getattr(optimizers, entry, None)
        if cls is None:
            raise ValueError(f"optimizer {cfg.optimizer!r} is not available: optimizers.{entry} "
                             "does not exist (yet) in this installation")
    else:
        cls = entry
    params = inspect.signature(cls).parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kw = {"lr": (cfg.lr_g, cfg.lr_d)}
    optional = {"betas": cfg.betas, "alpha": (cfg.alpha_g, cfg.alpha_d)}
    if cfg.beta is not None:
        optional["beta"] = cfg.beta
    for name, value in optional.items():
        if name in params:
            kw[name] = value
    if cfg.beta is not None and "beta" not in params:
        raise ValueError(f"optimizer {cfg.optimizer!r} takes no momentum beta")
    for name, value in {**OPTIMIZER_DEFAULTS.get(cfg.optimizer, {}), **cfg.hyper}.items():
        if name not in params and not takes_kwargs:
            raise ValueError(f"optimizer {cfg.optimizer!r} takes no hyperparameter {name!r} "
                             f"(it takes: {', '.join(p for p in params if p not in ('params_x', 'params_y'))})")
        kw[name] = value
    missing = [n for n, p in params.items() if p.default is p.empty and n not in kw
               and n not in ("params_x", "params_y") and p.kind is not p.VAR_KEYWORD]
    if missing:
        raise ValueError(f"optimizer {cfg.optimizer!r} needs {', '.join(missing)} "
                         f"(CLI: {', '.join('--' + m.replace('_', '-') for m in missing)} or --hyper)")
    try:
        return cls(list(G.parameters()), list(D.parameters()), **kw)
    except TypeError as err:
        raise ValueError(f"cannot build optimizer {cfg.optimizer!r}: {err}") from None


def build_derived(cfg: TrainConfig, G, D):
    """``optimizers.from_rule`` of the rule that ``integrators.derive`` derives for
    ``cfg.forces`` under ``cfg.scheme`` with time step ``delta`` (friction ``mu``, charge
    ``q``); the rule's coefficients replace lr/alpha (plain, without Adam's preconditioning)."""
    from integrators.derive import derive
    from optimizers import from_rule
    if cfg.delta is None:
        raise ValueError("optimizer 'derived' needs the time step delta (--delta)")
    try:
        rule = derive(cfg.forces.split(","), cfg.scheme).to_update_rule(cfg.delta, cfg.mu, cfg.q)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"cannot derive the rule: {err}") from None
    try:
        return from_rule(rule, list(G.parameters()), list(D.parameters()), **cfg.hyper)
    except TypeError as err:
        raise ValueError(f"cannot build the derived optimizer: {err}") from None


# ------------------------------------------------------------------------ RNG state
def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                      int(np_state[3]), float(np_state[4])],
            "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]]}


def _set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
    n = s["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    p = s["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------- result
@dataclass
class TrainResult:
    config: TrainConfig
    G: torch.nn.Module
    D: torch.nn.Module
    G_ema: torch.nn.Module | None
    summary: dict
    history: list


# ---------------------------------------------------------------------------- train
class _Run:
    """The state of one run: models, optimizer, samplers, generators, history."""

    def __init__(self, cfg: TrainConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.mixture, self.images, self.labels, shape = load_task_data(cfg)
        seed_everything(cfg.seed)
        default = torch.get_default_dtype()   # initialise in float32 whatever the default
        torch.set_default_dtype(torch.float32)  # is, so the same seed gives the same run
        try:
            G, D, self.z_dim = build_models(cfg.model, shape, cfg.z_dim, cfg.width)
            init_weights(G, cfg.init), init_weights(D, cfg.init)
        finally:
            torch.set_default_dtype(default)
        # float32 whatever torch's default dtype is (the data are float32)
        self.G, self.D = G.to(device, torch.float32), D.to(device, torch.float32)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if cfg.ema > 0 else None
        self.opt = build_optimizer(cfg, self.G, self.D)
        self.rank, self.world = _world()
        self.reducer = None
        if self.world > 1:
            self._go_data_parallel()
        self.dis_opt = None
        if cfg.n_dis > 1 and not hasattr(self.opt, "step_player"):
            from .presets import player_betas
            self.dis_opt = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d,
                                            betas=player_betas(cfg.betas)[1])
        self.loss = get_loss(cfg.loss, **({"lam": cfg.gp_weight} if cfg.loss == "wgan-gp" else {}))
        if self.mixture is not None:
            self.sampler = gdata.MixtureSampler(self.mixture, cfg.batch_size, cfg.seed + 1)
        else:
            self.sampler = gdata.TensorSampler(self.images, cfg.batch_size, cfg.seed + 1)
        self.noise = torch.Generator().manual_seed(cfg.seed + 2)
        self.iteration, self.history, self.train_seconds = 0, [], 0.0
        self.last = {"x": float("nan"), "y": float("nan")}

    def _go_data_parallel(self) -> None:
        from optimizers import GameOptimizer
        from optimizers.distributed import data_parallel
        if not isinstance(self.opt, GameOptimizer):
            raise ValueError(f"optimizer {self.cfg.optimizer!r} is not a game optimizer of "
                             "optimizers/; data-parallel training (nproc > 1) needs one")
        if self.cfg.batch_size % self.world:
            raise ValueError(f"batch_size {self.cfg.batch_size} does not split into "
                             f"{self.world} equal shards")
        self.reducer = data_parallel(self.opt).reducer

    # ---- one step
    def batch(self):
        """The full batch (identical on every rank), then this rank's share of it."""
        real = self.sampler.next().to(self.device)
        z = torch.randn(self.cfg.batch_size, self.z_dim, generator=self.noise,
                        dtype=torch.float32).to(self.device)
        eps = torch.rand(self.cfg.batch_size, generator=self.noise, dtype=torch.float32).to(self.device) \
            if self.cfg.loss == "wgan-gp" else None
        if self.world > 1:
            from optimizers.distributed import shard
            real, z = shard(real, self.rank, self.world), shard(z, self.rank, self.world)
            eps = None if eps is None else shard(eps, self.rank, self.world)
        return real, z, eps

    def closure_for(self, real, z, eps):
        def closure(player):
            out = self.loss(self.D, real, self.G(z), player, eps)
            self.last[player] = float(out.detach())
            return out
        return closure

    def step(self) -> None:
        for _ in range(self.cfg.n_dis - 1):
            closure = self.closure_for(*self.batch())
            if self.dis_opt is None:
                self.opt.step_player("y", closure)
            else:
                self.dis_opt.zero_grad()
                player_loss(closure, "y").backward()
                if self.reducer is not None:   # data parallel: the batch's mean gradient
                    ps = [p for p in self.D.parameters() if p.grad is not None]
                    for p, g in zip(ps, self.reducer([p.grad for p in ps])):
                        p.grad.copy_(g)
                self.dis_opt.step()
                self.G.zero_grad(set_to_none=True)
        losses = self.opt.step(self.closure_for(*self.batch()))
        if self.world > 1 and losses is not None:   # log the batch's losses, not the shard's
            for player, v in zip(("x", "y"), losses):
                if v is not None:
                    self.last[player] = float(v)
        if self.G_ema is not None:
            with torch.no_grad():
                for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
                    pe.lerp_(p, 1.0 - self.cfg.ema)
                for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
                    be.copy_(b)
        self.iteration += 1

    # ---- checkpoints
    def state_dict(self) -> dict:
        return {"format": 1, "config": _config_key(self.cfg), "iteration": self.iteration,
                "G": self.G.state_dict(), "D": self.D.state_dict(),
                "G_ema": None if self.G_ema is None else self.G_ema.state_dict(),
                "opt": self.opt.state_dict(),
                "dis_opt": None if self.dis_opt is None else self.dis_opt.state_dict(),
                "sampler": self.sampler.state_dict(), "noise": self.noise.get_state(),
                "rng": _rng_state(), "history": self.history, "train_seconds": self.train_seconds}

    def load_state_dict(self, s: dict) -> None:
        if s.get("format") != 1:
            raise ValueError("checkpoint has an unknown format")
        if s["config"] != _config_key(self.cfg):
            diff = sorted(k for k in s["config"] if s["config"][k] != _config_key(self.cfg).get(k))
            raise ValueError(f"checkpoint was made with other settings ({', '.join(diff)} differ); "
                             "resume with the same settings or use another --out")
        self.G.load_state_dict(s["G"])
        self.D.load_state_dict(s["D"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(s["G_ema"])
        self.opt.load_state_dict(s["opt"])
        if self.dis_opt is not None:
            self.dis_opt.load_state_dict(s["dis_opt"])
        self.sampler.load_state_dict(s["sampler"])
        self.noise.set_state(s["noise"])
        _set_rng_state(s["rng"])
        self.iteration, self.history = int(s["iteration"]), list(s["history"])
        self.train_seconds = float(s["train_seconds"])

    def snapshot(self) -> bytes:
        """The whole state, serialised (a checkpoint's bytes)."""
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        return buf.getvalue()

    def restore(self, snapshot: bytes) -> None:
        self.load_state_dict(torch.load(io.BytesIO(snapshot), weights_only=True,
                                        map_location=self.device))

    def save_checkpoint(self, path: Path, snapshot: bytes | None = None) -> bytes:
        """Write the checkpoint atomically (temporary file, then rename); return its bytes."""
        from gamemech.cli.common import atomic_write_bytes
        data = self.snapshot() if snapshot is None else snapshot
        atomic_write_bytes(path, data)
        return data

    def learning_rates(self) -> list:
        return [g["lr"] for o in (self.opt, self.dis_opt) if o is not None
                for g in getattr(o, "param_groups", [])]

    def roll_back(self, snapshot: bytes, at: int, reason: str, factor: float) -> dict:
        """Restore ``snapshot`` and multiply every learning rate by ``factor`` (relative to
        the rates in use when the fault happened, so repeated rollbacks compound)."""
        before = self.learning_rates()
        self.restore(snapshot)
        groups = [g for o in (self.opt, self.dis_opt) if o is not None
                  for g in getattr(o, "param_groups", [])]
        if not groups:
            raise ValueError(f"optimizer {self.cfg.optimizer!r} exposes no param_groups; "
                             "cannot lower its learning rate")
        for g, lr in zip(groups, before):
            g["lr"] = lr * factor
        event = {"iter": at, "event": "rollback", "to_iter": self.iteration,
                 "reason": " ".join(reason.split())[:300],
                 "lr_before": before, "lr_after": self.learning_rates()}
        (log.warning if self.rank == 0 else log.debug)("iteration %d: %s; rolled back to iteration %d and multiplied the "
                    "learning rates by %g (%s -> %s)", at, event["reason"], self.iteration,
                    factor, _fmt(before), _fmt(event["lr_after"]))
        return event


def _fmt(lrs) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in lrs) + "]"


def _world():
    """``(rank, world size)`` of the process group (``(0, 1)`` without one)."""
    from optimizers.distributed import world
    return world()


_NOT_IN_KEY = ("iters", "out", "progress", "checkpoint_every", "eval_every", "eval_samples",
               "log_every", "device", "data_dir", "fid_features", "inception_weights",
               "classifier_cache", "nproc", "on_nonfinite", "rollback_lr_factor",
               "max_rollbacks", "preset")


def _config_key(cfg: TrainConfig) -> dict:
    """The settings a checkpoint must agree with (those that change the iterates)."""
    d = dataclasses.asdict(cfg)
    key = {k: v for k, v in d.items() if k not in _NOT_IN_KEY}
    key["betas"] = list(key["betas"])
    key["hyper"] = json.dumps(key["hyper"], sort_keys=True)
    return key


def train(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """Train; write ``metrics.csv``, ``metrics.json``, ``samples.png`` and checkpoints to
    ``cfg.out`` (when given). ``resume``: continue from ``cfg.out/checkpoint.pt``.
    ``cfg.nproc > 1`` launches that many data-parallel processes (module docstring)."""
    cfg = cfg.resolved()
    if cfg.nproc > 1 and _world()[1] == 1:
        return _train_spawned(cfg, resume)
    return _train_here(cfg, resume)


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary files of atomic writes cut short by a killed process."""
    for tmp in out.glob(".*.tmp"):
        if tmp.name.startswith((f".{CHECKPOINT}.", ".metrics.")):
            tmp.unlink(missing_ok=True)


def _train_here(cfg: TrainConfig, resume: bool) -> TrainResult:
    from .evaluate import Evaluator
    from .report import write_csv, write_json, write_samples_plot

    device = select_device(cfg.device)
    out = Path(cfg.out) if cfg.out else None
    if (resume or cfg.checkpoint_every) and out is None:
        raise ValueError("checkpoints need an output directory (out)")
    run = _Run(cfg, device)
    writer = run.rank == 0                  # rank 0 evaluates and writes the files
    resumed_from = None
    if resume:
        ckpt = out / CHECKPOINT
        if not ckpt.is_file():
            raise ValueError(f"nothing to resume: {ckpt} does not exist")
        try:
            state = torch.load(ckpt, weights_only=True, map_location=device)
        except Exception as err:  # a damaged or foreign file
            raise ValueError(f"cannot read checkpoint {ckpt}: {' '.join(str(err).split())[:200]}") from None
        run.load_state_dict(state)
        resumed_from = run.iteration
        if run.iteration > cfg.iters:
            raise ValueError(f"checkpoint is at iteration {run.iteration}, beyond iters={cfg.iters}")
    if writer and out is not None and out.is_dir():
        _remove_stale_temporaries(out)
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


# ------------------------------------------------------------------ data parallel
def _spawned_rank(rank: int, world: int, cfg: TrainConfig, resume: bool, result: str) -> None:
    """One process of :func:`_train_spawned` (the process group is already set up)."""
    res = _train_here(cfg, resume)
    if rank == 0:
        from .report import _clean
        torch.save({"G": res.G.state_dict(), "D": res.D.state_dict(),
                    "G_ema": None if res.G_ema is None else res.G_ema.state_dict(),
                    "summary": json.dumps(_clean(res.summary)),
                    "history": json.dumps(_clean(res.history))}, result)


def _train_spawned(cfg: TrainConfig, resume: bool) -> TrainResult:
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
            launch(_spawned_rank, cfg.nproc, args=(cfg, resume, result), backend=backend)
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
