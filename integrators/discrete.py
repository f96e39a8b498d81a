"""Discrete iteration of a two-step rule on a game (LEAD eq. 12 / eq. 33, any UpdateRule).

:func:`rule_step` is the functional core: one step of an :class:`UpdateRule` (see
``integrators.rule`` for the formula) on joint positions ``z = [x, y]``, built from
``Game.vector_field`` and ``Game.mixed`` only, differentiable in ``z`` and ``z_prev``
(``integrators.spectral`` takes its Jacobian by autograd). :func:`iterate` runs it and
returns a :class:`~integrators.Trajectory` at times ``t = k delta``, so one game can be
run in continuous and in discrete time and compared.
"""
from __future__ import annotations

from typing import Optional

import torch

from mechanics.game import Game

from .rule import UpdateRule
from .simulate import _first_crossing, _freeze_after_divergence
from .trajectory import Trajectory


def _split(game: Game, z: torch.Tensor):
    return z[..., : game.n], z[..., game.n:]


def coupling_blocks(game: Game, x: torch.Tensor, y: torch.Tensor):
    """``(B_xy, B_yx)`` = ``(grad_xy L_x, grad_yx L_y)`` at ``(x, y)``, shapes ``(..., n, m)``
    and ``(..., m, n)``, from ``n + m`` Jacobian-vector products of ``Game.mixed``
    (batched in one call; for the small games of analysis and tests)."""
    n, m, k = game.n, game.m, game.n + game.m
    batch = x.shape[:-1]
    eye = torch.eye(k, dtype=x.dtype, device=x.device).reshape(k, *([1] * len(batch)), k)
    dx, dy = eye[..., :n].expand(k, *batch, n), eye[..., n:].expand(k, *batch, m)
    mx, my = game.mixed(x.expand(k, *batch, n), y.expand(k, *batch, m), dx, dy)
    return mx[n:].movedim(0, -1), my[:n].movedim(0, -1)


def rule_step(rule: UpdateRule, game: Game, z: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
    """``z[k+1]`` from ``z[k]`` and ``z[k-1]`` (joint positions ``[x, y]``, batched).

    ``r = beta d - eta v(p) - alpha C(p) d`` with ``d = z - z_prev``,
    ``p = z + lookahead d``, ``v`` the game's vector field and ``C`` its mixed blocks
    (``C d = (grad_xy L_x d_y, grad_yx L_y d_x)``, one ``Game.mixed`` call). When
    ``rule.alpha_implicit = a`` is non-zero the new step ``s`` solves
    ``[[I, a B_xy], [a B_yx, I]] s = r`` (implicit magnetic force); otherwise ``s = r``.
    """
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"rule must be an UpdateRule, got {type(rule).__name__}")
    d = z - z_prev
    p = z + rule.lookahead * d if rule.lookahead != 0.0 else z
    px, py = _split(game, p)
    dx, dy = _split(game, d)
    gx, gy = game.vector_field(px, py)
    rx, ry = rule.beta * dx - rule.eta * gx, rule.beta * dy - rule.eta * gy
    if rule.alpha != 0.0:
        mx, my = game.mixed(px, py, dx, dy)
        rx, ry = rx - rule.alpha * mx, ry - rule.alpha * my
    r = torch.cat([rx, ry], dim=-1)
    if not rule.is_explicit:
        a = rule.alpha_implicit
        bxy, byx = coupling_blocks(game, px, py)
        top = torch.cat([torch.eye(game.n, dtype=z.dtype, device=z.device).expand_as(
            bxy[..., :, :game.n]), a * bxy], dim=-1)
        bottom = torch.cat([a * byx, torch.eye(game.m, dtype=z.dtype, device=z.device).expand_as(
            byx[..., :, :game.m])], dim=-1)
        r = torch.linalg.solve(torch.cat([top, bottom], dim=-2), r.unsqueeze(-1)).squeeze(-1)
    return z + r


