"""Claims of the lecture notes "The Numerics of GANs" (``shared/seeds/004_*``)."""
from __future__ import annotations

import numpy as np

import mechanics
from integrators.spectral import spectrum

from ._registry import FAILS, HOLDS, ClaimResult, claim
from ._util import g

NOTES = "Lecture notes"
FACTORS = (0.5, 0.9, 0.99, 1.01, 1.1, 2.0)


def lemma11_bound(eigs: np.ndarray) -> float:
    """Lemma 11's largest step: ``min over lam of (1/|Re lam|) 2/(1 + (Im lam/Re lam)^2)``
    (= ``2 |Re lam| / |lam|^2``), for the eigenvalues ``lam`` of ``A = -grad v``."""
    re, im = eigs.real, eigs.imag
    return float(np.min(1 / np.abs(re) * 2 / (1 + (im / re) ** 2)))


def spd(rng, n):
    """``M M^T / n + 0.1 I`` with ``M ~ N(0, 1)``: symmetric positive definite."""
    M = rng.normal(size=(n, n))
    return M @ M.T / n + 0.1 * np.eye(n)


def lemma11_games(count: int, seed: int):
    """Random games whose ``grad v`` has eigenvalues in the right half plane: eq. 13 with
    h ~ U[0.05, 1] and A ~ N(0, 1), and eq. 31 with random gamma, A and SPD B1, B2 (n = 2, 3)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = 2 + (i // 2) % 2
        if i % 2 == 0:
            yield f"quadratic n={n}", mechanics.quadratic(float(rng.uniform(0.05, 1)), rng.normal(size=(n, n)))
        else:
            yield (f"coop-adversarial n={n}",
                   mechanics.coop_adversarial(rng.uniform(size=n), A=rng.normal(size=(n, n)),
                                              B1=spd(rng, n), B2=spd(rng, n)))


@claim("notes-lemma11", paper=NOTES, where="Sec. 4, Lemma 11 (Mescheder et al. 2017, Lemma 4)",
       statement="If every eigenvalue lam of A has Re(lam) < 0 and h > 0, then all eigenvalues "
                 "of I + hA lie in the unit disc iff h < (1/|Re lam|) 2/(1 + (Im lam/Re lam)^2) "
                 "for every lam.")
def check_lemma11(quick: bool) -> ClaimResult:
    count, seed = (6, 4) if quick else (40, 4)
    agree = disagree = skipped = 0
    rows = []
    for label, game in lemma11_games(count, seed):
        x, y = game.equilibrium
        lam = -np.linalg.eigvals(game.jacobian(x, y).detach().numpy())   # eigenvalues of A = -grad v
        if not (lam.real < 0).all():
            skipped += 1
            continue
        hstar = lemma11_bound(lam)
        radii = [spectrum("gda", game, lr=float(f * hstar)).spectral_radius for f in FACTORS]
        ok = [(r < 1) == (f < 1) for f, r in zip(FACTORS, radii)]
        agree, disagree = agree + sum(ok), disagree + len(ok) - sum(ok)
        rows.append({"game": label, "bound": hstar, "radii": radii})
    computed = (f"{count} random games (numpy seed {seed}; eq. 13 with h ~ U[.05, 1], A ~ N(0,1); "
                f"eq. 31 with gamma ~ U[0,1]^n, A ~ N(0,1), B1, B2 = M M^T/n + 0.1 I), {skipped} skipped for an "
                "eigenvalue of grad v with Re <= 0; A = -grad v (autograd Jacobian); GDA step "
                "I + hA via integrators.spectral.spectrum('gda', lr=h) at h = bound x "
                f"{list(FACTORS)}: e.g. " + "; ".join(
                    f"{r['game']}: bound {g(r['bound'], 4)}, radii " + "/".join(g(x, 5) for x in r["radii"])
                    for r in rows[:3]))
    data = {"rows": rows, "skipped": skipped, "factors": FACTORS, "seed": seed}
    if disagree == 0 and rows:
        return ClaimResult(HOLDS, computed, f"radius < 1 exactly below the bound in all {agree} "
                           f"(game, step) pairs of {len(rows)} games", data)
    return ClaimResult(FAILS, computed, f"{disagree} of {agree + disagree} (game, step) pairs "
                       "disagree with the condition", data)
