"""Small versions of the experiments of gamemech.experiments (helper 6b): LEAD Fig. 3,
FR Sec. 6.1, LEAD App. J Fig. 9. Each checks numbers against an independent computation."""
from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest
import torch

import mechanics
import optimizers as O



def load(name):
    return importlib.import_module(f"gamemech.experiments.{name}")


fig3, fr_toy, fig9 = (load(n) for n in ("fig3_coop_adversarial", "fr_toy_games",
                                        "fig9_ogda_gamma"))


# ----------------------------------------------------------------------- Fig. 3
def eq31_jacobian(gamma, A, B1, B2):
    """Jacobian of the vector field of eq. 31, written by hand (numpy)."""
    G = np.diag(gamma)
    C1, C2 = (np.eye(len(gamma)) - G) @ B1, (np.eye(len(gamma)) - G) @ B2
    return np.block([[C1 + C1.T, G @ A], [-(G @ A).T, C2 + C2.T]])


def test_fig3_small_run_gda_matches_a_brute_force_optimum():
    rec = fig3.run([0.0, 1.0], n=2, seed=3, methods=("gda", "lead"), maxiter=3, popsize=4,
                   log=lambda *_: None)
    A, B1, B2, u = (np.array(rec[k]) for k in ("A", "B1", "B2", "u"))
    for row in rec["rows"]:
        J = eq31_jacobian(row["gamma_max"] * u, A, B1, B2)
        lam = np.linalg.eigvals(J)
        lrs, h = np.linspace(1e-4, 2.0, 200001, retstep=True)
        best = np.min(np.max(np.abs(1 - lrs[:, None] * lam[None, :]), axis=1))
        got = row["methods"]["gda"]["spectral_radius"]
        # the radius is Lipschitz in lr with constant max|lambda|: the grid is that close
        assert best - np.abs(lam).max() * h <= got <= best + 1e-12
        lr = row["methods"]["gda"]["params"]["lr"]
        assert got == pytest.approx(np.max(np.abs(1 - lr * lam)), abs=1e-12)
        assert row["methods"]["lead"]["spectral_radius"] < 1.0


def test_complex_momentum_map_of_the_tuner_is_the_optimizer():
    """The tuner's complex-momentum step map (integrators.spectral) iterates exactly like
    optimizers.ComplexMomentum, so Fig. 3's CM curve is about the shipped optimizer."""
    from integrators.spectral import get_method
    rng = np.random.default_rng(0)
    game = mechanics.coop_adversarial(rng.uniform(size=3), A=rng.normal(size=(3, 3)))
    hp = {"lr": 0.3, "beta_abs": 0.7, "beta_arg": 1.1}
    z0 = rng.normal(size=6)
    m = get_method("complex-momentum")
    s = m.state(torch.as_tensor(z0))
    px, py = [torch.tensor(z0[:3], requires_grad=True)], [torch.tensor(z0[3:], requires_grad=True)]
    opt = O.ComplexMomentum(px, py, lr=hp["lr"], beta=O.beta_polar(hp["beta_abs"], hp["beta_arg"]))
    for _ in range(15):
        with torch.no_grad():
            s = m.step(game, s, m.hyperparameters(hp))
        opt.step(lambda: game.losses(px[0], py[0]))
        z = torch.cat([px[0], py[0]]).detach()
        assert torch.allclose(s[:6], z, rtol=1e-12, atol=1e-13)


