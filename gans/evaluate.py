"""Evaluation during and after training: sample the (EMA) generator, compute the task's
metrics (:mod:`gans.metrics`). Runs under a forked RNG with a fixed seed, so evaluating
never changes the training trajectory and every evaluation uses the same latents."""
from __future__ import annotations

import torch

from . import metrics as gm
from .tasks import TASKS


class Evaluator:
    """Built once per run; :meth:`evaluate` returns the metrics dict and keeps the samples
    (``self.fake``, ``self.real``) for the plots."""

    def __init__(self, cfg, run):
        self.cfg, self.run = cfg, run
        self.fake = self.real = None
        self.feature_name, self.features, self.logits = None, None, None
        if run.mixture is None:
            self._setup_features()

    def _setup_features(self) -> None:
        cfg, run = self.cfg, self.run
        choice = cfg.fid_features
        if choice == "auto":
            choice = ("classifier" if TASKS[cfg.task].classifier_input
                      else "inception" if cfg.inception_weights else "none")
        if choice == "none":
            return
        if choice == "classifier":
            clf = gm.cached_classifier(run.images, run.labels, cfg.classifier_cache,
                                       input_size=TASKS[cfg.task].classifier_input or 16)
            self.features, self.logits = gm.classifier_extractors(clf)
            self.feature_name = f"{cfg.task}-classifier"
        elif choice == "inception":
            if not cfg.inception_weights:
                raise ValueError("Inception FID needs its weights file (--inception-weights PATH)")
            self.features = gm.inception_features(cfg.inception_weights)
            self.feature_name = "inception"
        else:
            self.features = gm.load_torchscript_features(choice)
            self.feature_name = f"torchscript:{choice}"

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` samples of the EMA generator (or the generator), in eval mode, on the CPU."""
        run = self.run
        G = run.G_ema if run.G_ema is not None else run.G
        was_training = G.training
        G.eval()
        g = torch.Generator().manual_seed(self.cfg.seed + 3)
        out = []
        for i in range(0, n, 500):
            z = torch.randn(min(500, n - i), run.z_dim, generator=g, dtype=torch.float32).to(run.device)
            out.append(G(z).float().cpu())
        G.train(was_training)
        return torch.cat(out)

    def evaluate(self) -> dict:
        with torch.random.fork_rng(devices=[]):
            return self._evaluate()

    def _evaluate(self) -> dict:
        run, n = self.run, self.cfg.eval_samples
        self.fake = self.sample(n)
        if run.mixture is not None:
            self.real = run.mixture.sample(n, torch.Generator().manual_seed(self.cfg.seed + 4))
            out = gm.mixture_metrics(self.fake, run.mixture.means, run.mixture.std)
            out["energy_distance"] = gm.energy_distance(self.fake, self.real)
            return out
        self.real = run.images
        if self.features is None:
            return {"fid": None, "fid_features": None}
        if not torch.isfinite(self.fake).all():
            return {"fid": None, "fid_features": self.feature_name}
        out = gm.image_metrics(self.features, run.images[:10000], self.fake, self.logits)
        out["fid_features"] = self.feature_name
        return out
