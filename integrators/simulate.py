"""``simulate``: the one entry point that integrates a game's dynamics in continuous time.

Three real backends, chosen by name, all on the dynamics' fast vector field
(:meth:`~mechanics.Dynamics.fast_field`: a closed form for the quadratic and bilinear
games, today's autograd field otherwise):

- ``"scipy"``: :func:`scipy.integrate.solve_ivp`, every method it has (explicit
  Runge-Kutta and the stiff ``Radau``, ``BDF``, ``LSODA``, which get the exact
  Jacobian: the constant matrix of a closed-form field, else autograd), optional dense
  output. One call per initial condition, numpy in and out (for a closed-form field the
  right-hand side is a plain ``M @ z``).
- ``"torchdiffeq"``: :func:`torchdiffeq.odeint` (or ``odeint_adjoint``), any of its
  methods, on the device and dtype of ``z0``; a whole batch of initial conditions is
  one call, with one step size shared by the batch.
- ``"torchode"``: :mod:`torchode` (optional: ``pip install torchode``), a whole batch in
  one call with a step size *per trajectory* (``dopri5``, ``tsit5``, ``heun``, ``euler``).

A state whose norm passes ``divergence_threshold`` (or turns non-finite) is marked
diverged at that time and frozen, so one exploding trajectory neither crashes the
run nor poisons a batch with NaN. The check inside the solver is, on CPU, one dot
product per evaluation while no member is near the threshold (the batch's squared norm
bounds each member's), else one squared norm per member and one ``where``.
"""
from __future__ import annotations

import contextlib
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
TORCHODE_METHODS = ("dopri5", "tsit5", "heun", "euler")
TORCHODE_FIXED = ("heun", "euler")
DEFAULT_METHOD = {"scipy": "DOP853", "torchdiffeq": "dopri5", "torchode": "dopri5"}


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
    """Replace every state from the first bad one on by the last good state (vectorized)."""
    flat = zs.reshape(zs.shape[0], -1, zs.shape[-1])
    T, B = flat.shape[:2]
    bad = (~torch.isfinite(flat).all(-1)) | (torch.linalg.vector_norm(
        torch.nan_to_num(flat.detach(), nan=np.inf), dim=-1) > threshold)
    bad &= diverged.reshape(1, -1)
    first_bad = torch.where(bad.any(0), torch.argmax(bad.to(torch.int8), dim=0),
                            torch.full((B,), T, device=flat.device))
    last = flat[(first_bad - 1).clamp(min=0), torch.arange(B, device=flat.device)]
    frozen = torch.arange(T, device=flat.device)[:, None] >= first_bad[None, :]
    return torch.where(frozen[..., None], last[None], flat).reshape(zs.shape)


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

    field = dyn.fast_field()
    fun = field.numpy(flat[0]) if len(flat) else None
    jac = field.numpy_jacobian()
    thr2 = threshold * threshold

    def blow_up(t, z):
        sq = float(z @ z)
        return threshold - np.sqrt(sq) if sq <= thr2 else -1.0  # NaN and inf are past it
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
    """The fast vector field as an nn.Module (odeint_adjoint needs one), with freezing:
    a state whose squared norm is not <= threshold^2 (past it, inf or NaN) gets dz = 0."""

    def __init__(self, dyn: Dynamics, threshold: float, dtype: torch.dtype):
        super().__init__()
        self.field, self.nfev = dyn.fast_field(), 0
        self.thr2 = threshold * threshold
        big = torch.finfo(dtype).max if dtype.is_floating_point else float("inf")
        self.check_finite = not self.thr2 < big  # thr^2 overflows: inf <= thr^2 would pass

    def forward(self, t, z):
        self.nfev += 1
        with torch.enable_grad():
            dz = self.field(t, z)
        if self.field.kind != "linear":  # an alive state can still give a NaN force
            dz = torch.nan_to_num(dz, nan=0.0)
        return self.freeze(z, dz)

    def freeze(self, z: torch.Tensor, dz: torch.Tensor) -> torch.Tensor:
        """``dz`` with the rows of diverged states (norm past the threshold, inf, NaN) zeroed."""
        if z.device.type == "cpu" and z.numel():
            # one dot product: the whole batch's squared norm bounds every member's, so
            # when it is <= thr^2 (and finite) nobody has diverged; no per-row work
            flat = z.detach().reshape(-1)
            total = float(torch.dot(flat, flat))
            if total <= self.thr2 and total < float("inf"):
                return dz
        sq = (z * z).sum(-1, keepdim=True)
        alive = sq <= self.thr2
        if self.check_finite:
            alive &= torch.isfinite(sq)
        return torch.where(alive, dz, 0.0)

    def plain(self, z0: torch.Tensor):
        """:meth:`forward` as a plain function ``f(t, z)`` for a solver that takes any
        callable (torchode): no ``nn.Module`` call, and for a closed-form field the
        function of ``z0``'s dtype and device resolved once (its guard runs on ``z0``), with
        no autograd context. Same values as :meth:`forward`."""
        fast = self.field.resolve(z0)
        if fast is None:
            return self.forward
        thr2, cpu = self.thr2, z0.device.type == "cpu"
        freeze = self.freeze
        inf = float("inf")

        def rhs(t, z):
            self.nfev += 1
            dz = fast(z)
            if cpu:  # the common case inline: nobody near the threshold (see freeze)
                flat = z.detach().reshape(-1)
                total = float(torch.dot(flat, flat))
                if total <= thr2 and total < inf:
                    return dz
            return freeze(z, dz)
        return rhs


