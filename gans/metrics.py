"""Sample-quality metrics.

Mixtures (:func:`mixture_metrics`): a sample is *high quality* when it lies within
``3 std`` (Euclidean distance) of its nearest mode; a mode is *covered* when it receives at
least ``min_share`` of the high-quality samples it would receive under the true
distribution (``min_share * n / K``; default 0.2).

Both are blind to the *shape* of the mass between and around the modes: a generator that
draws a ring through the means covers every mode when the modes overlap (LEAD App. I.1's
unit circle with variance 0.05). :func:`energy_distance` -- a two-sample statistic between
generated and real samples -- sees the whole distribution: it is zero exactly when the two
distributions agree.

Images (:func:`image_metrics`): FID and Inception Score from ``torchmetrics`` with a
pluggable feature extractor -- any ``nn.Module`` mapping images to features (FID) or logits
(IS):

* :class:`DigitsClassifier` -- a small MLP classifier trained deterministically on the task's own
  labelled training images. With scikit-learn's digits this gives what the docs call
  **digits-FID** / **digits-IS**: numbers comparable only with each other, not with
  published Inception FIDs.
* :func:`inception_features` -- torchmetrics' InceptionV3 loaded from a weights file the user
  supplies (needs the ``torch-fidelity`` package); never downloads.
* :func:`load_torchscript_features` -- any TorchScript feature module the user saved.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


# ------------------------------------------------------------------------- mixtures
def mixture_metrics(samples: torch.Tensor, means: torch.Tensor, std: float,
                    min_share: float = 0.2) -> dict:
    """``{"modes_covered", "n_modes", "hq_fraction"}`` of ``samples`` (n, d) against a mixture
    with ``means`` (K, d) and common ``std``."""
    samples = torch.as_tensor(samples, dtype=torch.float64)
    means = torch.as_tensor(means, dtype=torch.float64)
    if samples.dim() != 2 or samples.shape[1] != means.shape[1] or samples.shape[0] < 1:
        raise ValueError(f"samples must be (n, {means.shape[1]}), got {tuple(samples.shape)}")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must lie in (0, 1], got {min_share}")
    finite = torch.isfinite(samples).all(dim=1)
    dist = torch.cdist(samples[finite], means)
    nearest_d, nearest = dist.min(dim=1)
    hq = nearest_d <= 3.0 * std
    counts = torch.bincount(nearest[hq], minlength=means.shape[0])
    n, k = samples.shape[0], means.shape[0]
    covered = int((counts >= min_share * n / k).sum())
    return {"modes_covered": covered, "n_modes": k, "hq_fraction": float(hq.sum()) / n}


def _mean_distance(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """``mean_{i,j} ||a_i - b_j||_2`` over all pairs (float64, in row chunks). Distances are
    formed from differences, not from ``|a|^2 + |b|^2 - 2 a.b`` (whose cancellation puts
    ``sqrt(eps)`` where a distance is 0)."""
    total = torch.zeros((), dtype=torch.float64)
    for i in range(0, a.shape[0], chunk):
        total += torch.cdist(a[i:i + chunk], b, compute_mode="donot_use_mm_for_euclid_dist").sum()
    return total / (a.shape[0] * b.shape[0])


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Squared energy distance (Szekely & Rizzo) between the empirical distributions of
    ``x`` (n, d) and ``y`` (m, d), Euclidean norm:

        D^2 = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'||

    with every expectation the mean over all pairs (the V-statistic, diagonal included), so
    ``D^2 >= 0``, ``D^2 = 0`` only for identical samples, and for d = 1 ``D`` equals
    ``scipy.stats.energy_distance(x, y)`` (scipy's ``sqrt(2)`` times the CDF distance).
    For two independent samples of one distribution ``D^2`` is positive, of order
    ``E||X - X'|| (1/n + 1/m)``: compare with a real-vs-real value, not with 0.
    Non-finite rows make the result ``nan``."""
    x = torch.as_tensor(x).detach().to("cpu", torch.float64)
    y = torch.as_tensor(y).detach().to("cpu", torch.float64)
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1] or not (x.shape[0] and y.shape[0]):
        raise ValueError(f"energy_distance needs two non-empty (n, d) samples of one dimension, "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        return float("nan")
    d2 = 2 * _mean_distance(x, y) - _mean_distance(x, x) - _mean_distance(y, y)
    return float(d2.clamp_min(0.0))


# --------------------------------------------------------------- feature extractors
class DigitsClassifier(nn.Module):
    """Small classifier for ``(N, C, H, W)`` images in ``[-1, 1]``: area-resize to
    ``input_size`` square, an MLP with a 64-unit feature layer (the FID features) and
    ``n_classes`` logits (the IS input)."""

    def __init__(self, channels: int = 1, n_classes: int = 10, n_features: int = 64,
                 input_size: int = 8):
        super().__init__()
        self.input_size = input_size
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(channels * input_size ** 2, 256), nn.ReLU(),
                                  nn.Linear(256, n_features), nn.ReLU())
        self.head = nn.Linear(n_features, n_classes)
        self.num_features = n_features

    def features(self, x):
        x = x.to(self.head.weight.dtype)
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.adaptive_avg_pool2d(x, self.input_size)
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


