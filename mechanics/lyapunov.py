"""Energies along trajectories: values, exact time derivatives, verification, certified rates.

- :func:`track_energy`: ``E`` at every saved time of an
  :class:`integrators.Trajectory` and ``dE/dt = grad E(z) . F(z)`` by autograd along the
  dynamics' own vector field (no differencing of samples), with a per-sample tolerance
  derived from the solver's rtol/atol and floating-point round-off.
- :func:`track_iterates`: the same for discrete iterates (``E_k`` and ``E_k - E_{k-1}``).
- :func:`verify_energy` / :func:`verify_iterates`: an :class:`EnergyReport` (monotone?,
  largest dE/dt and where, fitted exponential rate, whether a supplied rate bound holds,
  Thm. 1's bound and the certified rate where they apply).
- :func:`certified_rate`: for a quadratic energy ``E = z^T P z`` on linear dynamics
  ``z' = M z``, the exact largest ``rho`` with ``dE/dt <= -rho E`` for all states: the
  smallest generalized eigenvalue of ``(-(M^T P + P M), P)``; P is half the Hessian of E
  and M the Jacobian of the vector field, both by autograd.
- :func:`thm1_rate` (LEAD eq. 17 / 43) and :func:`thm1_setting`, which checks that a
  particle is the setting of Thm. 1 (quadratic game, Curl + Magnetic + Friction with eq.
  7's charge convention, unit mass); :func:`thm1_certificate` compares Thm. 1's rate with
  the certified rate of its energy.

Dynamics are assumed autonomous (``Particle`` and ``GradientFlow`` are): the vector field
is evaluated at the first saved time for every sample.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import scipy.linalg
import torch

from .dynamics import Dynamics, GradientFlow, Particle
from .energy import LeadEnergy, energy_name, quadratic_parameters
from .forces import Curl, Friction, Magnetic, PhaseState

EPS = float(np.finfo(np.float64).eps)
#: round-off allowance, in units of machine epsilon, for one evaluation of E or dE/dt.
ROUNDOFF_ULPS = 64.0


# ------------------------------------------------------------------ Thm. 1
def thm1_rate(h: float, A, mu: float) -> float:
    """Thm. 1's rate bound (eq. 17 / eq. 43) from ``sigma_min(A)``, ``h`` and ``mu``::

        rho = min{ mu / (1 + mu),
                   2 mu (s^2 + h) / ((1 + s^2 + 2h)(mu^2 + mu) + 2 s^2) },  s = sigma_min(A)

    Raises ``ValueError`` outside the theorem's range (mu > 0, h + s^2 > 0).
    """
    s = float(np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False).min())
    h, mu = float(h), float(mu)
    if not mu > 0:
        raise ValueError(f"Thm. 1 needs friction mu > 0, got {mu}")
    if not h + s * s > 0:
        raise ValueError(f"Thm. 1 needs h + sigma_min(A)^2 > 0, got h = {h}, sigma_min = {s}")
    return min(mu / (1 + mu), 2 * mu * (s * s + h) / ((1 + s * s + 2 * h) * (mu * mu + mu) + 2 * s * s))


@dataclass(frozen=True)
class Thm1Setting:
    """The parameters of a particle in the setting of Thm. 1 (eq. 36, m = 1, eq. 7 charge)."""

    h: float
    A: np.ndarray
    mu: float
    q: float

    @property
    def q_required(self) -> float:
        """Thm. 1's choice ``q = 2/mu + mu`` (under which dE/dt is eq. 39)."""
        return 2.0 / self.mu + self.mu

    @property
    def q_matches(self) -> bool:
        return math.isclose(self.q, self.q_required, rel_tol=1e-12, abs_tol=0.0)

    @property
    def sigma_min(self) -> float:
        return float(np.linalg.svd(self.A, compute_uv=False).min())

    @property
    def rate(self) -> float:
        """Thm. 1's bound rho (eq. 43)."""
        return thm1_rate(self.h, self.A, self.mu)

    def energy(self, form: str = "eq37") -> LeadEnergy:
        return LeadEnergy(self.mu, form)


