"""``gamemech energy``: the JSON contract, verdicts against numpy, exit code 2 on bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest

from gamemech.cli import main

A_TEXT = "[[1,0.5],[-0.3,0.8]]"
A = np.array(json.loads(A_TEXT))
KEYS = ("energy_initial", "energy_final", "max_energy_rate", "monotone", "fitted_rate",
        "bound_rate", "certified_rate")


def energy_json(capsys, *argv):
    rc = main(["energy", "--json", "--backend", "torchdiffeq", "--method", "rk4", "--t-end", "4",
               "--n-points", "21", *argv])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def np_thm1(h, A, mu):
    s2 = np.linalg.svd(A, compute_uv=False).min() ** 2
    return min(mu / (1 + mu), 2 * mu * (s2 + h) / ((1 + s2 + 2 * h) * (mu ** 2 + mu) + 2 * s2))


def test_lead_energy_json_contract_and_thm1(capsys, tmp_path):
    plot = tmp_path / "lead.png"
    r = energy_json(capsys, "--A", A_TEXT, "--h", "0.1", "--mu", "0.5", "--x0", "[1,-0.5]",
                    "--y0", "[0.3,1]", "--plot", str(plot))
    for key in KEYS:
        assert key in r
    assert r["energy"] == "lead-eq37" and r["q_matches"]  # --q auto is the default here
    assert r["monotone"] and r["max_energy_rate"] < 0 and not r["growth_found"]
    assert r["energy_final"] <= r["energy_initial"] * np.exp(-r["certified_rate"] * r["t_end"])
    assert r["bound_rate"] == pytest.approx(np_thm1(0.1, A, 0.5), rel=1e-12)
    assert r["bound_source"].startswith("Thm. 1")
    assert r["certified_rate"] >= r["bound_rate"] and r["bound_certified"] and r["bound_holds"]
    assert plot.stat().st_size > 5000


def test_wrong_q_and_eq16_are_caught(capsys):
    r = energy_json(capsys, "--A", A_TEXT, "--mu", "0.5", "--q", "30")
    assert not r["q_matches"] and r["growth_found"] and r["certified_rate"] < 0
    assert r["bound_certified"] is False
    r = energy_json(capsys, "--A", A_TEXT, "--mu", "0.5", "--lead-form", "eq16")
    assert r["q_matches"] and r["growth_found"] and r["certified_rate"] < 0
    assert r["energy"] == "lead-eq16"


def test_other_energies_and_games(capsys):
    r = energy_json(capsys, "--energy", "kinetic", "--A", A_TEXT)
    assert r["certified_rate"] is None and "positive definite" in r["certified_note"]
    assert r["bound_rate"] is not None  # still Thm. 1's setting, so rho is reported
    r = energy_json(capsys, "--energy", "hamiltonian", "--game", "fr-g1")
    assert r["bound_rate"] is None and r["certified_rate"] is None
    for key in KEYS:
        assert key in r
    r = energy_json(capsys, "--energy", "kinetic", "--A", A_TEXT, "--bound", "100")
    assert r["bound_rate"] == 100 and r["bound_holds"] is False and r["bound_source"] == "--bound"


@pytest.mark.parametrize("argv,message", [
    (["--game", "fr-g1"], "quadratic game of eq. 13"),
    (["--charge-convention", "slides"], "charge convention"),
    (["--mass", "2"], "mass"),
    (["--forces", "curl,friction"], "missing Magnetic"),
    (["--mu", "0"], "--q auto"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    rc = main(["energy", "--t-end", "1", "--n-points", "3", *argv])
    _, err = capsys.readouterr()
    assert rc == 2 and message in err and err.count("\n") == 1


def test_unwritable_plot_leaves_no_file(capsys, tmp_path):
    bad = tmp_path / "plot.notaformat"
    rc = main(["energy", "--t-end", "1", "--n-points", "3", "--plot", str(bad)])
    _, err = capsys.readouterr()
    assert rc == 2 and "cannot write plot" in err
    assert list(tmp_path.iterdir()) == []


def test_no_traceback_from_the_installed_entry_point():
    p = subprocess.run([sys.executable, "-m", "gamemech", "energy", "--game", "bilinear",
                        "--A", "[[1,2,3]]"], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "quadratic game" in p.stderr
