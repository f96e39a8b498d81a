"""The simulate and demo commands: the JSON contract, exit code 2 on bad input, no partial files."""
import json
import subprocess
import sys

import pytest

from gamemech.cli import main


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_simulate_json_contract(capsys):
    rc, out, _ = run_cli(capsys, "simulate", "--json", "--mu", "0.5", "--q", "auto", "--t-end", "40")
    assert rc == 0
    r = json.loads(out)
    for key in ("final_state", "final_distance", "diverged", "max_real_eigenvalue"):
        assert key in r
    assert set(r["final_state"]) == {"x", "y", "vx", "vy"}
    assert r["max_real_eigenvalue"] < 0 and r["final_distance"] < 1e-3 and not r["diverged"]


def test_simulate_reports_divergence_and_matches_the_eigenvalue(capsys):
    rc, out, _ = run_cli(capsys, "simulate", "--json", "--forces", "curl", "--t-end", "60",
                         "--backend", "torchdiffeq")
    r = json.loads(out)
    assert rc == 0 and r["diverged"] and r["diverged_at"] > 0 and r["max_real_eigenvalue"] > 0


def test_simulate_quadratic_with_matrices_and_vectors(capsys, tmp_path):
    plot = tmp_path / "p.png"
    rc, out, _ = run_cli(capsys, "simulate", "--json", "--game", "quadratic", "--h", "0.3",
                         "--A", "[[1,0.5],[0,2]]", "--x0", "[1,-1]", "--y0", "0.5", "--vx0", "[0,0.1]",
                         "--plot", str(plot), "--q", "auto", "--mu", "1")
    r = json.loads(out)
    assert rc == 0 and len(r["final_state"]["x"]) == 2 and plot.stat().st_size > 1000


@pytest.mark.parametrize("argv, message", [
    (["--game", "nope"], "invalid choice"),
    (["--forces", "curl,gravity"], "unknown force 'gravity'"),
    (["--mass", "0"], "--mass must be > 0"),
    (["--mu", "-1"], "--mu must be >= 0"),
    (["--mu", "nan"], "--mu must be finite"),
    (["--A", "[[1,2],[3]]"], "ragged"),
    (["--A", "[[1,2],[3,"], "not valid JSON"),
    (["--game", "quadratic", "--A", "[[1,2,3]]"], "square"),
    (["--x0", "[1,2]"], "--x0 has 2 entries"),
    (["--y0", "[\"a\"]"], "JSON list of numbers"),
    (["--x0", "1e999"], "non-finite"),
    (["--game", "fr-g1", "--A", "[[1]]"], "takes no --A"),
    (["--backend", "scipy", "--method", "rk4"], "unknown scipy method"),
    (["--q", "auto", "--mu", "0"], "needs --mu > 0"),
])
def test_bad_input_exits_2_without_traceback(capsys, tmp_path, argv, message):
    plot = tmp_path / "never.png"
    rc = None
    try:
        rc = main(["simulate", "--plot", str(plot), *argv])
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    _, err = capsys.readouterr()
    assert rc == 2 and message in err and "Traceback" not in err
    assert not plot.exists() and list(tmp_path.iterdir()) == []


def test_console_entry_point_bad_input():
    proc = subprocess.run([sys.executable, "-m", "gamemech", "simulate", "--A", "[[1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_writes_its_plots(tmp_path, capsys):
    rc, out, _ = run_cli(capsys, "demo", "--out", str(tmp_path), "--t-end", "40")
    assert rc == 0
    for name in ("phase_plane.png", "distance.png", "summary.json"):
        assert (tmp_path / name).stat().st_size > 100
    runs = json.loads((tmp_path / "summary.json").read_text())["runs"]
    assert len(runs) == 8
    for r in runs:  # convergence agrees with the sign of the eigenvalue, on both backends
        assert r["converges"] == (r["max_real_eigenvalue"] < 0)


def test_simulate_torchode_backend_agrees_with_scipy(capsys):
    pytest.importorskip("torchode")
    common = ("simulate", "--json", "--mu", "0.5", "--q", "auto", "--t-end", "10",
              "--rtol", "1e-9", "--atol", "1e-11")
    finals = {}
    for backend in ("scipy", "torchode"):
        rc, out, _ = run_cli(capsys, *common, "--backend", backend)
        assert rc == 0
        r = json.loads(out)
        assert r["backend"] == backend
        finals[backend] = [v for k in ("x", "y", "vx", "vy") for v in r["final_state"][k]]
    # both solve the same linear ODE to rtol 1e-9: the states agree to well under 1e-6
    assert max(abs(a - b) for a, b in zip(finals["scipy"], finals["torchode"])) < 1e-6
