"""``simulate``: the one entry point that integrates a game's dynamics in continuous time.

Two real backends, chosen by name:

- ``"scipy"``: :func:`scipy.integrate.solve_ivp`, every method it has (explicit
  Runge-Kutta and the stiff ``Radau``, ``BDF``, ``LSODA``, which get the exact
  Jacobian from autograd), optional dense output. One call per initial condition.
- ``"torchdiffeq"``: :func:`torchdiffeq.odeint` (or ``odeint_adjoint``), any of its
  methods, on the device and dtype of ``z0``; a whole batch of initial conditions is
  one call.

A state whose norm passes ``divergence_threshold`` (or turns non-finite) is marked
diverged at that time and frozen, so one exploding trajectory neither crashes the
run nor poisons a batch with NaN.
"""
from __future__ import annotations

import time
from typing import Optional, Sequence

import numpy as np
import scipy.integrate
import torch
import torchdiffeq

from mechanics.dynamics import Dynamics, Particle

from .trajectory import Trajectory

SCIPY_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
SCIPY_STIFF = ("Radau", "BDF", "LSODA")
TORCHDIFFEQ_METHODS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun", "euler",
                       "midpoint", "heun2", "heun3", "rk4", "explicit_adams", "implicit_adams",
                       "fixed_adams")
TORCHDIFFEQ_FIXED = ("euler", "midpoint", "heun2", "heun3", "rk4", "explicit_adams",
                     "implicit_adams", "fixed_adams")
DEFAULT_METHOD = {"scipy": "DOP853", "torchdiffeq": "dopri5"}


def _check_times(ts) -> torch.Tensor:
    ts = torch.as_tensor(ts, dtype=torch.float64).reshape(-1)
    if ts.numel() < 2:
        raise ValueError("ts needs at least two save times (start and end)")
    if not torch.isfinite(ts).all():
        raise ValueError("ts has non-finite entries")
    d = torch.diff(ts)
    if not ((d > 0).all() or (d < 0).all()):
        raise ValueError("ts must be strictly increasing or strictly decreasing")
    return ts


def _check_tol(name: str, value: float) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return value


def _first_crossing(zs: torch.Tensor, ts: torch.Tensor, threshold: float):
    """Per batch element: whether and when (first save time) the state blew up."""
    bad = (~torch.isfinite(zs).all(-1)) | (torch.linalg.vector_norm(
        torch.nan_to_num(zs, nan=np.inf), dim=-1) > threshold)
    diverged = bad.any(0)
    idx = torch.argmax(bad.to(torch.int8), dim=0)
    at = torch.where(diverged, ts.to(zs.device)[idx], torch.full_like(idx, np.nan, dtype=ts.dtype))
    return diverged.cpu(), at.cpu()


def _freeze_after_divergence(zs: torch.Tensor, diverged, threshold: float) -> torch.Tensor:
    """Replace every state from the first bad one on by the last good state."""
    zs = zs.clone()
    flat = zs.reshape(zs.shape[0], -1, zs.shape[-1])
    for b in torch.nonzero(diverged.reshape(-1)).flatten().tolist():
        traj = flat[:, b]
        good = torch.isfinite(traj).all(-1) & (torch.linalg.vector_norm(
            torch.nan_to_num(traj, nan=np.inf), dim=-1) <= threshold)
        first_bad = int(torch.argmin(good.to(torch.int8)))
        last = traj[first_bad - 1] if first_bad > 0 else traj[0]
        traj[first_bad:] = last
    return flat.reshape(zs.shape)


# ----------------------------------------------------------------- scipy backend
def _solve_scipy(dyn: Dynamics, z0: torch.Tensor, ts: torch.Tensor, method: str, rtol: float,
                 atol: float, threshold: float, dense_output: bool, options: dict):
    if method not in SCIPY_METHODS:
        raise ValueError(f"unknown scipy method {method!r}; valid: {', '.join(SCIPY_METHODS)}")
    batch = z0.shape[:-1]
    flat = z0.detach().to("cpu", torch.float64).reshape(-1, dyn.dim).numpy()
    t_np = ts.numpy()
    out = np.empty((len(t_np), flat.shape[0], dyn.dim))
    nfev, njev, dense, messages, ok = 0, 0, [], [], True

    def fun(t, z):
        with torch.enable_grad():
            return dyn.vector_field(t, torch.from_numpy(z)).detach().numpy()

    def jac(t, z):
        return dyn.jacobian(torch.from_numpy(np.array(z))).detach().numpy()

    def blow_up(t, z):
        return threshold - np.linalg.norm(z) if np.all(np.isfinite(z)) else -1.0
    blow_up.terminal = True

    extra = dict(options)
    if method in SCIPY_STIFF:
        extra.setdefault("jac", jac)
    for b, z in enumerate(flat):
        with np.errstate(all="ignore"):
            sol = scipy.integrate.solve_ivp(fun, (t_np[0], t_np[-1]), z, method=method,
                                            t_eval=t_np, rtol=rtol, atol=atol, events=blow_up,
                                            dense_output=dense_output, **extra)
        nfev, njev = nfev + sol.nfev, njev + sol.njev
        y = np.asarray(sol.y, dtype=np.float64).reshape(dyn.dim, -1)  # [] if it failed at once
        k = y.shape[1]
        out[:k, b] = y.T
        if k < len(t_np):  # stopped early: blown up (event) or failed; mark beyond threshold
            out[k:, b] = np.inf
        if sol.status < 0:
            ok = False
            messages.append(f"initial condition {b}: {sol.message}")
        dense.append(sol.sol)
    zs = torch.from_numpy(out).reshape(len(t_np), *batch, dyn.dim)
    stats = {"nfev": int(nfev), "njev": int(njev)}
    return zs, stats, ok, "; ".join(messages), (dense if dense_output else None)


