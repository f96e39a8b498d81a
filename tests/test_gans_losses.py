"""gans.losses against closed forms computed independently with numpy."""
import numpy as np
import pytest
import torch

from gans.losses import get_loss


def _logsig(v):
    return -np.log1p(np.exp(-v))


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(7, 3, generator=g, dtype=torch.float64)
    fake = torch.randn(7, 3, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    return real, fake, w


def test_saturating_and_non_saturating(batch):
    real, fake, w = batch
    D = lambda x: x @ w  # noqa: E731  (logits linear in x)
    dr, df = (real @ w).detach().numpy(), (fake @ w).detach().numpy()
    loss_d = -_logsig(dr).mean() - np.log1p(-1 / (1 + np.exp(-df))).mean()
    lg, ld = get_loss("saturating")(D, real, fake)
    assert ld.item() == pytest.approx(loss_d, rel=1e-12)
    assert lg.item() == pytest.approx(-loss_d, rel=1e-12)  # zero-sum: (f, -f)
    lg, ld = get_loss("non-saturating")(D, real, fake)
    assert ld.item() == pytest.approx(loss_d, rel=1e-12)
    assert lg.item() == pytest.approx(-_logsig(df).mean(), rel=1e-12)


@pytest.mark.parametrize("name", ["saturating", "non-saturating", "wgan-gp"])
def test_single_player_equals_pair(batch, name):
    real, fake, w = batch
    D = lambda x: x @ w + (x ** 2).sum(1)  # noqa: E731
    eps = torch.rand(7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    loss = get_loss(name)
    lg, ld = loss(D, real, fake, eps=eps)
    assert loss(D, real, fake, "x", eps=eps).item() == lg.item()
    assert loss(D, real, fake, "y", eps=eps).item() == ld.item()
    with pytest.raises(ValueError, match="player"):
        loss(D, real, fake, "z", eps=eps)


def test_wgan_gp_closed_form(batch):
    real, fake, w = batch
    D = lambda x: x @ w  # noqa: E731  grad_x D = w everywhere, so GP = (|w| - 1)^2
    eps = torch.rand(7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lg, ld = get_loss("wgan-gp", lam=10.0)(D, real, fake, eps=eps)
    wn = w.detach().numpy()
    r, f = real.numpy(), fake.detach().numpy()
    nw = np.linalg.norm(wn)
    assert ld.item() == pytest.approx((f @ wn).mean() - (r @ wn).mean() + 10 * (nw - 1) ** 2, rel=1e-12)
    assert lg.item() == pytest.approx(-(f @ wn).mean(), rel=1e-12)
    # the penalty is differentiable: d/dw 10 (|w| - 1)^2 = 20 (|w| - 1) w / |w|
    (gw,) = torch.autograd.grad(ld, w)
    expect = f.mean(0) - r.mean(0) + 20 * (nw - 1) * wn / nw
    np.testing.assert_allclose(gw.numpy(), expect, rtol=1e-10)


def test_wgan_gp_quadratic_critic(batch):
    real, fake, _ = batch
    D = lambda x: (x ** 2).sum(1)  # noqa: E731  grad = 2 x_hat
    eps = torch.rand(7, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ld = get_loss("wgan-gp", lam=1.0)(D, real, fake, "y", eps=eps)
    e = eps.numpy()[:, None]
    xh = e * real.numpy() + (1 - e) * fake.detach().numpy()
    gp = ((np.linalg.norm(2 * xh, axis=1) - 1) ** 2).mean()
    expect = (fake.detach().numpy() ** 2).sum(1).mean() - (real.numpy() ** 2).sum(1).mean() + gp
    assert ld.item() == pytest.approx(expect, rel=1e-12)


def test_bad_loss_input(batch):
    real, fake, w = batch
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="eps"):
        get_loss("wgan-gp")(lambda x: x @ w, real, fake)
    with pytest.raises(ValueError, match=">= 0"):
        get_loss("wgan-gp", lam=-1.0)
