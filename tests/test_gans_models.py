"""gans.models: output shapes, the layer structure of LEAD Tables 2-5, spectral norm."""
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from gans.models import build_models


@pytest.mark.parametrize("name,shape,width", [
    ("mlp", (2,), 16), ("fr-mlp", (1,), 8), ("fr-mlp", (2,), 8), ("fr-mlp", (1, 28, 28), 8),
    ("mlp", (1, 8, 8), 8), ("dcgan", (3, 32, 32), 4), ("dcgan", (1, 32, 32), 4),
    ("resnet", (3, 32, 32), 8)])
def test_output_shapes(name, shape, width):
    torch.manual_seed(0)
    G, D, z_dim = build_models(name, shape, width=width)
    x = G(torch.randn(3, z_dim))
    assert x.shape == (3, *shape)
    assert D(x).shape == (3,)
    if len(shape) == 3:  # image generators end in tanh
        assert x.abs().max() <= 1


def test_table2_mlp():
    G, D, z_dim = build_models("mlp", (2,))
    lin = [(m.in_features, m.out_features) for m in G.modules() if isinstance(m, nn.Linear)]
    assert z_dim == 64 and lin == [(64, 2000), (2000, 2000), (2000, 2000), (2000, 2)]
    lin = [(m.in_features, m.out_features) for m in D.modules() if isinstance(m, nn.Linear)]
    assert lin == [(2, 2000), (2000, 2000), (2000, 2000), (2000, 1)]
    assert sum(isinstance(m, nn.ReLU) for m in G.modules()) == 3


def test_fr_mlp_tanh_and_spectral_norm_on_images():
    G, D, z_dim = build_models("fr-mlp", (1, 28, 28), width=512)
    assert z_dim == 16
    assert [m.out_features for m in D.modules() if isinstance(m, nn.Linear)] == [512, 512, 1]
    assert sum(isinstance(m, nn.Tanh) for m in D.modules()) == 2
    assert all(parametrize.is_parametrized(m) for m in D.modules() if isinstance(m, nn.Linear))
    _, D2, _ = build_models("fr-mlp", (1,))
    assert not any(parametrize.is_parametrized(m) for m in D2.modules() if isinstance(m, nn.Linear))


def test_table3_dcgan_channels():
    G, D, z_dim = build_models("dcgan", (3, 32, 32))
    assert z_dim == 100
    assert [(m.in_channels, m.out_channels) for m in G.modules() if isinstance(m, nn.ConvTranspose2d)] == \
        [(100, 1024), (1024, 512), (512, 256), (256, 3)]
    assert [(m.in_channels, m.out_channels) for m in D.modules() if isinstance(m, nn.Conv2d)] == \
        [(3, 256), (256, 512), (512, 1024), (1024, 1)]


def test_table5_resnet_spectral_norm_everywhere_in_d():
    G, D, z_dim = build_models("resnet", (3, 32, 32))
    assert z_dim == 64 and G.fc.out_features == 4096
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(parametrize.is_parametrized(m) for m in layers)
    assert D.fc.in_features == 128


def test_bad_model_input():
    with pytest.raises(ValueError, match="32 x 32"):
        build_models("dcgan", (2,))
    with pytest.raises(ValueError, match="unknown model"):
        build_models("vgg", (2,))