def thm1_setting(particle) -> Thm1Setting:
    """Check that ``particle`` is Thm. 1's system and return its (h, A, mu, q).

    Thm. 1 (eq. 36-39) assumes the quadratic game of eq. 13, unit mass, and exactly the
    forces Curl + Magnetic(q) + Friction(mu) with mu > 0 and eq. 7's charge convention
    (magnetic force ``q grad_xy f``). Any other particle raises a ``ValueError`` that
    names what does not fit. q itself is *not* required to be ``2/mu + mu``: that is
    the claim under test (see :attr:`Thm1Setting.q_matches`).
    """
    if not isinstance(particle, Particle):
        raise ValueError(f"Thm. 1 is about a particle (eq. 36); got {type(particle).__name__}")
    h, A = quadratic_parameters(particle.game)
    if particle.mass != 1.0:
        raise ValueError(f"Thm. 1 (eq. 36-39) is written for mass m = 1; this particle has "
                         f"mass {particle.mass}")
    kinds = {}
    for f in particle.forces:
        kind = next((k for k in (Curl, Magnetic, Friction) if type(f) is k), None)
        if kind is None:
            raise ValueError(f"Thm. 1 covers only Curl + Magnetic + Friction; got force {f!r}")
        if kind in kinds:
            raise ValueError(f"force {kind.__name__} appears twice; Thm. 1 has each once")
        kinds[kind] = f
    missing = [k.__name__ for k in (Curl, Magnetic, Friction) if k not in kinds]
    if missing:
        raise ValueError(f"Thm. 1 needs Curl + Magnetic + Friction; missing {', '.join(missing)}")
    mag, fric = kinds[Magnetic], kinds[Friction]
    if mag.convention != "eq7":
        raise ValueError("Thm. 1 (eq. 36) uses eq. 7's charge convention (magnetic force "
                         f"q grad_xy f); this particle uses {mag.convention!r} (charge "
                         f"{mag.charge} = 2q): build Magnetic(q, convention='eq7')")
    if not fric.mu > 0:
        raise ValueError("Thm. 1 needs friction mu > 0")
    return Thm1Setting(h=h, A=A.numpy(), mu=fric.mu, q=mag.q)


# ------------------------------------------------------- energies along dynamics
def phase_state(dynamics: Dynamics, z: torch.Tensor) -> PhaseState:
    """The phase state an energy sees: a Particle's ``(x, y, vx, vy)``; for a
    :class:`GradientFlow` the velocities are the flow's own ``dz/dt``."""
    if isinstance(dynamics, GradientFlow):
        x, y = dynamics.split(z)
        vx, vy = dynamics.split(dynamics.vector_field(0.0, z))
        return PhaseState(x, y, vx, vy)
    return dynamics.split(z)


def _evaluate(dynamics: Dynamics, energy, zs: torch.Tensor, t0: float, with_rate: bool):
    """E, and optionally dE/dt = grad E . F with the sizes its tolerance needs."""
    game = dynamics.game
    with torch.enable_grad():
        z = zs.detach().clone().requires_grad_(True)
        E = energy(game, phase_state(dynamics, z))
        if E.shape != zs.shape[:-1]:
            raise ValueError(f"energy {energy_name(energy)!r} returned shape {tuple(E.shape)}; "
                             f"expected one value per state, {tuple(zs.shape[:-1])}")
        (g,) = torch.autograd.grad(E.sum(), z, create_graph=with_rate, allow_unused=True)
        g = torch.zeros_like(z) if g is None else g
        out = {"E": E.detach(), "grad_norm": torch.linalg.vector_norm(g.detach(), dim=-1)}
        if with_rate:
            F = dynamics.vector_field(t0, z)
            rate = (g * F).sum(-1)
            if rate.requires_grad:
                (gr,) = torch.autograd.grad(rate.sum(), z, allow_unused=True)
            else:
                gr = None
            gr = torch.zeros_like(z) if gr is None else gr
            out.update(rate=rate.detach(), field_norm=torch.linalg.vector_norm(F.detach(), dim=-1),
                       rate_grad_norm=torch.linalg.vector_norm(gr, dim=-1))
    return out


def energy_rate(dynamics: Dynamics, energy, zs, t: float = 0.0):
    """``(E(z), dE/dt(z))`` for states ``zs`` of shape ``(..., dim)``: the exact time
    derivative along the dynamics, ``grad E(z) . F(t, z)``, by autograd."""
    zs = dynamics.check_state(zs)
    ev = _evaluate(dynamics, energy, zs, t, True)
    return ev["E"], ev["rate"]


