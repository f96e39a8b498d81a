"""The task registry: each task's data loader and its default model, loss and optimizer
settings. A new task (or dataset) is one :class:`Task` entry here plus, for a new file
format, its reader in :mod:`gans.data`."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from . import data as gdata


@dataclass(frozen=True)
class Task:
    kind: str            #: "mixture" or "image"
    model: str           #: default model
    loss: str            #: default loss
    lr: tuple            #: default (lr_g, lr_d)
    betas: tuple         #: default Adam betas
    alpha: tuple         #: default LEAD alpha (generator, discriminator)
    #: ``load(cfg) -> (mixture or None, images or None, labels or None, data_shape)``
    load: Callable = None
    needs_data_dir: bool = False     #: reads its files from ``cfg.data_dir`` (--data)
    #: input size of the FID feature classifier trained on the task's labels (None: no
    #: classifier; ``fid_features="auto"`` then picks Inception when weights are given)
    classifier_input: int | None = None


def _mixture(make):
    """The mixture ``make()`` builds, with ``cfg.data_radius`` (8gaussians) and
    ``cfg.data_std`` applied when set."""
    def load(cfg):
        mix = make(**({} if cfg.data_radius is None else {"radius": cfg.data_radius}))
        if cfg.data_std is not None:
            mix = dataclasses.replace(mix, std=float(cfg.data_std))
        return mix, None, None, (mix.dim,)
    return load


def _image_size(cfg):
    return 32 if cfg.model in ("dcgan", "resnet") else None


def _images(images, labels):
    return None, images, labels, tuple(images.shape[1:])


def _digits(cfg):
    return _images(*gdata.load_digits_images(_image_size(cfg)))


def _mnist(cfg):
    return _images(*gdata.read_mnist(cfg.data_dir, "train", _image_size(cfg)))


def _cifar10(cfg):
    images, labels = gdata.read_cifar10(cfg.data_dir, "train")
    return _images(gdata.resize(images, _image_size(cfg)), labels)


_IMG = dict(kind="image", loss="non-saturating", lr=(2e-4, 1e-4), betas=(0.5, 0.99), alpha=(0.0, 0.3))
_MIX = dict(kind="mixture", loss="saturating", lr=(2e-4, 1e-4), betas=(0.5, 0.99), alpha=(0.0, 0.3))
MIXTURES = {"8gaussians": gdata.eight_gaussians, "mog1d": gdata.mog1d, "grid": gdata.grid2d}
#: task name -> defaults. Images: LEAD App. I.2 (lr 2e-4 / 1e-4, betas (0.5, 0.99),
#: alpha_g = 0, alpha_d = 0.3, non-saturating loss); mixtures: the same optimizer settings
#: (App. I.1 gives none), saturating (zero-sum) loss as in FR Sec. 6.2.1.
TASKS = {"8gaussians": Task(model="mlp", load=_mixture(gdata.eight_gaussians), **_MIX),
         "mog1d": Task(model="fr-mlp", load=_mixture(gdata.mog1d), **_MIX),
         "grid": Task(model="fr-mlp", load=_mixture(gdata.grid2d), **_MIX),
         "digits": Task(model="dcgan", load=_digits, classifier_input=8, **_IMG),
         "mnist": Task(model="dcgan", load=_mnist, needs_data_dir=True, classifier_input=16, **_IMG),
         "cifar10": Task(model="dcgan", load=_cifar10, needs_data_dir=True, **_IMG)}


def load_task_data(cfg):
    """``(mixture or None, images or None, labels or None, data_shape)`` of ``cfg.task``."""
    return TASKS[cfg.task].load(cfg)
