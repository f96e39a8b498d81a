"""Fast vector fields: ``Dynamics.vector_field`` compiled once per dynamics.

``Particle.vector_field`` (LEAD eq. 10) evaluates each force through ``Game.vector_field``
and ``Game.mixed``, which rebuild autograd graphs (``torch.autograd.grad``, double
backward) on every call. An ODE solver calls the field thousands of times, so
:func:`fast_field` builds the same map once, choosing the cheapest exact form:

- ``"linear"``: the game declares a constant Hessian (``game.constant_hessian``; the
  quadratic and bilinear games of the catalogue do) and the forces are built-in
  :class:`~mechanics.Curl` / :class:`~mechanics.Magnetic` / :class:`~mechanics.Friction`.
  Then the game's vector field is affine, ``v(p) = J p + b`` (LEAD eq. 14, ``p = [x, y]``),
  with ``J`` and ``b`` taken once by autograd, and eq. 10 with the forces of eq. 6-8 is
  ``x'' = -(k (J p + b) + c J_off v + mu v) / m``, where ``k`` counts the curl forces, ``c``
  is the total magnetic charge, ``J_off`` keeps only the mixed blocks of ``J``
  (eq. 7: ``grad_xy L_x`` and ``grad_yx L_y``) and ``mu`` is the total friction. Small
  phase spaces use one dense matrix product; large ones use the blocks (diagonal blocks
  as vectors when they are diagonal): for eq. 13 two ``n x n`` products instead of one
  ``4n x 4n``, eight times fewer multiply-adds.
- ``"autograd"``: anything else (a user-written force, a force this module does not know,
  a game or dynamics that overrides its derivatives, and every game without a constant
  Hessian): ``dynamics.vector_field`` itself. Composing ``jvp(grad(L))`` once with
  :mod:`torch.func`, and tracing the field once with ``make_fx``, were both measured
  (dirac-gan, fr-g3; batch 1 and 10^4): neither beat ``torch.autograd.grad`` in eager
  mode (torch.func was up to 7x slower at batch 1), so neither is used.

Every fast form is checked once against ``dynamics.vector_field`` on the first state it
sees for each dtype and device (a guard against a wrong declaration such as a
``constant_hessian`` game whose Hessian is not constant); on a mismatch or an error it
falls back to ``"autograd"`` for good. Exactness to rounding is what the tests check.

:meth:`FastField.numpy` and :meth:`FastField.numpy_jacobian` serve scipy's ``solve_ivp``:
numpy in, numpy out, no graph set-up per call; the linear form is a plain matrix product.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import numpy as np
import torch

from .forces import Curl, ForceSum, Friction, Magnetic
from .game import Game

#: Phase dimensions up to this use one dense matrix for the linear form (fewer kernel
#: launches); larger ones use the block form (fewer flops).
DENSE_MAX_DIM = 32

#: Relative tolerance of the one-time guard (a dispatch check, not the exactness test:
#: the forms agree with the reference to a few ulps, far inside this).
GUARD_RTOL = 1e-5


def _force_terms(force) -> Optional[Tuple[int, float, float]]:
    """``(curl count k, total charge c, total friction mu)``, or None for an unknown force."""
    parts = tuple(force) if isinstance(force, ForceSum) else (force,)
    k, c, mu = 0, 0.0, 0.0
    for f in parts:
        if type(f) is Curl:
            k += 1
        elif type(f) is Magnetic:
            c += f.charge
        elif type(f) is Friction:
            mu += f.mu
        else:
            return None
    return k, c, mu


def _plain_game(game: Game) -> bool:
    """The game's derivatives are Game's own (autograd of its losses), not overridden."""
    cls = type(game)
    return all(getattr(cls, name) is getattr(Game, name) for name in ("vector_field", "mixed"))


def _has_parameters(game: Game) -> bool:
    """The losses depend on tensors that require grad (e.g. trainable parameters): a
    closed form built once would cut gradients to them, so the autograd field is kept."""
    with torch.enable_grad():
        x = torch.zeros(game.n, dtype=torch.float64)
        y = torch.zeros(game.m, dtype=torch.float64)
        try:
            return any(isinstance(v, torch.Tensor) and v.requires_grad for v in game.losses(x, y))
        except (RuntimeError, TypeError):  # e.g. float32 parameters: leave it to the guard
            return False


def _affine_game_field(game: Game) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(J, b)`` with ``v(p) = J p + b`` for a game with constant Hessian (float64, CPU)."""
    J = game.jacobian(np.zeros(game.n), np.zeros(game.m)).detach()
    zx = torch.zeros(game.n, dtype=torch.float64)
    zy = torch.zeros(game.m, dtype=torch.float64)
    b = torch.cat(game.vector_field(zx, zy)).detach()
    return J, b


