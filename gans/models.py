"""Generators and discriminators of the papers' GAN experiments.

* ``mlp``: LEAD Table 2 -- four affine layers with ReLU, ``z in R^64``, width 2000 (configurable).
* ``fr-mlp``: FR App. D.2/D.3 -- two hidden tanh layers (64 units for the mixtures, 512 for
  MNIST), ``z in R^16``; spectral norm on the discriminator for images (FR Sec. 6.2.2).
* ``dcgan``: LEAD Table 3 -- 32 x 32 images, ``z in R^100``; channels 1024/512/256 at width 256.
* ``resnet``: LEAD Tables 4-5 -- SN-ResNet, ``z in R^64``, generator 256 channels,
  discriminator 128, spectral norm (``torch.nn.utils.parametrizations.spectral_norm``) on
  every discriminator layer.

Every discriminator returns a *logit* of shape ``(N,)``: the Sigmoid of Table 3 (and of FR's
discriminators) is folded into the losses, which use ``log sigmoid`` for numerical stability.
Generators map ``(N, z_dim)`` to samples of the data's shape; image generators end in tanh.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "lrelu": lambda: nn.LeakyReLU(0.2)}


def _sn(module: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(module) if on else module


class MLP(nn.Module):
    """``hidden`` layers of ``width`` units with ``activation``, then a linear output layer.
    ``out_shape`` reshapes the output (e.g. an image; ``()`` gives one scalar per example);
    ``out_act`` is applied last."""

    def __init__(self, in_dim: int, out_shape, width: int, hidden: int, activation: str = "relu",
                 spectral: bool = False, out_act: str | None = None):
        super().__init__()
        if width < 1 or hidden < 1 or in_dim < 1:
            raise ValueError(f"MLP needs in_dim, width, hidden >= 1, got {in_dim}, {width}, {hidden}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.out_shape = tuple(out_shape) if isinstance(out_shape, (tuple, list)) else (int(out_shape),)
        dims = [in_dim] + [width] * hidden
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [_sn(nn.Linear(a, b), spectral), ACTIVATIONS[activation]()]
        layers.append(_sn(nn.Linear(width, math.prod(self.out_shape)), spectral))
        if out_act is not None:
            layers.append(ACTIVATIONS[out_act]())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x.flatten(1))
        return out.reshape(x.shape[0], *self.out_shape)


# --------------------------------------------------------------------------- DCGAN
class DCGANGenerator(nn.Module):
    """Table 3, left: transposed convs 1 -> 4 -> 8 -> 16 -> 32 with BN + ReLU, then tanh."""

    def __init__(self, z_dim: int = 100, channels: int = 3, width: int = 256):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 4 * w, 4, 1, 0), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, channels, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Table 3, right: convs 32 -> 16 -> 8 -> 4 -> 1 with LeakyReLU(0.2) and BN; logit out."""

    def __init__(self, channels: int = 3, width: int = 256):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * w, 1, 4, 1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


# ------------------------------------------------------------------------ SN-ResNet
class GBlock(nn.Module):
    """Table 4, Gen-Block: shortcut Upsample(x2); residual BN-ReLU-Upsample-conv3-BN-ReLU-conv3."""

    def __init__(self, ch: int):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2)
        self.res = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU(), nn.Upsample(scale_factor=2),
                                 nn.Conv2d(ch, ch, 3, 1, 1), nn.BatchNorm2d(ch), nn.ReLU(),
                                 nn.Conv2d(ch, ch, 3, 1, 1))

    def forward(self, x):
        return self.up(x) + self.res(x)


class DBlock(nn.Module):
    """Table 4, Dis-Block: shortcut SN conv1x1 (+ AvgPool when downsampling); residual
    [ReLU unless first] - SN conv3 - ReLU - SN conv3 (+ AvgPool when downsampling)."""

    def __init__(self, cin: int, ch: int, first: bool, down: bool):
        super().__init__()
        pool = [nn.AvgPool2d(2)] if down else []
        self.short = nn.Sequential(spectral_norm(nn.Conv2d(cin, ch, 1)), *pool)
        self.res = nn.Sequential(*([] if first else [nn.ReLU()]),
                                 spectral_norm(nn.Conv2d(cin, ch, 3, 1, 1)), nn.ReLU(),
                                 spectral_norm(nn.Conv2d(ch, ch, 3, 1, 1)), *pool)

    def forward(self, x):
        return self.short(x) + self.res(x)


