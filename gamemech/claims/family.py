"""The scheme family's members among the optimizers of the literature (LEAD Sec. 3,
Prop. 1; App. J Table 6), each equality checked by running both optimizers.

For every entry of :data:`integrators.family.KNOWN_AS` the member is derived
(``integrators.derive``), set to the entry's condition, run as a torch optimizer
(``optimizers.from_rule``) and compared iterate by iterate with the known optimizer: the
package's hand-written one (GDA, heavy ball, LEAD, CO, CGD) or the method written from its
definition in numpy (Nesterov's look-ahead, the proximal point's linear solve, Hamiltonian
gradient descent's ``z - lr K^T K z``).
"""
from __future__ import annotations

import numpy as np
import torch

import optimizers as O
from integrators.derive import derive
from integrators.family import KNOWN_AS

from ._registry import FAILS, HOLDS, ClaimResult, claim

SETTING = dict(n=2, h=0.3, seed=0, delta=0.2, mu=1.5, q=0.8, gamma=0.5, steps=20)


def _problem(s):
    rng = np.random.default_rng(s["seed"])
    A = rng.normal(size=(s["n"], s["n"]))
    n, h = s["n"], s["h"]
    K = np.block([[h * np.eye(n), A], [-A.T, h * np.eye(n)]])
    At = torch.tensor(A)

    def f(x, y):
        return 0.5 * h * (x * x).sum() + x @ At @ y - 0.5 * h * (y * y).sum()
    return K, f, rng.normal(size=2 * n)


def _run(make, f, z0, n, steps):
    x = torch.tensor(z0[:n], requires_grad=True)
    y = torch.tensor(z0[n:], requires_grad=True)
    opt = make([x], [y])
    out = []
    for _ in range(steps):
        opt.step(lambda: (f(x, y), -f(x, y)))
        out.append(torch.cat([x, y]).detach().numpy().copy())
    return np.array(out)


def _definition(step, z0, steps):
    z, zp, out = z0.copy(), z0.copy(), []
    for _ in range(steps):
        z, zp = step(z, zp), z
        out.append(z)
    return np.array(out)


def _pairs(s, K, z0):
    """``name -> (rule, reference iterates or optimizer builder)`` per known member."""
    d, one = s["delta"], 1.0 / s["delta"]
    N = len(z0)

    def rule(forces, scheme, **kw):
        return derive(forces, scheme).to_update_rule(d, **kw)
    hb = rule("curl,friction", "semi-implicit", mu=s["mu"])
    hbf = rule("curl,friction", "implicit-friction", mu=s["mu"])
    nes = rule("curl,friction", "nesterov", mu=s["mu"])
    pp = rule("curl,friction", "implicit-curl", mu=one)
    lead = rule("curl,magnetic,friction", "semi-implicit", mu=s["mu"], q=s["q"])
    leadf = rule("curl,magnetic,friction", "implicit-friction", mu=s["mu"], q=s["q"])
    cgd = rule("curl,magnetic,friction", "implicit-magnetic", mu=one, q=d)
    co = rule("curl,friction,consensus", "semi-implicit", mu=one, gamma=s["gamma"])
    hgd = rule("friction,consensus", "semi-implicit", mu=one, gamma=s["gamma"])
    nesterov = lambda z, zp: (z + nes.beta * (z - zp)) - nes.eta * K @ (z + nes.beta * (z - zp))  # noqa: E731
    prox = lambda z, zp: np.linalg.solve(np.eye(N) + pp.eta * K, z)  # noqa: E731
    # grad 1/2 |K z|^2 = K^T K z: Hamiltonian gradient descent, lr = gamma delta^2/m
    ham = lambda z, zp: z - s["gamma"] * d * d * K.T @ K @ z  # noqa: E731
    return {
        ("heavy ball", "semi-implicit"): (hb, lambda px, py: O.MomentumGDA(px, py, lr=hb.eta,
                                                                           beta=hb.beta)),
        ("heavy ball", "implicit-friction"): (hbf, lambda px, py: O.MomentumGDA(
            px, py, lr=hbf.eta, beta=hbf.beta)),
        ("Nesterov", "nesterov"): (nes, _definition(nesterov, z0, s["steps"])),
        ("proximal point", "implicit-curl"): (pp, _definition(prox, z0, s["steps"])),
        ("LEAD", "semi-implicit"): (lead, lambda px, py: O.LEAD(px, py, lr=lead.eta,
                                                               beta=lead.beta, alpha=lead.alpha)),
        ("LEAD", "implicit-friction"): (leadf, lambda px, py: O.LEAD(
            px, py, lr=leadf.eta, beta=leadf.beta, alpha=leadf.alpha)),
        ("CGD", "implicit-magnetic"): (cgd, lambda px, py: O.CGD(px, py, lr=cgd.eta)),
        ("consensus optimization", "semi-implicit"): (co, lambda px, py: O.CO(
            px, py, lr=co.eta, gamma=s["gamma"])),
        ("Hamiltonian gradient descent", "semi-implicit"): (hgd, _definition(ham, z0, s["steps"])),
    }


@claim("family-members", paper="LEAD + literature",
       where="Sec. 3 (Prop. 1) and App. J (Table 6): the physical family",
       statement="Forces (curl, magnetic, friction, consensus) under implicit-explicit schemes "
                 "give known optimizers: GDA, heavy ball, Nesterov, LEAD, consensus "
                 "optimization, Hamiltonian gradient descent, proximal point and CGD are "
                 "members of the family.")
def check_family(quick: bool) -> ClaimResult:
    s = SETTING
    K, f, z0 = _problem(s)
    pairs = _pairs(s, K, z0)
    n, worst, found = s["n"], {}, set()
    for (name, scheme), (rule, ref) in pairs.items():
        got = _run(lambda px, py: O.from_rule(rule, px, py), f, z0, n, s["steps"])
        if callable(ref):
            ref = _run(ref, f, z0, n, s["steps"])
        worst[f"{name} ({scheme})"] = float(np.abs(got - ref).max() / max(1, np.abs(ref).max()))
        found.add(name)
    gda = derive("curl,friction").to_update_rule(s["delta"], mu=1 / s["delta"])
    got = _run(lambda px, py: O.from_rule(gda, px, py), f, z0, n, s["steps"])
    ref = _run(lambda px, py: O.GDA(px, py, lr=gda.eta), f, z0, n, s["steps"])
    worst["GDA (semi-implicit, mu = m/delta)"] = float(np.abs(got - ref).max())
    tol = 1e-8
    bad = {k: v for k, v in worst.items() if v > tol}
    listed = {name for name, _ in KNOWN_AS.values()}
    computed = (f"quadratic game n={n}, h={s['h']}, A ~ N(0,1) seed {s['seed']}, delta="
                f"{s['delta']}, mu={s['mu']}, q={s['q']}, gamma={s['gamma']}, {s['steps']} "
                "steps; from_rule(derived member) vs the known optimizer, max relative iterate "
                "difference: " + "; ".join(f"{k}: {v:.1e}" for k, v in worst.items()))
    data = {"setting": s, "max_relative_difference": worst, "tolerance": tol}
    if bad or not listed <= found:
        return ClaimResult(FAILS, computed, f"differ: {', '.join(bad)}", data)
    return ClaimResult(HOLDS, computed,
                       f"all {len(worst)} equalities hold to {max(worst.values()):.1e} "
                       f"(<= {tol:g}): GDA, heavy ball, Nesterov, LEAD, consensus optimization, "
                       "Hamiltonian gradient descent, proximal point and CGD are members", data)