@dataclass
class EnergyTrace:
    """An energy along a trajectory or a sequence of iterates.

    ``values[k]`` is E at ``ts[k]``; ``rates[k]`` the exact dE/dt there (continuous
    time only, else ``None``); ``value_tol`` / ``rate_tol`` the numerical uncertainty of
    each (solver error ``rtol |z| + atol sqrt(dim)`` propagated through the gradient,
    plus round-off); ``increments[k] = E_k - E_{k-1}`` (``k >= 1``).
    """

    ts: torch.Tensor
    zs: torch.Tensor
    values: torch.Tensor
    value_tol: torch.Tensor
    rates: Optional[torch.Tensor] = None
    rate_tol: Optional[torch.Tensor] = None
    name: str = "energy"

    @property
    def increments(self) -> torch.Tensor:
        return self.values[1:] - self.values[:-1]


def _state_error(zs: torch.Tensor, rtol: float, atol: float) -> torch.Tensor:
    return rtol * torch.linalg.vector_norm(zs, dim=-1) + atol * math.sqrt(zs.shape[-1])


def _trace(dynamics, energy, ts, zs, rtol, atol, with_rate) -> EnergyTrace:
    zs = torch.as_tensor(zs)
    if zs.ndim < 2 or zs.shape[-1] != dynamics.dim:
        raise ValueError(f"states must have shape (T, ..., {dynamics.dim}), got {tuple(zs.shape)}")
    ev = _evaluate(dynamics, energy, zs, float(ts[0]), with_rate)
    err = _state_error(zs.detach(), rtol, atol)
    znorm = torch.linalg.vector_norm(zs.detach(), dim=-1)
    ulp = ROUNDOFF_ULPS * torch.finfo(ev["E"].dtype).eps  # round-off of the states' dtype
    value_tol = ev["grad_norm"] * err + ulp * (ev["E"].abs() + ev["grad_norm"] * znorm)
    rates = rate_tol = None
    if with_rate:
        rates = ev["rate"]
        rate_tol = ev["rate_grad_norm"] * err + ulp * ev["grad_norm"] * ev["field_norm"]
    return EnergyTrace(ts=torch.as_tensor(ts, dtype=torch.float64), zs=zs, values=ev["E"],
                       value_tol=value_tol, rates=rates, rate_tol=rate_tol,
                       name=energy_name(energy))


def track_energy(dynamics: Dynamics, energy, trajectory) -> EnergyTrace:
    """E and its exact dE/dt (autograd through ``dynamics.vector_field``) at every saved time."""
    if not callable(energy):
        raise TypeError(f"energy must be callable (game, state) -> tensor, got {energy!r}")
    if trajectory.zs.shape[-1] != dynamics.dim:
        raise ValueError(f"trajectory states have dimension {trajectory.zs.shape[-1]}, the "
                         f"dynamics {dynamics.dim}")
    rtol, atol = (float(trajectory.stats.get(k, 0.0)) for k in ("rtol", "atol"))
    return _trace(dynamics, energy, trajectory.ts, trajectory.zs, rtol, atol, True)


def phase_states_from_iterates(xs, ys, delta: float = 1.0) -> torch.Tensor:
    """Phase states ``[x_k, y_k, v_k^x, v_k^y]`` of discrete iterates, k >= 1, with the
    velocity of eq. 32a-b: ``v_k = (x_k - x_{k-1}) / delta``. ``xs``: ``(K, ..., n)``."""
    xs, ys = torch.as_tensor(xs), torch.as_tensor(ys)
    if xs.shape[0] < 2 or xs.shape[0] != ys.shape[0]:
        raise ValueError("need at least two iterates of x and y, as many of each")
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta}")
    vx, vy = (xs[1:] - xs[:-1]) / delta, (ys[1:] - ys[:-1]) / delta
    return torch.cat([xs[1:], ys[1:], vx, vy], dim=-1)


