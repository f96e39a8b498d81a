"""The state of one training run (:class:`Run`: models, optimizer, samplers, generators,
history), its one step, and its exact serialisation for checkpoints and rollbacks."""
from __future__ import annotations

import copy
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from . import data as gdata
from .adam import player_loss
from .checkpoint import write_checkpoint
from .config import SMALL_MODEL, TrainConfig, config_key
from .device import world
from .losses import get_loss
from .models import build_models, init_weights
from .optimizer_factory import build_optimizer
from mechanics.utils.rng import rng_state, seed_everything, set_rng_state
from .sizing import check_fits
from .tasks import load_task_data

log = logging.getLogger("gans.train")


@dataclass
class TrainResult:
    config: TrainConfig
    G: torch.nn.Module
    D: torch.nn.Module
    G_ema: torch.nn.Module | None
    summary: dict
    history: list


def set_threads(threads, n_params: int) -> None:
    """Apply ``TrainConfig.threads`` (see there) for a model of ``n_params`` parameters."""
    if threads == "auto":
        threads = 1 if n_params < SMALL_MODEL else None
    if threads is not None:
        torch.set_num_threads(threads)


class Run:
    """The state of one run: models, optimizer, samplers, generators, history."""

    def __init__(self, cfg: TrainConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.mixture, self.images, self.labels, shape = load_task_data(cfg)
        self.n_params = check_fits(cfg, shape, device)      # before allocating the models
        set_threads(cfg.threads, self.n_params)
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
        self.rank, self.world = world()
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
        """The step's closure on this batch. Per player (``closure(player)``: each call
        computes one loss), except for a coupling by the opponent's loss
        (``mixed_source="opponent"``), which needs both losses at every evaluation: then
        the pair form ``closure()``, one call for both (``G(z)`` and ``D(G(z))`` once)."""
        if getattr(self.opt, "options", {}).get("mixed_source") == "opponent":
            def pair():
                out = self.loss(self.D, real, self.G(z), None, eps)
                self.last["x"], self.last["y"] = (float(v.detach()) for v in out)
                return out
            return pair

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
        return {"format": 1, "config": config_key(self.cfg), "iteration": self.iteration,
                "G": self.G.state_dict(), "D": self.D.state_dict(),
                "G_ema": None if self.G_ema is None else self.G_ema.state_dict(),
                "opt": self.opt.state_dict(),
                "dis_opt": None if self.dis_opt is None else self.dis_opt.state_dict(),
                "sampler": self.sampler.state_dict(), "noise": self.noise.get_state(),
                "rng": rng_state(), "history": self.history, "train_seconds": self.train_seconds}

    def load_state_dict(self, s: dict) -> None:
        if s.get("format") != 1:
            raise ValueError("checkpoint has an unknown format")
        if s["config"] != config_key(self.cfg):
            diff = sorted(k for k in s["config"] if s["config"][k] != config_key(self.cfg).get(k))
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
        set_rng_state(s["rng"])
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
        data = self.snapshot() if snapshot is None else snapshot
        write_checkpoint(path, data)
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