def iterate(rule: UpdateRule, game: Game, x0, y0, steps: int, *, delta: Optional[float] = None,
            vx0=None, vy0=None, divergence_threshold: float = 1e8,
            dtype=torch.float64) -> Trajectory:
    """Run ``steps`` steps of ``rule`` on ``game`` from ``(x0, y0)``.

    The rule needs a previous point: ``z[-1] = z[0] - delta v0`` (the position relation
    of eq. 32a), i.e. ``z[-1] = z[0]`` for a particle at rest (the default).

    With ``delta`` the result is comparable to ``simulate(Particle(...))``: ``ts = k delta``
    and ``zs = [x, y, vx, vy]`` with the velocities ``(z[k] - z[k-1]) / delta`` (eq. 32a;
    for the explicit position relation they lag one step). Without ``delta``,
    ``ts = k`` and ``zs = [x, y]``. A state whose norm passes ``divergence_threshold``
    counts as diverged and is frozen at its last good value, as in ``simulate``.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if delta is not None:
        delta = float(delta)
        if not (delta > 0 and torch.isfinite(torch.tensor(delta))):
            raise ValueError(f"delta must be positive and finite, got {delta}")
    elif vx0 is not None or vy0 is not None:
        raise ValueError("initial velocities need delta (z[-1] = z[0] - delta v0)")
    x0 = torch.atleast_1d(torch.as_tensor(x0, dtype=dtype))
    y0 = torch.atleast_1d(torch.as_tensor(y0, dtype=dtype))
    if x0.shape[-1] != game.n or y0.shape[-1] != game.m:
        raise ValueError(f"x0, y0 must end in dimensions {game.n}, {game.m}; "
                         f"got {tuple(x0.shape)}, {tuple(y0.shape)}")
    try:
        batch = torch.broadcast_shapes(x0.shape[:-1], y0.shape[:-1])
    except RuntimeError:
        raise ValueError(f"x0 and y0 batch shapes do not broadcast: {tuple(x0.shape)}, "
                         f"{tuple(y0.shape)}") from None
    x0, y0 = x0.expand(*batch, game.n), y0.expand(*batch, game.m)
    z = torch.cat([x0, y0], dim=-1)
    if not torch.isfinite(z).all():
        raise ValueError("initial state has non-finite entries")
    v0 = torch.zeros_like(z)
    if vx0 is not None or vy0 is not None:
        vx = torch.zeros_like(x0) if vx0 is None else torch.as_tensor(vx0, dtype=dtype).expand_as(x0)
        vy = torch.zeros_like(y0) if vy0 is None else torch.as_tensor(vy0, dtype=dtype).expand_as(y0)
        v0 = torch.cat([vx, vy], dim=-1)
    z_prev = z - (delta or 0.0) * v0
    zs = [z_prev, z]
    done = False
    for _ in range(steps):
        if done:
            zs.append(torch.full_like(z, float("inf")))
            continue
        z_new = rule_step(rule, game, zs[-1], zs[-2]).detach()
        zs.append(z_new)
        bad = ~torch.isfinite(z_new).all(-1) | (torch.linalg.vector_norm(
            torch.nan_to_num(z_new, nan=float("inf")), dim=-1) > divergence_threshold)
        done = bool(bad.all())
    traj = torch.stack(zs)                       # (steps + 2, *batch, n + m), from z[-1]
    pos = traj[1:]
    if delta is not None:
        states = torch.cat([pos, (traj[1:] - traj[:-1]) / delta], dim=-1)
        ts = torch.arange(steps + 1, dtype=torch.float64) * delta
    else:
        states, ts = pos, torch.arange(steps + 1, dtype=torch.float64)
    diverged, at = _first_crossing(states, ts, divergence_threshold)
    if diverged.any():
        states = _freeze_after_divergence(states, diverged, divergence_threshold)
    return Trajectory(ts=ts, zs=states, n=game.n, m=game.m, has_velocity=delta is not None,
                      diverged=diverged, diverged_at=at,
                      stats={"method": rule.name, "steps": steps, "nfev": steps,
                             "backend": "discrete"},
                      success=True)
