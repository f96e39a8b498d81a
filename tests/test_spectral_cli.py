"""``gamemech spectrum``: the JSON contract, tuning, plot, exit code 2 on bad input."""
import json

import numpy as np
import pytest

from gamemech.cli import main


def run_cli(capsys, *argv):
    try:
        rc = main(list(argv))
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_spectrum_lead_json(capsys):
    rc, out, _ = run_cli(capsys, "spectrum", "--method", "lead", "--game", "quadratic",
                         "--h", "0.1", "--A", "[[1,0.5],[0,2]]", "--lr", "0.1", "--beta", "0.2",
                         "--alpha", "0.3", "--json")
    assert rc == 0
    r = json.loads(out)
    eig = np.array([complex(a, b) for a, b in r["eigenvalues"]])
    assert len(eig) == 8
    assert r["spectral_radius"] == pytest.approx(np.abs(eig).max(), abs=0)
    assert r["formula_spectral_radius"] == pytest.approx(r["spectral_radius"], abs=1e-9)
    assert r["params"] == {"lr": 0.1, "beta": 0.2, "alpha": 0.3}


@pytest.mark.parametrize("method", ["gda", "momentum", "eg", "ogda"])
def test_spectrum_other_methods(capsys, method):
    rc, out, _ = run_cli(capsys, "spectrum", "--method", method, "--A", "[[1]]", "--lr", "0.2",
                         "--json")
    r = json.loads(out)
    assert rc == 0 and r["spectral_radius"] > 0 and r["method"] == method


def test_spectrum_tune_and_plot(capsys, tmp_path):
    plot = tmp_path / "fig1.png"
    rc, out, _ = run_cli(capsys, "spectrum", "--method", "lead", "--A", "[[1,0],[0,2]]",
                         "--beta", "0", "--tune", "--maxiter", "15", "--plot", str(plot), "--json")
    r = json.loads(out)
    assert rc == 0 and r["tuned"] and r["params"]["beta"] == 0.0
    assert r["spectral_radius"] < 1 and plot.stat().st_size > 1000


@pytest.mark.parametrize("argv,msg", [
    (["--method", "gda", "--beta", "0.5"], "takes no --beta"),
    (["--A", "[[1,2]]"], "must be square"),
    (["--method", "sgd"], "invalid choice"),
    (["--lr", "nan"], "finite"),
    (["--game", "bilinear", "--h", "1"], "takes no --h"),
])
def test_spectrum_bad_input_exit_2(capsys, argv, msg, tmp_path):
    plot = tmp_path / "never.png"
    rc, _, err = run_cli(capsys, "spectrum", *argv, "--plot", str(plot))
    assert rc == 2 and msg in err and "Traceback" not in err
    assert not plot.exists()