def test_fig3_cli_writes_png_and_json(tmp_path):
    fig3.main(["--out", str(tmp_path), "--n", "2", "--points", "2", "--maxiter", "2",
               "--popsize", "3", "--methods", "gda,ogda"])
    rec = json.loads((tmp_path / "fig3_coop_adversarial.json").read_text())
    assert [r["gamma_max"] for r in rec["rows"]] == [0.0, 1.0]
    assert (tmp_path / "fig3_coop_adversarial.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit) as e:
        fig3.main(["--out", str(tmp_path / "x"), "--methods", "adam"])
    assert e.value.code == 2 and not (tmp_path / "x").exists()


# ----------------------------------------------------------------- FR Sec. 6.1
def test_fr_toy_games_local_minimax_checks_and_outcomes():
    rec, _ = fr_toy.run(steps=300, games=("g1", "g2"), methods=("GDA", "FR", "SGA"))
    g1, g2 = rec["games"]["g1"], rec["games"]["g2"]
    # by hand: g1 has H_yy = -2, Schur = -6 - 4 (-1/2) 4 = 2; g2 has H_yy = 2, Schur = 6 - 8 = -2
    assert g1["origin"]["eig_Hyy"] == pytest.approx([-2.0]) and g1["origin"]["eig_schur"] == \
        pytest.approx([2.0]) and g1["origin"]["local_minimax"]
    assert g2["origin"]["eig_Hyy"] == pytest.approx([2.0]) and g2["origin"]["eig_schur"] == \
        pytest.approx([-2.0]) and not g2["origin"]["local_minimax"]
    # FR Sec. 6.1: on g1 FR (and SGA) converge, GDA diverges; on g2 GDA converges to the
    # non-minimax origin and FR does not
    assert g1["methods"]["FR"]["status"] == "converged to origin"
    assert g1["methods"]["SGA"]["status"] == "converged to origin"
    assert g1["methods"]["GDA"]["status"] == "diverged"
    assert g2["methods"]["GDA"]["status"] == "converged to origin"
    assert g2["methods"]["FR"]["status"] != "converged to origin"


def test_fr_toy_cli(tmp_path):
    fr_toy.main(["--out", str(tmp_path), "--steps", "20"])
    rec = json.loads((tmp_path / "fr_toy_games.json").read_text())
    assert set(rec["games"]) == {"g1", "g2", "g3"}
    assert set(rec["games"]["g3"]["methods"]) == set(fr_toy.METHODS)
    assert (tmp_path / "fr_toy_games.png").stat().st_size > 1000
    with pytest.raises(SystemExit) as e:
        fr_toy.main(["--out", str(tmp_path / "y"), "--lr", "-1"])
    assert e.value.code == 2 and not (tmp_path / "y").exists()


# --------------------------------------------------------------------- Fig. 9
def test_fig9_spectral_map_matches_closed_form_bounds():
    gammas, lrs = np.array([1.0, 3.0, 6.0]), np.logspace(-3, 0, 25)
    rec = fig9.run(gammas=(1.0, 6.0), lr=0.1, steps=80, grid_gammas=gammas, grid_lrs=lrs)
    for m, rho in rec["grid"]["spectral_radius"].items():
        c = fig9.closed_form_bound(m, 0.0)     # derived by hand in the script's docstring
        for gi, g in enumerate(gammas):
            for lr, r in zip(lrs, rho[gi]):
                if lr * g < c * (1 - 1e-6):
                    assert r < 1.0, (m, g, lr, r)
                elif lr * g > c * (1 + 1e-6):
                    assert r > 1.0, (m, g, lr, r)
    t1, t6 = rec["trajectories"]["gamma=1"]["methods"], rec["trajectories"]["gamma=6"]["methods"]
    assert all(r["converged"] for r in t1.values())
    assert not t6["OGDA"]["converged"]
    assert all(t6[m]["converged"] for m in ("GDA", "LEAD", "CGD"))
    # LEAD with beta = 0, GDA and CGD coincide on this game (grad_xy f = 0)
    np.testing.assert_allclose(t6["GDA"]["distance"], t6["CGD"]["distance"], rtol=1e-12)
    np.testing.assert_allclose(t6["GDA"]["distance"], t6["LEAD"]["distance"], rtol=1e-12)
    # the paper's "OGDA fails for any learning rate when gamma >= 6" does not hold
    assert rec["ogda_converges_at_gamma_6"]["some_grid_lr"]
    small = fig9.trajectory("OGDA", 6.0, 0.04, (1.0, 1.0), 200, 0.0, 0.5)
    assert small[-1] < 1e-6 and math.isfinite(small[-1])


def test_fig9_cli(tmp_path):
    fig9.main(["--out", str(tmp_path), "--steps", "10", "--grid", "3", "4"])
    assert (tmp_path / "fig9_ogda_gamma.png").exists()
    assert json.loads((tmp_path / "fig9_ogda_gamma.json").read_text())["grid"]["lrs"]