# ----------------------------------------------------------- torchdiffeq backend
class _Field(torch.nn.Module):
    """The vector field as an nn.Module (odeint_adjoint needs one), with freezing."""

    def __init__(self, dyn: Dynamics, threshold: float):
        super().__init__()
        self.dyn, self.threshold, self.nfev = dyn, threshold, 0

    def forward(self, t, z):
        self.nfev += 1
        with torch.enable_grad():
            dz = self.dyn.vector_field(t, z)
        dead = (~torch.isfinite(z).all(-1, keepdim=True)) | (
            torch.linalg.vector_norm(torch.nan_to_num(z, nan=np.inf), dim=-1, keepdim=True)
            > self.threshold)
        return torch.where(dead, torch.zeros_like(dz), torch.nan_to_num(dz, nan=0.0))


def _solve_torch(dyn: Dynamics, z0: torch.Tensor, ts: torch.Tensor, method: str, rtol: float,
                 atol: float, threshold: float, adjoint: bool, options: dict):
    if method not in TORCHDIFFEQ_METHODS:
        raise ValueError(f"unknown torchdiffeq method {method!r}; "
                         f"valid: {', '.join(TORCHDIFFEQ_METHODS)}")
    options = dict(options)
    if method in TORCHDIFFEQ_FIXED and "step_size" not in options and "grid_points" not in options:
        options["step_size"] = float(torch.diff(ts).abs().min()) / 10.0
    t = ts.to(device=z0.device, dtype=z0.dtype if z0.is_floating_point() else torch.float64)
    field = _Field(dyn, threshold)
    solver = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    extra = {"adjoint_params": ()} if adjoint else {}
    ok, message = True, ""
    try:
        zs = solver(field, z0, t, method=method, rtol=rtol, atol=atol, options=options, **extra)
    except AssertionError as err:  # torchdiffeq signals step-size underflow this way
        ok, message = False, f"torchdiffeq failed: {err}"
        zs = torch.full((len(t), *z0.shape), float("inf"), dtype=z0.dtype, device=z0.device)
        zs[0] = z0
    return zs, {"nfev": field.nfev}, ok, message


# ------------------------------------------------------------------ entry point
BACKENDS = ("scipy", "torchdiffeq")


def simulate(dynamics: Dynamics, z0, ts: Sequence[float], *, backend: str = "torchdiffeq",
             method: Optional[str] = None, rtol: float = 1e-7, atol: float = 1e-9,
             adjoint: bool = False, dense_output: bool = False,
             divergence_threshold: float = 1e8, options: Optional[dict] = None) -> Trajectory:
    """Integrate ``dz/dt = dynamics.vector_field(t, z)`` from ``z0`` and save at ``ts``.

    Parameters
    ----------
    dynamics: a :class:`~mechanics.Particle` or :class:`~mechanics.GradientFlow`.
    z0: ``(dim,)`` or a batch ``(*batch, dim)`` of initial states.
    ts: save times, strictly monotone (decreasing integrates backwards in time).
    backend: ``"scipy"`` or ``"torchdiffeq"``.
    method: a method of that backend (defaults: ``DOP853`` / ``dopri5``). Fixed-step
        torchdiffeq methods take ``options={"step_size": h}`` (default: a tenth of
        the smallest save interval).
    rtol, atol: tolerances handed to the solver.
    adjoint: torchdiffeq only: backpropagate with ``odeint_adjoint``.
    dense_output: scipy only: keep a continuous solution per initial condition.
    divergence_threshold: a state with larger Euclidean norm counts as diverged.
    options: extra keyword options for the backend's solver.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if not isinstance(dynamics, Dynamics):
        raise TypeError(f"dynamics must be a Particle or GradientFlow, got {type(dynamics).__name__}")
    z0 = dynamics.check_state(z0)
    ts = _check_times(ts)
    rtol, atol = _check_tol("rtol", rtol), _check_tol("atol", atol)
    threshold = _check_tol("divergence_threshold", divergence_threshold)
    method = method or DEFAULT_METHOD[backend]
    if adjoint and backend != "torchdiffeq":
        raise ValueError("adjoint=True needs the torchdiffeq backend")
    start = time.perf_counter()
    dense = None
    if backend == "scipy":
        zs, stats, ok, msg, dense = _solve_scipy(dynamics, z0, ts, method, rtol, atol, threshold,
                                                 dense_output, options or {})
    else:
        if dense_output:
            raise ValueError("dense_output=True needs the scipy backend")
        zs, stats, ok, msg = _solve_torch(dynamics, z0, ts, method, rtol, atol, threshold,
                                          adjoint, options or {})
    diverged, at = _first_crossing(zs.detach(), ts, threshold)
    if diverged.any():
        zs = _freeze_after_divergence(zs, diverged.to(zs.device), threshold)
    stats.update(backend=backend, method=method, rtol=rtol, atol=atol,
                 wall_seconds=time.perf_counter() - start)
    return Trajectory(ts=ts, zs=zs, n=dynamics.game.n, m=dynamics.game.m,
                      has_velocity=isinstance(dynamics, Particle), diverged=diverged,
                      diverged_at=at, stats=stats, success=ok, message=msg, dense=dense)
