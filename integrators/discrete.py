"""Discrete iteration of a two-step rule on a game (LEAD eq. 12 / eq. 33, any UpdateRule).

:func:`rule_step` is one step of an :class:`UpdateRule` (see ``integrators.rule`` for
the formula) on joint positions ``z = [x, y]``: the forces' operators at the game
(:class:`~mechanics.derivatives.GameDerivatives`) fed to the same core as the torch
optimizers (:func:`integrators.updates.lead_update`), differentiable in ``z`` and ``z_prev``
(``integrators.spectral`` takes its Jacobian by autograd). :func:`iterate` runs it and
returns a :class:`~integrators.Trajectory` at times ``t = k delta``, so one game can be
run in continuous and in discrete time and compared.
"""
from __future__ import annotations

from typing import Optional

import torch

from mechanics.derivatives import GameDerivatives
from mechanics.game import Game

from .rule import UpdateRule
from .simulate import _first_crossing, _freeze_after_divergence
from .trajectory import Trajectory
from .updates import lead_update


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


def _terms(rule: UpdateRule, oracle, d, which):
    """``[(c, (T_x, T_y))]`` of the rule's force terms whose vector is in ``which``, at
    the oracle's point (``d``: the joint step they act on, a pair)."""
    return [(t.coefficient, t.force.apply(t.term, oracle, None if t.vector is None else d))
            for t in rule.terms if t.vector in which]


def _update(rule: UpdateRule, game: Game, z, d, p, d_next=None):
    """The rule's new position from ``z``, ``d = dz[k]`` with derivatives at ``p``
    (:func:`integrators.updates.lead_update`, the one core); ``d_next``: the new step
    for the implicit terms (None: leave them out)."""
    (x, y), (dx, dy), (px, py) = _split(game, z), _split(game, d), _split(game, p)
    oracle = GameDerivatives(game, px, py)
    mixed = oracle.mixed(dx, dy) if rule.alpha != 0.0 else (None, None)
    terms = _terms(rule, oracle, (dx, dy), (None, "d"))
    if d_next is not None:
        nx, ny = _split(game, d_next)
        if rule.alpha_implicit != 0.0:
            terms.append((rule.alpha_implicit, oracle.mixed(nx, ny)))
        terms += _terms(rule, oracle, (nx, ny), ("d_next",))
    new = lead_update([x, y], oracle.vector_field(), [dx, dy], list(mixed), lr=rule.eta,
                      beta=rule.beta, alpha=rule.alpha,
                      terms=[(c, list(t)) for c, t in terms])
    return torch.cat(new, dim=-1)


def _coupling(rule: UpdateRule, game: Game, p: torch.Tensor) -> torch.Tensor:
    """The matrix ``K`` of the implicit terms, ``K s = alpha_implicit C(p) s + sum_t c_t
    O_t(p) s`` (``(..., N, N)``), from ``N = n + m`` products batched in one call."""
    N = game.n + game.m
    batch = p.shape[:-1]
    eye = torch.eye(N, dtype=p.dtype, device=p.device).reshape(N, *([1] * len(batch)), N)
    eye = eye.expand(N, *batch, N)
    px, py = _split(game, p.expand(N, *batch, N))
    oracle = GameDerivatives(game, px, py)
    ex, ey = _split(game, eye)
    cols = [(rule.alpha_implicit, oracle.mixed(ex, ey))] if rule.alpha_implicit else []
    cols += _terms(rule, oracle, (ex, ey), ("d_next",))
    K = sum(c * torch.cat(t, dim=-1) for c, t in cols)
    return K.movedim(0, -1)                    # column j = K e_j


def _proximal(rule: UpdateRule, game: Game, z, d, *, tol: float, max_iter: int):
    """The new point ``w`` of a proximal rule, ``w = z + r(w)`` with every derivative at
    ``w`` (and ``dz[k+1] = w - z`` in implicit terms), by Newton's method with the dense
    Jacobian of ``r`` (autograd, for the small games of analysis): exact in one
    iteration on quadratic games, differentiable (the spectral map's Jacobian)."""
    N = z.shape[-1]
    batch = z.shape[:-1]
    eye = torch.eye(N, dtype=z.dtype, device=z.device)
    w = _update(rule, game, z, d, z, d_next=torch.zeros_like(z))      # explicit predictor
    for _ in range(max_iter):
        with torch.enable_grad():
            wr = w.unsqueeze(0).expand(N, *batch, N)
            if not wr.requires_grad:
                wr = wr.detach().requires_grad_(True)
            res = wr - _update(rule, game, z, d, wr, d_next=wr - z)
            sel = eye.reshape(N, *([1] * len(batch)), N)
            rows, = torch.autograd.grad((res * sel).sum(), wr, create_graph=True)
        F = res[0]
        Jf = rows.movedim(0, -2)                  # (..., N, N): row k = grad of F_k
        step = torch.linalg.solve(Jf, F.unsqueeze(-1)).squeeze(-1)
        w = w - step
        if float(torch.linalg.vector_norm(step.detach())) <= tol * max(
                float(torch.linalg.vector_norm((w - z).detach())), torch.finfo(z.dtype).tiny):
            return w
    raise ValueError(f"rule {rule.name!r}: the proximal step did not converge in "
                     f"{max_iter} Newton iterations")


def rule_step(rule: UpdateRule, game: Game, z: torch.Tensor, z_prev: torch.Tensor, *,
              tol: float = 1e-12, max_iter: int = 50) -> torch.Tensor:
    """``z[k+1]`` from ``z[k]`` and ``z[k-1]`` (joint positions ``[x, y]``, batched).

    ``r = beta d - eta v(p) - alpha C(p) d - sum_t c_t O_t(p)[d]`` with ``d = z - z_prev``,
    ``p = z + lookahead d``, ``v`` the game's vector field, ``C`` its mixed blocks
    (``C d = (grad_xy L_x d_y, grad_yx L_y d_x)``) and ``O_t`` the operators of the
    rule's further force terms (:class:`~integrators.rule.RuleTerm`), through
    :func:`integrators.updates.lead_update`. Implicit terms (``alpha_implicit`` and
    terms on ``dz[k+1]``) make the new step ``s`` solve ``(I + K(p)) s = r`` (dense,
    :func:`_coupling`); a ``proximal`` rule takes every derivative at the new point
    (Newton, :func:`_proximal`, to relative step ``tol``); otherwise ``s = r``.
    """
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"rule must be an UpdateRule, got {type(rule).__name__}")
    d = z - z_prev
    if rule.proximal:
        return _proximal(rule, game, z, d, tol=tol, max_iter=max_iter)
    p = z + rule.lookahead * d if rule.lookahead != 0.0 else z
    new = _update(rule, game, z, d, p)
    if rule.is_linear_explicit:
        return new
    K = _coupling(rule, game, p)
    I = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
    return z + torch.linalg.solve(I + K, (new - z).unsqueeze(-1)).squeeze(-1)


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