def _solve_torch(dyn: Dynamics, z0: torch.Tensor, ts: torch.Tensor, method: str, rtol: float,
                 atol: float, threshold: float, adjoint: bool, options: dict):
    if method not in TORCHDIFFEQ_METHODS:
        raise ValueError(f"unknown torchdiffeq method {method!r}; "
                         f"valid: {', '.join(TORCHDIFFEQ_METHODS)}")
    options = dict(options)
    if method in TORCHDIFFEQ_FIXED and "step_size" not in options and "grid_points" not in options:
        options["step_size"] = float(torch.diff(ts).abs().min()) / 10.0
    t = ts.to(device=z0.device, dtype=z0.dtype if z0.is_floating_point() else torch.float64)
    field = _Field(dyn, threshold, z0.dtype)
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


# -------------------------------------------------------------- torchode backend
#: Below this many elements in a stage (batch x features), opt_einsum's path search (about
#: 50-100 us per call) costs more than torch's own order saves; see _stage_sum_order.
STAGE_SUM_SEARCH_MIN = 10_000


def _stage_sum_order(y0: torch.Tensor):
    """The einsum contraction order for torchode's stage sums, while it solves ``y0``.

    torchode forms ``y1`` and the error estimate with a three-operand einsum
    (``"b, s, sbf -> bf"``: step sizes, weights, the stages). torch's own left-to-right
    order (opt_einsum off) forms the ``b x s`` outer product and then one tiny product per
    trajectory: cheapest for small stages, but erratic and up to 6x slower for large
    batches of narrow rows (per call, one thread, under load: 10^4 x 4: 0.45 ms against
    0.19 ms; 10^4 x 20: 3.2 ms against 0.52 ms). opt_einsum's ``greedy`` strategy
    contracts the stages with the weights first, never far from the best order at any
    measured shape (at worst 1.6x at 1000 x 200, or its ~50 us path search at 100 x 200),
    while its default ``auto`` (``optimal`` for three operands) picks the outer product at
    wide shapes (1000 x 200: 1.6 ms against 0.37 ms).
    So: torch's order below :data:`STAGE_SUM_SEARCH_MIN` elements per stage, ``greedy``
    above; nothing is changed when opt_einsum is not installed. ``benchmarks/einsum_order.py``
    measures all of this."""
    if not torch.backends.opt_einsum.is_available():
        return contextlib.nullcontext()
    if y0.numel() < STAGE_SUM_SEARCH_MIN:
        return torch.backends.opt_einsum.flags(enabled=False)
    return torch.backends.opt_einsum.flags(enabled=True, strategy="greedy")