def track_iterates(dynamics: Dynamics, energy, zs, ts=None) -> EnergyTrace:
    """E at each discrete iterate ``zs[k]`` (layout of ``dynamics``); its ``increments``
    are ``E_k - E_{k-1}``. ``ts`` defaults to the iteration index. Tolerances are
    round-off only (iterates are exact values of the update)."""
    zs = torch.as_tensor(zs)
    ts = torch.arange(zs.shape[0], dtype=torch.float64) if ts is None else torch.as_tensor(ts)
    return _trace(dynamics, energy, ts, zs, 0.0, 0.0, False)


# ------------------------------------------------------------------ certified rate
@dataclass
class CertifiedRate:
    """The exact largest rho with ``dE/dt <= -rho E`` for all states (quadratic E, linear F).

    ``witness`` is a state (``center + direction``) where equality holds: there
    ``dE/dt = -rate E``; with ``rate < 0`` the energy grows there. ``P`` (E = z^T P z
    about ``center``) and ``M`` (F = M z) come from autograd; ``tol`` bounds the
    eigen-solver's error on ``rate``.
    """

    rate: float
    witness: torch.Tensor
    P: np.ndarray
    M: np.ndarray
    center: torch.Tensor
    tol: float


def _center(dynamics: Dynamics) -> torch.Tensor:
    if dynamics.game.equilibrium is not None:
        return dynamics.equilibrium_state()
    return torch.zeros(dynamics.dim, dtype=torch.float64)


def _energy_of_z(dynamics, energy):
    return lambda z: energy(dynamics.game, phase_state(dynamics, z))


def certified_rate(dynamics: Dynamics, energy, probes: int = 4, seed: int = 0) -> CertifiedRate:
    """The exact certified decay rate of a quadratic energy on linear dynamics.

    With ``P = 1/2 Hess E`` and ``M = dF/dz`` (autograd, at the equilibrium ``c``),
    ``E(c + z) = z^T P z`` and ``dE/dt = z^T (M^T P + P M) z``, so the largest rho with
    ``dE/dt <= -rho E`` everywhere is the smallest eigenvalue of the symmetric-definite
    pencil ``(-(M^T P + P M), P)`` (``scipy.linalg.eigh``). Raises ``ValueError`` when it
    does not apply: E not quadratic about c, F not linear, or P not positive definite.
    Quadraticity and linearity are confirmed at ``probes`` random states.
    """
    c = _center(dynamics)
    E = _energy_of_z(dynamics, energy)
    with torch.enable_grad():
        H = torch.autograd.functional.hessian(E, c)
        e0 = E(c)
    P = 0.5 * H.detach().numpy()
    P = 0.5 * (P + P.T)
    M = dynamics.jacobian(c).detach().numpy()
    gen = torch.Generator().manual_seed(seed)
    dz = torch.randn(probes, dynamics.dim, generator=gen, dtype=torch.float64)
    with torch.enable_grad():
        e_probe = E(c + dz).detach().numpy()
        f_probe = dynamics.vector_field(0.0, c + dz).detach().numpy()
    f0 = dynamics.vector_field(0.0, c.unsqueeze(0)).detach().numpy()[0]
    d = dz.numpy()
    e_model = np.einsum("bi,ij,bj->b", d, P, d)
    f_model = d @ M.T
    scale_e = np.abs(np.einsum("bi,ij,bj->b", np.abs(d), np.abs(P), np.abs(d))) + abs(float(e0))
    if np.any(np.abs(e_probe - float(e0) - e_model) > 1e3 * EPS * (scale_e + 1.0)) or abs(float(e0)) > 1e3 * EPS:
        raise ValueError(f"energy {energy_name(energy)!r} is not a quadratic form vanishing at "
                         "the equilibrium, so no exact certified rate")
    scale_f = np.abs(d) @ np.abs(M).T + 1.0
    if np.any(np.abs(f_probe - f0 - f_model) > 1e3 * EPS * scale_f) or np.any(np.abs(f0) > 1e3 * EPS):
        raise ValueError("the dynamics are not linear about the equilibrium, so no exact certified rate")
    p_eig = np.linalg.eigvalsh(P)
    if not p_eig[0] > 1e3 * EPS * max(abs(p_eig[-1]), 1.0):
        raise ValueError(f"energy {energy_name(energy)!r} is not positive definite "
                         f"(smallest eigenvalue of its quadratic form {p_eig[0]:.3g})")
    Q = -(M.T @ P + P @ M)
    w, V = scipy.linalg.eigh(Q, P)
    tol = 1e3 * EPS * float(np.max(np.abs(w))) * max(1.0, p_eig[-1] / p_eig[0])
    direction = torch.from_numpy(V[:, 0] / np.linalg.norm(V[:, 0]))
    return CertifiedRate(rate=float(w[0]), witness=c + direction, P=P, M=M, center=c, tol=tol)