class ResNetGenerator(nn.Module):
    """Table 5, left: Linear(z -> 4*4*ch), three G-blocks (4 -> 32), BN, ReLU, conv3, tanh."""

    def __init__(self, z_dim: int = 64, channels: int = 3, width: int = 256):
        super().__init__()
        self.width = width
        self.fc = nn.Linear(z_dim, 16 * width)
        self.blocks = nn.Sequential(GBlock(width), GBlock(width), GBlock(width))
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(),
                                 nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh())

    def forward(self, z):
        return self.out(self.blocks(self.fc(z).view(-1, self.width, 4, 4)))


class ResNetDiscriminator(nn.Module):
    """Table 5, right: four D-blocks (32 -> 16 -> 8 -> 8 -> 8), ReLU, AvgPool(8), SN Linear."""

    def __init__(self, channels: int = 3, width: int = 128):
        super().__init__()
        self.blocks = nn.Sequential(DBlock(channels, width, True, True), DBlock(width, width, False, True),
                                    DBlock(width, width, False, False), DBlock(width, width, False, False),
                                    nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.fc = spectral_norm(nn.Linear(width, 1))

    def forward(self, x):
        return self.fc(self.blocks(x).flatten(1))[:, 0]


# --------------------------------------------------------------------- initialisation
#: ``init`` name -> what it does (``default``: PyTorch's own initialisation, left alone)
INITS = ("default", "normal-0.02")


def init_weights(module: nn.Module, scheme: str = "default") -> nn.Module:
    """``normal-0.02`` (the official LEAD code's ``weights_init``, also DCGAN's): every
    ``Linear`` / conv weight ~ N(0, 0.02), biases 0; batch-norm weights ~ N(1, 0.02),
    biases 0. ``default`` leaves PyTorch's initialisation. Draws from the global RNG."""
    if scheme not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {scheme!r}")
    if scheme == "default":
        return module
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd, nn.modules.batchnorm._BatchNorm)):
                if getattr(m, "weight", None) is None:      # affine=False batch norm
                    continue
                w = getattr(m, "parametrizations", None)
                weight = w.weight.original if w is not None and hasattr(w, "weight") else m.weight
                weight.normal_(1.0 if isinstance(m, nn.modules.batchnorm._BatchNorm) else 0.0, 0.02)
                if m.bias is not None:
                    m.bias.zero_()
    return module


# ------------------------------------------------------------------------- registry
#: model name -> (default z_dim, default width)
MODELS = {"mlp": (64, 2000), "fr-mlp": (16, 64), "dcgan": (100, 256), "resnet": (64, 256)}


def build_models(name: str, data_shape, z_dim: int | None = None, width: int | None = None
                 ) -> tuple[nn.Module, nn.Module, int]:
    """``(generator, discriminator, z_dim)`` of model ``name`` for data of ``data_shape``
    (``(d,)`` for vectors, ``(C, 32, 32)`` for the convolutional models)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    dz, dw = MODELS[name]
    z_dim, width = z_dim or dz, width or dw
    if z_dim < 1 or width < 1:
        raise ValueError(f"z_dim and width must be >= 1, got {z_dim}, {width}")
    shape = tuple(int(s) for s in data_shape)
    image = len(shape) == 3
    if name in ("dcgan", "resnet"):
        if not image or shape[1:] != (32, 32):
            raise ValueError(f"model {name!r} needs 32 x 32 images (C, 32, 32), got data of shape {shape}")
        if name == "dcgan":
            return DCGANGenerator(z_dim, shape[0], width), DCGANDiscriminator(shape[0], width), z_dim
        return (ResNetGenerator(z_dim, shape[0], width),
                ResNetDiscriminator(shape[0], max(1, width // 2)), z_dim)
    d = math.prod(shape)
    if name == "mlp":  # Table 2: 3 hidden ReLU layers
        return (MLP(z_dim, shape, width, 3, "relu", out_act="tanh" if image else None),
                MLP(d, (), width, 3, "relu"), z_dim)
    return (MLP(z_dim, shape, width, 2, "tanh", out_act="tanh" if image else None),  # FR
            MLP(d, (), width, 2, "tanh", spectral=image), z_dim)