def _solve_torchode(dyn: Dynamics, z0: torch.Tensor, ts: torch.Tensor, method: str, rtol: float,
                    atol: float, threshold: float, options: dict):
    """One batched call of torchode: every trajectory has its own step size."""
    try:
        import torchode
    except ImportError:
        raise ImportError("backend='torchode' needs the optional torchode package "
                          "(pip install torchode)") from None
    if method not in TORCHODE_METHODS:
        raise ValueError(f"unknown torchode method {method!r}; valid: {', '.join(TORCHODE_METHODS)}")
    options = dict(options)
    batch = z0.shape[:-1]
    y0 = z0.reshape(-1, dyn.dim)
    t = ts.to(device=z0.device, dtype=z0.dtype).expand(y0.shape[0], -1)
    field = _Field(dyn, threshold, z0.dtype)
    # torchode's own per-trajectory count (with_stats) adds 1 to every trajectory at every
    # batched evaluation, i.e. it equals field.nfev everywhere: counted once here instead
    term = torchode.ODETerm(field.plain(y0), with_stats=False)
    step = {"dopri5": torchode.Dopri5, "tsit5": torchode.Tsit5, "heun": torchode.Heun,
            "euler": torchode.Euler}[method](term=term)
    if method in TORCHODE_FIXED:
        dt = options.pop("step_size", float(torch.diff(ts).abs().min()) / 10.0)
        controller = torchode.FixedStepController()
        dt0 = torch.full((y0.shape[0],), float(dt) * float(torch.sign(ts[-1] - ts[0])),
                         dtype=z0.dtype, device=z0.device)
    else:
        controller = torchode.IntegralController(atol=atol, rtol=rtol, term=term)
        dt0 = options.pop("dt0", None)
    solver = torchode.AutoDiffAdjoint(step, controller, max_steps=options.pop("max_steps", None))
    if options:
        raise ValueError(f"unknown torchode options {sorted(options)}; valid: step_size "
                         f"(fixed-step methods), dt0, max_steps")
    with _stage_sum_order(y0):
        sol = solver.solve(torchode.InitialValueProblem(y0=y0, t_eval=t), dt0=dt0)
    zs = sol.ys.transpose(0, 1).reshape(len(ts), *batch, dyn.dim)
    status = sol.status.reshape(batch).cpu()
    failed = status != 0
    message = ""
    if failed.any():  # stopped early (dt underflow, max steps): the unreached saves are NaN
        codes = sorted({torchode.Status(int(c)).name for c in status[failed].reshape(-1)})
        message = f"torchode stopped {int(failed.sum())} trajectories early: {', '.join(codes)}"
    stats = {"nfev": field.nfev, "nfev_per_trajectory": torch.full(batch, field.nfev),
             "steps_per_trajectory": sol.stats["n_steps"].reshape(batch).cpu()}
    return zs, stats, not bool(failed.any()), message


# ------------------------------------------------------------------ entry point
BACKENDS = ("scipy", "torchdiffeq", "torchode")


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
    backend: ``"scipy"``, ``"torchdiffeq"`` or ``"torchode"`` (optional package).
    method: a method of that backend (defaults: ``DOP853`` / ``dopri5`` / ``dopri5``).
        Fixed-step torchdiffeq and torchode methods take ``options={"step_size": h}``
        (default: a tenth of the smallest save interval); torchode also takes ``dt0``
        and ``max_steps``.
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
    elif dense_output:
        raise ValueError("dense_output=True needs the scipy backend")
    elif backend == "torchode":
        zs, stats, ok, msg = _solve_torchode(dynamics, z0, ts, method, rtol, atol, threshold,
                                             options or {})
    else:
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