class _Features(nn.Module):
    """``classifier.features`` as a module (torchmetrics FID calls ``module(images)``)."""

    def __init__(self, clf: DigitsClassifier):
        super().__init__()
        self.clf, self.num_features = clf, clf.num_features

    def forward(self, x):
        return self.clf.features(x)


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int = 30,
                     batch_size: int = 128, seed: int = 0, max_examples: int = 10000,
                     input_size: int = 8) -> DigitsClassifier:
    """Train :class:`DigitsClassifier` deterministically (fixed seed, CPU, Adam 1e-3) on at most
    ``max_examples`` images."""
    if images.shape[0] != labels.shape[0] or images.dim() != 4:
        raise ValueError("need images (N, C, H, W) and one label per image")
    g = torch.Generator().manual_seed(seed)
    if images.shape[0] > max_examples:
        keep = torch.randperm(images.shape[0], generator=g)[:max_examples]
        images, labels = images[keep], labels[keep]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clf = DigitsClassifier(images.shape[1], int(labels.max()) + 1, input_size=input_size)
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
    images, labels = images.cpu().float(), labels.cpu()
    for _ in range(epochs):
        perm = torch.randperm(images.shape[0], generator=g)
        for i in range(0, images.shape[0], batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(clf(images[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return clf.eval().requires_grad_(False)


def classifier_accuracy(clf: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((clf(images).argmax(1) == labels).float().mean())


def cached_classifier(images, labels, cache: str | Path | None = None, **kw) -> DigitsClassifier:
    """:func:`train_classifier`, saved to / loaded from ``cache`` (a ``.pt`` state dict with
    the image shape it was trained for; loaded with ``weights_only=True``)."""
    shape = [int(s) for s in images.shape[1:]]
    if cache is not None and Path(cache).is_file():
        state = torch.load(cache, weights_only=True, map_location="cpu")
        if state.get("shape") != shape:
            raise ValueError(f"classifier cache {cache} was trained on images {state.get('shape')}, "
                             f"not {shape}; delete it or name another file")
        clf = DigitsClassifier(shape[0], int(state["n_classes"]), input_size=int(state["input_size"]))
        clf.load_state_dict(state["model"])
        return clf.eval().requires_grad_(False)
    clf = train_classifier(images, labels, **kw)
    if cache is not None:
        from mechanics.utils.atomic import atomic_write_bytes
        buf = io.BytesIO()
        torch.save({"shape": shape, "n_classes": clf.head.out_features, "input_size": clf.input_size,
                    "model": clf.state_dict()}, buf)
        atomic_write_bytes(cache, buf.getvalue())
    return clf


def inception_features(weights_path: str | Path, feature: int = 2048):
    """torchmetrics' FID InceptionV3 from a local weights file (``pt_inception-2015-12-05``);
    requires ``torch-fidelity``. Raises ``ValueError`` instead of downloading."""
    path = Path(weights_path)
    if not path.is_file():
        raise ValueError(f"Inception weights file {path} does not exist")
    from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE
    if not _TORCH_FIDELITY_AVAILABLE:
        raise ValueError("Inception features need the torch-fidelity package "
                         "(pip install torch-fidelity); it is not installed")
    from torchmetrics.image.fid import NoTrainInceptionV3
    return _ToUint8RGB(NoTrainInceptionV3(name="inception-v3-compat", features_list=[str(feature)],
                                          feature_extractor_weights_path=str(path)), feature)


class _ToUint8RGB(nn.Module):
    """Images in [-1, 1] (1 or 3 channels) -> uint8 RGB in [0, 255], as Inception expects."""

    def __init__(self, inner: nn.Module, num_features: int):
        super().__init__()
        self.inner, self.num_features = inner, num_features

    def forward(self, x):
        x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return self.inner(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)


def load_torchscript_features(path: str | Path) -> nn.Module:
    """A TorchScript module (``torch.jit.save``) mapping images in [-1, 1] to features."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"feature-extractor file {path} does not exist")
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except RuntimeError as err:
        raise ValueError(f"{path} is not a TorchScript module: {err}") from None


# --------------------------------------------------------------------------- images
def _batched(module, images, batch):
    return torch.cat([module(images[i:i + batch]) for i in range(0, images.shape[0], batch)])


def frechet_distance(feature: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     batch: int = 500) -> float:
    """FID between ``real`` and ``fake`` images through torchmetrics with ``feature``."""
    import copy

    from torchmetrics.image.fid import FrechetInceptionDistance
    # torchmetrics may cast the module it is given (to float64): give it a copy
    fid = FrechetInceptionDistance(feature=copy.deepcopy(feature), normalize=True, input_img_size=tuple(real.shape[1:]))
    with torch.no_grad():
        for i in range(0, real.shape[0], batch):
            fid.update(real[i:i + batch], real=True)
        for i in range(0, fake.shape[0], batch):
            fid.update(fake[i:i + batch], real=False)
        return float(fid.compute())


def inception_score(logits_module: nn.Module, fake: torch.Tensor, splits: int = 10,
                    seed: int = 0) -> tuple[float, float]:
    """IS (mean, std over ``splits``) through torchmetrics with ``logits_module``; the split
    shuffle runs under a forked, seeded RNG so it neither depends on nor moves global state."""
    from torchmetrics.image.inception import InceptionScore
    import warnings
    with torch.random.fork_rng(devices=[]), torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        torch.manual_seed(seed)
        metric = InceptionScore(feature=logits_module, splits=splits)
        metric.update(fake)
        mean, std = metric.compute()
    return float(mean), float(std)


def image_metrics(extractor: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                  logits: nn.Module | None = None) -> dict:
    """``{"fid", "inception_score", "inception_score_std"}`` (IS only with ``logits``)."""
    if not isinstance(extractor, nn.Module):
        raise TypeError("extractor must be an nn.Module mapping images to features")
    out = {"fid": frechet_distance(extractor, real, fake)}
    if logits is not None:
        out["inception_score"], out["inception_score_std"] = inception_score(logits, fake)
    return out


def classifier_extractors(clf: DigitsClassifier) -> tuple[nn.Module, nn.Module]:
    """``(features module, logits module)`` of a trained classifier."""
    return _Features(clf), clf