class FastField:
    """The vector field of a dynamics in its fastest exact form (see the module docstring).

    Call it as ``field(t, z)`` (torch, batched over leading dimensions, differentiable);
    :attr:`kind` says which form it uses.
    """

    def __init__(self, dynamics, kind: str, build: Callable[[torch.dtype, torch.device], Callable],
                 linear: Optional[Tuple[np.ndarray, np.ndarray]] = None):
        self.dynamics, self.kind, self._build = dynamics, kind, build
        self._linear = linear  # (M, c): dz = M z + c in float64 numpy, for the linear form
        self._cache: Dict[Tuple[torch.dtype, torch.device], Callable] = {}

    # ----------------------------------------------------------------- torch
    def _for(self, z: torch.Tensor) -> Callable:
        key = (z.dtype, z.device)
        fn = self._cache.get(key)
        if fn is None:
            fn = self._checked(self._build(z.dtype, z.device), z)
            self._cache[key] = fn
        return fn

    def _checked(self, fn: Callable, z: torch.Tensor) -> Callable:
        """``fn`` if it matches the reference field on ``z``; else the reference, for good."""
        reference = self.dynamics.vector_field
        if self.kind == "autograd":
            return reference
        probe = z.detach()
        try:
            with torch.no_grad():
                fast = fn(probe)
            with torch.enable_grad():
                ref = reference(0.0, probe).detach()
            scale = ref.abs().amax() if ref.numel() else torch.zeros((), dtype=ref.dtype)
            ok = fast.shape == ref.shape and bool(torch.allclose(
                fast, ref, rtol=GUARD_RTOL, atol=GUARD_RTOL * float(scale), equal_nan=True))
        except Exception:  # a fast form that fails on this state: the reference still works
            ok = False
        if not ok:
            self.kind, self._linear = "autograd", None
            self._build = lambda dtype, device: (lambda s: reference(0.0, s))
            self._cache.clear()
            return self._build(z.dtype, z.device)
        return fn

    def resolve(self, z: torch.Tensor) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
        """The closed form ``z -> dz/dt`` for ``z``'s dtype and device (its guard runs on
        ``z`` if it has not yet), to call without :meth:`__call__`'s dispatch; None when
        the field is the autograd one (call the field itself then)."""
        fn = self._for(z)
        return None if self.kind == "autograd" else fn

    def __call__(self, t, z: torch.Tensor) -> torch.Tensor:
        fn = self._for(z)
        return fn(z) if self.kind != "autograd" else self.dynamics.vector_field(t, z)

    # ----------------------------------------------------------------- numpy
    @property
    def matrix(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """``(M, c)`` with ``dz/dt = M z + c`` (float64) for the linear form, else None."""
        return self._linear

    def numpy(self, first_state: np.ndarray) -> Callable[[float, np.ndarray], np.ndarray]:
        """A right-hand side ``f(t, z) -> dz/dt`` on float64 numpy arrays (``(dim,)`` or
        ``(dim, k)`` as ``solve_ivp(vectorized=True)`` passes them), for scipy."""
        self._for(torch.from_numpy(np.ascontiguousarray(first_state, dtype=np.float64)))
        if self._linear is not None:
            M, c = self._linear
            if not c.any():
                return lambda t, z: M @ z
            return lambda t, z: M @ z + (c[:, None] if np.ndim(z) == 2 else c)
        field = self

        def rhs(t, z):
            zt = torch.from_numpy(np.ascontiguousarray(np.asarray(z, dtype=np.float64).T))
            with torch.no_grad():
                return field(t, zt).numpy().T
        return rhs

    def numpy_jacobian(self) -> Callable[[float, np.ndarray], np.ndarray]:
        """The exact Jacobian ``dF/dz`` for scipy's stiff methods: the constant matrix of
        the linear form, else autograd (``torch.autograd.functional.jacobian``) per call."""
        if self._linear is not None:
            return lambda t, z: self._linear[0]
        field = self

        def jac(t, z):
            zt = torch.from_numpy(np.array(z, dtype=np.float64))
            with torch.enable_grad():
                return torch.autograd.functional.jacobian(lambda s: field(t, s), zt).numpy()
        return jac


# ------------------------------------------------------------------ the forms
def _linear_particle(game: Game, terms, mass: float):
    """Eq. 10 with eq. 6-8 on an affine game field, as ``dz = M z + c`` (float64)."""
    k, c, mu = terms
    n, m = game.n, game.m
    d = n + m
    J, b = _affine_game_field(game)
    J_off = J.clone()
    J_off[:n, :n] = 0.0
    J_off[n:, n:] = 0.0
    M = torch.zeros(2 * d, 2 * d, dtype=torch.float64)
    M[:d, d:] = torch.eye(d, dtype=torch.float64)
    M[d:, :d] = -k * J / mass
    M[d:, d:] = -(c * J_off + mu * torch.eye(d, dtype=torch.float64)) / mass
    const = torch.cat([torch.zeros(d, dtype=torch.float64), -k * b / mass])
    return M, const, J, b


def _dense_form(M: torch.Tensor, const: torch.Tensor):
    def build(dtype, device):
        MT = M.T.to(dtype=dtype, device=device).contiguous()
        cst = const.to(dtype=dtype, device=device)
        if not bool(const.any()):
            return lambda z: z @ MT
        return lambda z: torch.addmm(cst, z.reshape(-1, z.shape[-1]), MT).reshape(z.shape)
    return build


def _operator(A: torch.Tensor, scale: float):
    """``scale * A`` as the cheapest exact right-multiplier: None (zero), a vector (A
    diagonal: ``u * v``) or the transposed matrix (``u @ W``)."""
    if scale == 0 or not bool(A.any()):
        return None
    if A.shape[0] == A.shape[1] and bool((A - torch.diag(torch.diagonal(A))).eq(0).all()):
        return scale * torch.diagonal(A)
    return (scale * A).T.contiguous()


def _accumulate(out, u: torch.Tensor, op):
    """``out + u op`` in one fused kernel where torch has one (addcmul / addmm)."""
    if op is None:
        return out
    if op.ndim == 1:
        return u * op if out is None else torch.addcmul(out, u, op)
    if out is None:
        return u @ op
    return torch.addmm(out, u, op) if u.ndim == 2 else out + u @ op


def _block_form(game: Game, terms, mass: float, J: torch.Tensor, b: torch.Tensor):
    """Eq. 10 by blocks: ``vx' = -(k Jxx x + Jxy (k y + c vy) + mu vx + k bx) / m`` and
    ``vy' = -(Jyx (k x + c vx) + k Jyy y + mu vy + k by) / m``, with the factors folded
    into the operators once, so an evaluation is two products and a few fused adds."""
    k, c, mu = terms
    n, m = game.n, game.m
    # the cross argument is y + (c/k) vy (or vy alone without curl), scaled by k (or c)
    cross_scale = -(k if k else c) / mass
    ratio = c / k if k else None

    def build(dtype, device):
        def ops(own, cross):
            return (_operator(own.to(dtype=dtype, device=device), -k / mass),
                    _operator(cross.to(dtype=dtype, device=device), cross_scale))
        Dx, Wx = ops(J[:n, :n], J[:n, n:])
        Dy, Wy = ops(J[n:, n:], J[n:, :n])
        cx, cy = ((-k / mass) * b[:n]).to(dtype=dtype, device=device), \
            ((-k / mass) * b[n:]).to(dtype=dtype, device=device)
        has_b = bool(b.any()) and k != 0
        friction = -mu / mass

        def cross_arg(pos, vel):
            if ratio is None:
                return vel
            return pos if ratio == 0 else torch.add(pos, vel, alpha=ratio)

        def side(pos, vel, D, W, cross_pos, cross_vel, const):
            out = None
            if W is not None and (k or c):
                out = _accumulate(out, cross_arg(cross_pos, cross_vel), W)
            out = _accumulate(out, pos, D)
            if friction:
                out = vel * friction if out is None else torch.add(out, vel, alpha=friction)
            if has_b:
                out = const.expand_as(vel) if out is None else out + const
            return torch.zeros_like(vel) if out is None else out

        def field(z):
            x, y = z[..., :n], z[..., n:n + m]
            vx, vy = z[..., n + m:2 * n + m], z[..., 2 * n + m:]
            ax = side(x, vx, Dx, Wx, y, vy, cx)
            ay = side(y, vy, Dy, Wy, x, vx, cy)
            return torch.cat([vx, vy, ax, ay], dim=-1)
        return field
    return build


def fast_field(dynamics) -> FastField:
    """The fastest exact form of ``dynamics.vector_field`` (see the module docstring)."""
    from .dynamics import GradientFlow, Particle  # dynamics imports this module

    game = dynamics.game
    reference = lambda dtype, device: (lambda z: dynamics.vector_field(0.0, z))  # noqa: E731
    cls = type(dynamics)
    if not _plain_game(game) or cls.vector_field not in (Particle.vector_field,
                                                          GradientFlow.vector_field):
        return FastField(dynamics, "autograd", reference)
    if not getattr(game, "constant_hessian", False) or _has_parameters(game):
        return FastField(dynamics, "autograd", reference)
    if isinstance(dynamics, GradientFlow):
        J, b = _affine_game_field(game)
        return FastField(dynamics, "linear", _dense_form(-J, -b), (-J.numpy(), -b.numpy()))
    terms = _force_terms(dynamics.force)
    if terms is None:
        return FastField(dynamics, "autograd", reference)
    M, const, J, b = _linear_particle(game, terms, dynamics.mass)
    if dynamics.dim <= DENSE_MAX_DIM:
        build = _dense_form(M, const)
    else:
        build = _block_form(game, terms, dynamics.mass, J, b)
    return FastField(dynamics, "linear", build, (M.numpy(), const.numpy()))
