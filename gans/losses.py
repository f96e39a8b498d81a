"""GAN losses as games: each returns the loss each player MINIMISES, ``(loss_G, loss_D)``.

``D`` returns logits ``d``; ``sigma(d)`` is the probability "real". With ``log sigma(d) =
-softplus(-d)`` and ``log(1 - sigma(d)) = -softplus(d)``:

* ``saturating`` (Goodfellow et al.'s minimax game, zero-sum):
  ``loss_D = E softplus(-D(x)) + E softplus(D(G(z)))`` and ``loss_G = -loss_D``.
* ``non-saturating``: same ``loss_D``; ``loss_G = E softplus(-D(G(z))) = -E log sigma(D(G(z)))``.
* ``wgan-gp`` (Gulrajani et al.): ``loss_D = E D(G(z)) - E D(x) + lam E (||grad D(x_hat)|| - 1)^2``
  with ``x_hat = eps x + (1 - eps) G(z)``, ``eps ~ U[0, 1]`` per sample; ``loss_G = -E D(G(z))``.

Calling a loss with ``player="x"`` (generator) or ``player="y"`` (discriminator) computes only
that player's loss, with the same value as the corresponding entry of the pair: this is the
one-argument closure form of the optimizers' contract. All randomness (``z``, the real batch,
``eps``) is drawn by the caller, so repeated calls within one step see the same game.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PLAYERS = ("x", "y")


def _check_player(player):
    if player is not None and player not in PLAYERS:
        raise ValueError(f"player must be 'x' (generator), 'y' (discriminator) or None, got {player!r}")


def _bce_d(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's cross-entropy ``-E log sigma(D(x)) - E log(1 - sigma(D(G(z))))``."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def saturating(D, real, fake, player=None, eps=None):
    """Zero-sum minimax loss: ``(f, -f)`` with ``f = -loss_D``."""
    _check_player(player)
    loss_d = _bce_d(D(real), D(fake))
    return {"x": -loss_d, "y": loss_d, None: (-loss_d, loss_d)}[player]


def non_saturating(D, real, fake, player=None, eps=None):
    """``loss_G = -E log sigma(D(G(z)))``, ``loss_D`` the cross-entropy."""
    _check_player(player)
    if player == "x":
        return F.softplus(-D(fake)).mean()
    d_fake = D(fake)
    loss_d = _bce_d(D(real), d_fake)
    return loss_d if player == "y" else (F.softplus(-d_fake).mean(), loss_d)


def gradient_penalty(D, real, fake, eps) -> torch.Tensor:
    """``E (||grad_x D(x_hat)||_2 - 1)^2`` at ``x_hat = eps real + (1 - eps) fake``, built with
    ``create_graph=True`` so that it can be differentiated again."""
    eps = eps.reshape(-1, *([1] * (real.dim() - 1)))
    x_hat = eps * real + (1 - eps) * fake
    if not x_hat.requires_grad:
        x_hat = x_hat.requires_grad_(True)
    (g,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def make_wgan_gp(lam: float = 10.0):
    """WGAN-GP with penalty weight ``lam`` (10 in Gulrajani et al.)."""
    if not lam >= 0:
        raise ValueError(f"gradient-penalty weight must be >= 0, got {lam}")

    def wgan_gp(D, real, fake, player=None, eps=None):
        _check_player(player)
        if player == "x":
            return -D(fake).mean()
        if eps is None:
            raise ValueError("wgan-gp needs eps, the interpolation weights (one per sample)")
        d_fake = D(fake).mean()
        loss_d = d_fake - D(real).mean() + lam * gradient_penalty(D, real, fake, eps)
        return loss_d if player == "y" else (-d_fake, loss_d)

    return wgan_gp


LOSSES = {"saturating": lambda: saturating, "non-saturating": lambda: non_saturating,
          "wgan-gp": make_wgan_gp}


def get_loss(name: str, **kwargs):
    """The loss function named ``name`` (one of :data:`LOSSES`)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name](**kwargs)