def _certifies(cert: CertifiedRate, rho: float) -> bool:
    """Whether the certified rate reaches ``rho``, within the eigen-solver's error."""
    return bool(cert.rate >= rho - cert.tol)


@dataclass(frozen=True)
class Thm1Certificate:
    """Thm. 1's claimed rate beside the exact certified rate of its energy, for one particle.

    ``certified`` is ``certified_rate >= thm1_rate`` (within the eigen-solver's error):
    whether ``dE/dt <= -rho E`` really holds at every state for Thm. 1's rho. ``witness``
    is the state where ``dE/dt / E`` is largest (``= -certified_rate``).
    """

    thm1_rate: float
    certified_rate: float
    certified: bool
    q_matches: bool
    witness: torch.Tensor


def thm1_certificate(particle, form: str = "eq37") -> Thm1Certificate:
    """Check Thm. 1 on ``particle`` exactly: its rho (eq. 43) against the certified rate of
    the LEAD energy (eq. 37, or eq. 16's typo form). Raises ``ValueError`` outside Thm. 1's
    setting (see :func:`thm1_setting`)."""
    setting = thm1_setting(particle)
    cert = certified_rate(particle, setting.energy(form))
    rho = setting.rate
    return Thm1Certificate(thm1_rate=rho, certified_rate=cert.rate,
                           certified=_certifies(cert, rho),
                           q_matches=setting.q_matches, witness=cert.witness)


# ------------------------------------------------------------------ the report
@dataclass
class EnergyReport:
    """The verdict on an energy along a trajectory (see :func:`verify_energy`).

    energy_initial, energy_final: E at the first and last saved time (for a batch of
        trajectories, the mean over the batch; the other verdicts cover every member).

    monotone: no sample-to-sample increase beyond its numerical tolerance and (in
        continuous time) no dE/dt above its tolerance.
    max_energy_rate, max_rate_time, max_rate_state, max_rate_index: the largest exact
        dE/dt seen and where (continuous time; ``None`` for iterates).
    max_energy_increase: the largest ``E_k - E_{k-1}``.
    fitted_rate: ``-slope`` of a least-squares line through ``log E`` against time,
        over the samples whose E stands clear of its uncertainty (10x).
    bound_rate / bound_holds: a supplied rate rho and whether ``E(t) <= E(t0)
        exp(-rho (t - t0))`` at every sample, within tolerance.
    thm1_rate, q_matches: Thm. 1's rho (eq. 43) where the particle is Thm. 1's setting,
        and whether its q equals 2/mu + mu.
    certified_rate, certified_witness: the exact rate of :func:`certified_rate` and the
        state attaining it, where that applies (``certified_note`` says why not).
    bound_certified: ``certified_rate >= thm1_rate`` (for the LEAD energy only).
    growth_found, growth_state: a state where dE/dt > 0 was found (along the trajectory
        or as the certified witness), and that state.
    """

    energy: str
    energy_initial: float
    energy_final: float
    monotone: bool
    max_energy_increase: float
    max_energy_rate: Optional[float] = None
    max_rate_time: Optional[float] = None
    max_rate_state: Optional[List[float]] = None
    max_rate_index: Optional[List[int]] = None
    fitted_rate: Optional[float] = None
    bound_rate: Optional[float] = None
    bound_holds: Optional[bool] = None
    thm1_rate: Optional[float] = None
    q_matches: Optional[bool] = None
    certified_rate: Optional[float] = None
    certified_witness: Optional[List[float]] = None
    certified_note: Optional[str] = None
    bound_certified: Optional[bool] = None
    growth_found: bool = False
    growth_state: Optional[List[float]] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


def _fitted_rate(trace: EnergyTrace) -> Optional[float]:
    E = trace.values.reshape(len(trace.ts), -1)
    tol = trace.value_tol.reshape(len(trace.ts), -1)
    t = trace.ts.reshape(-1, 1).expand_as(E)
    keep = (E > 10 * tol) & (E > 0)
    if int(keep.sum()) < 2 or torch.unique(t[keep]).numel() < 2:
        return None
    slope = np.polyfit(t[keep].numpy(), np.log(E[keep].numpy()), 1)[0]
    return float(-slope)


