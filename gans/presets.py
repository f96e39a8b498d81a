"""Named settings of the papers' GAN experiments, and the resolved configuration a run echoes.

A *preset* fills the fields of :class:`gans.train.TrainConfig`; fields given explicitly
override it (:func:`config`; ``gamemech train --preset NAME`` with any flag).

* ``lead-code`` -- LEAD App. H's 8-Gaussians as the official code trains it (public
  repository ReyhaneAskari/Least_action_dynamics_minmax, ``Gaussians_py3.py``): centres at
  scale 2 in the 8 unit directions (axes and diagonals), per-coordinate std 0.05, every
  sample divided by 1.414 -- means on a circle of radius ``2 / 1.414``, std ``0.05 / 1.414``;
  batch 256, 5001 iterations, width-2000 MLPs (Table 2), ``z`` in R^64, non-saturating BCE
  loss, Linear weights ~ N(0, 0.02) and biases 0; Adam lr 3e-4 for both players, betas
  (0.5, 0.9) for the generator and (0.55, 0.9) for the discriminator, alpha 0.6 for both.
  The coupling is the code's non-zero-sum one, ``-grad_ij L_j . d_j`` (LEAD-Adam / LEAD
  ``mixed_source="opponent"``).
* ``lead-paper`` -- the same experiment as the paper's text states it (App. I.1, Table 2):
  means on the unit circle, variance 0.05 (std ``sqrt(0.05)``), batch 128, 10k iterations,
  width-2000 MLPs, ``z`` in R^64, PyTorch's default initialisation. The text gives no
  optimizer settings for this experiment: the task defaults (App. I.2's lr 2e-4 / 1e-4,
  betas (0.5, 0.99), alpha 0 / 0.3, saturating loss) stay in force.

Three differences from the official code remain (docs/GANS.md, "Presets"): it steps the
discriminator first and the generator second, where the library's alternating optimizers
(LEAD-Adam's Algorithm 2, alternating Adam) step the generator first; it takes each player's
coupling term through the gradient graph the opponent kept from its last step (the
opponent's batch and earlier point, with weights since updated in place), where LEAD-Adam
evaluates the opponent's loss afresh at the current point and batch; and it draws separate
noise for the two players' steps, where the library shares one batch per step.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import dataclass, field

#: the official code divides every sample by 1.414 (not sqrt 2)
_CODE_SCALE = 1.414


@dataclass(frozen=True)
class Preset:
    """``settings``: TrainConfig fields; ``optimizer_hyper``: extra ``hyper`` entries for
    the optimizers that take them (explicit ``hyper`` entries win)."""

    task: str
    description: str
    settings: dict
    optimizer_hyper: dict = field(default_factory=dict)


PRESETS = {
    "lead-code": Preset(
        task="8gaussians",
        description="LEAD App. H as the official code trains it (Gaussians_py3.py)",
        settings=dict(model="mlp", width=2000, z_dim=64, batch_size=256, iters=5001,
                      loss="non-saturating", lr_g=3e-4, lr_d=3e-4,
                      betas=((0.5, 0.9), (0.55, 0.9)), alpha_g=0.6, alpha_d=0.6,
                      init="normal-0.02", data_radius=2.0 / _CODE_SCALE,
                      data_std=0.05 / _CODE_SCALE),
        optimizer_hyper={"lead-adam": {"mixed_source": "opponent"},
                         "lead": {"mixed_source": "opponent"}}),
    "lead-paper": Preset(
        task="8gaussians",
        description="LEAD App. H as the paper's text states it (App. I.1, Table 2)",
        settings=dict(model="mlp", width=2000, z_dim=64, batch_size=128, iters=10_000,
                      init="default", data_radius=1.0, data_std=math.sqrt(0.05))),
}


def config(name: str, **overrides):
    """The :class:`~gans.train.TrainConfig` of preset ``name`` with ``overrides`` (any
    TrainConfig field) applied on top; ``hyper`` merges with the preset's entries."""
    from .config import TrainConfig
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[name]
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown TrainConfig field(s): {', '.join(unknown)}")
    task = overrides.get("task", p.task)
    if task != p.task:
        raise ValueError(f"preset {name!r} is for task {p.task!r}, not {task!r}")
    kw = {**p.settings, "task": p.task, **overrides, "preset": name}
    optimizer = kw.get("optimizer", TrainConfig.optimizer)
    kw["hyper"] = {**p.optimizer_hyper.get(optimizer, {}), **dict(overrides.get("hyper") or {})}
    return TrainConfig(**kw)


