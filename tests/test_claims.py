"""The claims ledger: rows come from computation (independent references, perturbed inputs),
the quick subset runs, and the CLI contract (exit 2 on an unknown id, no file written)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import mechanics
import mechanics.lyapunov
from gamemech.claims import (CLAIMS, FAILS, HOLDS, UNCHECKABLE, VERDICTS, Claim, ClaimResult,
                             render_markdown, run_claim, run_claims)
from gamemech.claims import fr as cfr
from gamemech.claims import lead as clead
from gamemech.claims import notes as cnotes
from gamemech.cli import main
from integrators.spectral import spectral_radius, step_jacobian


@pytest.fixture(scope="module")
def quick_rows():
    ids = ["lead-prop1-eq7", "lead-prop1-slides", "lead-thm1-rate", "lead-thm2", "lead-prop3",
           "lead-thm3", "lead-fig9", "fr-e2-game", "notes-lemma11", "lead-appH"]
    return {r.id: r for r in run_claims(ids, quick=True)}


# ------------------------------------------------------------------ the quick subset
def test_quick_rows_are_complete(quick_rows):
    for r in quick_rows.values():
        assert r.error is None, r.error
        assert r.verdict in VERDICTS
        assert r.computed and r.evidence and r.statement and r.where
        assert r.quick
    assert quick_rows["lead-appH"].verdict == UNCHECKABLE   # no GAN training in quick mode


def test_prop1_verdicts_follow_the_charge_convention(quick_rows):
    assert quick_rows["lead-prop1-eq7"].verdict == FAILS
    assert quick_rows["lead-prop1-slides"].verdict == HOLDS
    d = quick_rows["lead-prop1-eq7"].data
    assert d["derived"]["alpha"] == "delta*q"
    assert d["relative_deviation"]["alpha = q delta"] < 1e-12


def test_prop1_numbers_change_with_the_setting(monkeypatch):
    before = clead.prop1("eq7", True).data["relative_deviation"]
    monkeypatch.setitem(clead.PROP1_SETTING, "q", 0.5)
    after = clead.prop1("eq7", True).data["relative_deviation"]
    assert after["alpha = 2 q delta (Prop. 1)"] != pytest.approx(before["alpha = 2 q delta (Prop. 1)"])
    assert after["alpha = q delta"] < 1e-12


def test_scheme_iterates_reference_is_the_velocity_recursion():
    """Two steps of the numpy scheme by hand on f = xy (h = 0, A = [[1]])."""
    d, mu, c = 0.1, 0.5, 2.0
    z = clead.scheme_iterates(0.0, np.eye(1), [1.0], [0.0], d, mu, c, 2)
    vx1, vy1 = d * -0.0, d * 1.0                   # a_x = -y = 0, a_y = x = 1
    x1, y1 = 1 + d * vx1, 0 + d * vy1
    ax = -y1 - c * vy1 - mu * vx1
    ay = x1 + c * vx1 - mu * vy1
    vx2, vy2 = vx1 + d * ax, vy1 + d * ay
    assert np.allclose(z[2], [x1 + d * vx2, y1 + d * vy2], rtol=0, atol=1e-15)


# ------------------------------------------------------------ Thm. 1 rate, Thm. 3
def test_thm1_rate_reproduces_the_known_failure(quick_rows):
    w = quick_rows["lead-thm1-rate"].data["worst"]
    assert (w["sigma_min"], w["h"], w["mu"]) == (0.0, 0.1, 0.1)
    assert w["thm1_rate"] / w["certified_rate"] == pytest.approx(1.077, abs=5e-4)
    assert w["thm1_rate"] == pytest.approx(0.1 / 1.1, rel=1e-12)       # mu/(1+mu) branch


def test_thm1_rate_verdict_follows_the_library(monkeypatch):
    """With a claimed rate halved, every game is certified and the verdict flips."""
    true_rate = mechanics.lyapunov.thm1_rate
    monkeypatch.setattr(mechanics.lyapunov, "thm1_rate", lambda h, A, mu: 0.5 * true_rate(h, A, mu))
    r = CLAIMS["lead-thm1-rate"].check(True)
    assert r.verdict == HOLDS and r.data["not_certified"] == 0


def test_thm3_radius_against_the_characteristic_polynomial(quick_rows):
    """eq = alpha = 2, A = [[1]], h = beta = 0: X^2 - X (1 - 4 lam) - 2 lam = 0, lam = +-i."""
    roots = np.concatenate([np.roots([1, -(1 - 4 * lam), -2 * lam]) for lam in (1j, -1j)])
    row = quick_rows["lead-thm3"].data["rows"][0]
    assert (row["game"], row["h"], row["beta"]) == ("A = [[1]]", 0.0, 0.0)
    assert row["radius"] == pytest.approx(np.abs(roots).max(), rel=1e-12)
    assert quick_rows["lead-thm3"].verdict == FAILS


# ------------------------------------------------------------------------ Prop. 3
@pytest.mark.parametrize("eta", [0.3, 0.8, 1.4])
def test_prop3_derivative_against_finite_differences(eta):
    game = mechanics.quadratic(0.1, [[1.0]])
    def rho(alpha):
        J = step_jacobian("lead", game, lr=eta, beta=0.2, alpha=alpha).numpy()
        return spectral_radius(np.linalg.eigvals(J)) ** 2
    eps = 1e-6
    fd = (rho(eps) - rho(-eps)) / (2 * eps)
    assert clead.drho_dalpha(game, eta, 0.2) == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_prop3_closed_form_at_zero_h_and_beta(quick_rows):
    """d|mu_+|^2/d alpha = -2 eta s^2 (1 - eta^2 s^2)/(1 + eta^2 s^2): negative iff eta < 1/s."""
    game = mechanics.quadratic(0.0, [[1.0]])
    for eta in (0.5, 1.5):
        exact = -2 * eta * (1 - eta ** 2) / (1 + eta ** 2)
        assert clead.drho_dalpha(game, eta, 0.0) == pytest.approx(exact, rel=1e-10)
    runs = quick_rows["lead-prop3"].data["settings"][0]["negative_on"]
    assert len(runs) == 1 and runs[0][1] < 1.0 < runs[0][1] + 0.06
    assert quick_rows["lead-prop3"].verdict == FAILS


# ------------------------------------------------------------------ Fig. 9, E.2
def test_fig9_converging_lrs_sit_below_the_closed_form(quick_rows):
    d = quick_rows["lead-fig9"].data
    lrs = np.array(d["lrs"])
    for gm, lr in d["largest_converging_lr"].items():
        bound = 1 / (3 * float(gm))
        assert lr < bound and lrs[lrs > lr].min() > bound     # the next grid lr fails
    assert quick_rows["lead-fig9"].verdict == FAILS


def test_fr_e2_schur_complement_by_hand(quick_rows):
    Hxx, Hyy = np.diag([-0.9, -1.0]), np.diag([-1.0, -0.1])
    Hxy = np.array([[0.0, 1.0], [0.0, 1.0]])                    # x1 y2 + x2 y2
    schur = Hxx - Hxy @ np.linalg.inv(Hyy) @ Hxy.T
    row = quick_rows["fr-e2-game"].data["printed (x1y2 + x2y2)"]
    assert np.allclose(row["eig_schur"], np.linalg.eigvalsh(schur), atol=1e-12)
    assert row["local_minimax"] is False and quick_rows["fr-e2-game"].verdict == FAILS


def test_fr_step_is_optimizers_fr():
    assert cfr.fr_step_matches_optimizer(mechanics.fr_g3(), ([0.3], [-0.2]), 0.05, seed=1) < 1e-12


def test_lemma11_bound_against_numpy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        M = rng.normal(size=(3, 3))
        A = -(M @ M.T + 0.1 * np.eye(3)) + (M - M.T)             # Re(eig) < 0
        lam = np.linalg.eigvals(A)
        if not (lam.real < 0).all():
            continue
        h = cnotes.lemma11_bound(lam)
        for f, inside in ((0.98, True), (1.02, False)):
            r = np.abs(np.linalg.eigvals(np.eye(3) + f * h * A)).max()
            assert (r < 1) == inside


# ----------------------------------------------------------------- runner, CLI
def test_a_raising_check_is_reported_not_hidden():
    def boom(quick):
        raise RuntimeError("broken check")
    row = run_claim(Claim("t", "P", "w", "s", boom))
    assert row.verdict == UNCHECKABLE and "broken check" in row.error
    with pytest.raises(ValueError, match="verdict"):
        ClaimResult("maybe", "", "")


def test_markdown_lists_every_row(quick_rows):
    md = render_markdown(list(quick_rows.values()), "cmd")
    for r in quick_rows.values():
        assert f"## {r.id}" in md and r.verdict in md


def test_cli_unknown_id_exits_2_without_writing(tmp_path, capsys):
    out = tmp_path / "c.md"
    assert main(["claims", "--only", "lead-thm2,no-such-claim", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no-such-claim" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_writes_ledger_and_json(tmp_path, capsys):
    out = tmp_path / "docs" / "CLAIMS.md"
    assert main(["claims", "--only", "lead-thm2,fr-e2-game", "--quick", "--out", str(out),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["lead-thm2", "fr-e2-game"]
    text = out.read_text()
    assert "## lead-thm2" in text and "## fr-e2-game" in text and "--quick" in text
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