def _bound_holds(trace: EnergyTrace, rho: float) -> bool:
    E0 = trace.values[0]
    decay = torch.exp(-rho * (trace.ts - trace.ts[0])).reshape(-1, *[1] * (E0.ndim))
    allowed = E0 * decay + trace.value_tol[0] * decay + trace.value_tol
    return bool((trace.values <= allowed).all())


def _flat_index(shape, flat: int) -> List[int]:
    return [int(i) for i in np.unravel_index(flat, shape)]


def report_from_trace(trace: EnergyTrace, bound_rate: Optional[float] = None) -> EnergyReport:
    """The trajectory part of an :class:`EnergyReport` (no Thm. 1, no certified rate)."""
    inc = trace.increments
    inc_tol = trace.value_tol[1:] + trace.value_tol[:-1]
    monotone = bool((inc <= inc_tol).all())
    rep = EnergyReport(
        energy=trace.name, energy_initial=float(trace.values[0].mean()),
        energy_final=float(trace.values[-1].mean()), monotone=monotone,
        max_energy_increase=float(inc.max()) if inc.numel() else 0.0,
        fitted_rate=_fitted_rate(trace))
    if trace.rates is not None:
        k = int(torch.argmax(trace.rates))
        idx = _flat_index(tuple(trace.rates.shape), k)
        rep.max_energy_rate = float(trace.rates.reshape(-1)[k])
        rep.max_rate_index = idx
        rep.max_rate_time = float(trace.ts[idx[0]])
        rep.max_rate_state = trace.zs[tuple(idx)].detach().tolist()
        rep.monotone = monotone and bool((trace.rates <= trace.rate_tol).all())
        if rep.max_energy_rate > float(trace.rate_tol.reshape(-1)[k]):
            rep.growth_found, rep.growth_state = True, rep.max_rate_state
    if bound_rate is not None:
        rep.bound_rate = float(bound_rate)
        rep.bound_holds = _bound_holds(trace, float(bound_rate))
    return rep


def verify_energy(dynamics: Dynamics, energy, trajectory, bound_rate: Optional[float] = None,
                  certify: bool = True) -> EnergyReport:
    """Verify that ``energy`` decays along ``trajectory`` of ``dynamics``.

    Fills an :class:`EnergyReport`: monotonicity from exact autograd dE/dt and the
    sample increments (tolerances from the solver's rtol/atol and round-off), the
    largest dE/dt and where, the fitted exponential rate, whether ``bound_rate`` holds
    as ``E(t) <= E0 exp(-rho t)``; where the particle is Thm. 1's setting, Thm. 1's
    rho (eq. 43); where E is quadratic and the dynamics linear, the exact certified rate
    (and, for the LEAD energy, whether it certifies Thm. 1's rho).
    """
    rep = report_from_trace(track_energy(dynamics, energy, trajectory), bound_rate)
    try:
        setting = thm1_setting(dynamics)
        rep.thm1_rate, rep.q_matches = setting.rate, setting.q_matches
    except ValueError as err:
        rep.extra["thm1_note"] = str(err)
    if certify:
        try:
            cert = certified_rate(dynamics, energy)
        except ValueError as err:
            rep.certified_note = str(err)
        else:
            rep.certified_rate = cert.rate
            rep.certified_witness = cert.witness.tolist()
            if cert.rate < -cert.tol and not rep.growth_found:
                rep.growth_found, rep.growth_state = True, rep.certified_witness
            if rep.thm1_rate is not None and isinstance(energy, LeadEnergy):
                rep.bound_certified = _certifies(cert, rep.thm1_rate)
    return rep


def verify_iterates(dynamics: Dynamics, energy, zs, ts=None,
                    bound_rate: Optional[float] = None) -> EnergyReport:
    """The report for discrete iterates: monotone iff every ``E_k - E_{k-1}`` is within
    round-off of <= 0; the fitted rate is per unit of ``ts`` (default: per iteration)."""
    return report_from_trace(track_iterates(dynamics, energy, zs, ts), bound_rate)