# --------------------------------------------------------------- data and optimizer settings
def mixture_of(cfg):
    """The task's :class:`~gans.data.GaussianMixture` with ``cfg.data_radius`` /
    ``cfg.data_std`` applied (what training draws from; :mod:`gans.tasks`)."""
    from .tasks import load_task_data
    return load_task_data(cfg)[0]


def check_mixture_settings(cfg) -> None:
    """``data_radius`` only for 8gaussians, ``data_std`` only for mixtures; both positive."""
    from .models import INITS
    from .tasks import MIXTURES
    for name in ("data_radius", "data_std"):
        v = getattr(cfg, name)
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be positive and finite, got {v}")
    if cfg.data_radius is not None and cfg.task != "8gaussians":
        raise ValueError(f"data_radius applies to task 8gaussians only, not {cfg.task!r}")
    if cfg.data_std is not None and cfg.task not in MIXTURES:
        raise ValueError(f"data_std applies to the mixture tasks ({', '.join(MIXTURES)}), "
                         f"not {cfg.task!r}")
    if cfg.init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {cfg.init!r}")
    player_betas(cfg.betas)


def player_betas(betas) -> tuple:
    """``(b1, b2)`` (both players) or ``((b1_g, b2_g), (b1_d, b2_d))`` -> the per-player pair."""
    b = tuple(betas)
    nested = len(b) == 2 and all(isinstance(e, (tuple, list)) for e in b)
    pair = (tuple(b[0]), tuple(b[1])) if nested else (b, b)
    for p in pair:
        if len(p) != 2:
            raise ValueError(f"betas must be (b1, b2), or one such pair per player, got {betas!r}")
        for i, v in enumerate(p):
            if not (isinstance(v, (int, float)) and 0.0 <= v < 1.0):
                raise ValueError(f"betas must be (b1, b2) pairs in [0, 1): betas[{i}] must be in "
                                 f"[0, 1), got {v!r} (betas {betas!r})")
    return tuple(tuple(float(v) for v in p) for p in pair)


def _takes(cfg, name: str) -> bool:
    from .optimizer_factory import OPTIMIZERS
    entry = OPTIMIZERS[cfg.optimizer]
    if cfg.optimizer == "derived":           # Adam-preconditioned: Adam's lr and betas
        return cfg.precondition == "adam" and name == "betas"
    if isinstance(entry, str):
        import optimizers
        entry = getattr(optimizers, entry, None)
        if entry is None:
            return False
    return name in inspect.signature(entry).parameters


def resolved_settings(cfg, mixture=None, z_dim=None) -> dict:
    """What a run actually used: preset, model, data (radius and std of a mixture) and each
    player's lr, betas and alpha (``None`` where the optimizer takes no such setting)."""
    from .models import MODELS
    from .optimizer_factory import OPTIMIZER_DEFAULTS
    betas = player_betas(cfg.betas) if _takes(cfg, "betas") else (None, None)
    alpha = (cfg.alpha_g, cfg.alpha_d) if _takes(cfg, "alpha") else (None, None)
    adam_lr = cfg.optimizer != "derived" or cfg.precondition == "adam"
    lr = (cfg.lr_g, cfg.lr_d) if adam_lr else (None, None)
    if mixture is not None:
        radii = mixture.means.norm(dim=1)
        data = {"kind": "mixture", "n_modes": mixture.n_modes, "dim": mixture.dim,
                "radius": float(radii.max()), "std": float(mixture.std)}
    else:
        data = {"kind": "images", "task": cfg.task}
    players = {name: {"lr": lr[i], "betas": None if betas[i] is None else list(betas[i]),
                      "alpha": alpha[i]}
               for i, name in enumerate(("generator", "discriminator"))}
    return {"preset": cfg.preset, "task": cfg.task, "optimizer": cfg.optimizer,
            "model": cfg.model, "width": cfg.width or MODELS[cfg.model][1],
            "z_dim": z_dim or cfg.z_dim or MODELS[cfg.model][0], "init": cfg.init,
            "loss": cfg.loss, "batch_size": cfg.batch_size, "iters": cfg.iters, "seed": cfg.seed,
            "n_dis": cfg.n_dis, "hyper": {**OPTIMIZER_DEFAULTS.get(cfg.optimizer, {}), **cfg.hyper},
            "data": data, "players": players}
