"""``gamemech derive``: the JSON contract, charge conventions, exit code 2 on bad input."""
import json

import pytest
import sympy as sp

from gamemech.cli import main


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("conv,alpha", [("eq7", "delta*q/m"), ("slides", "2*delta*q/m")])
def test_derive_json_keys_and_values(capsys, conv, alpha):
    rc, out, _ = run_cli(capsys, "derive", "--forces", "curl,magnetic,friction", "--scheme",
                         "semi-implicit", "--json", "--charge-convention", conv,
                         "--delta", "0.1", "--mu", "0.5", "--q", "3", "--mass", "2")
    assert rc == 0
    r = json.loads(out)
    d, m, mu, q = sp.symbols("delta m mu q")
    assert sp.simplify(sp.sympify(r["beta"]) - (1 - mu * d / m)) == 0
    assert sp.simplify(sp.sympify(r["eta"]) - d**2 / m) == 0
    assert sp.simplify(sp.sympify(r["alpha"]) - sp.sympify(alpha)) == 0
    c = 1 if conv == "eq7" else 2
    assert r["values"]["beta"] == pytest.approx(1 - 0.5 * 0.1 / 2, abs=1e-15)
    assert r["values"]["eta"] == pytest.approx(0.01 / 2, abs=1e-15)
    assert r["values"]["alpha"] == pytest.approx(c * 3 * 0.1 / 2, abs=1e-15)


def test_derive_text_latex_and_no_values_without_delta(capsys):
    rc, out, _ = run_cli(capsys, "derive", "--forces", "curl", "--json")
    r = json.loads(out)
    assert rc == 0 and r["beta"] == "1" and r["alpha"] == "0" and "values" not in r
    rc, out, _ = run_cli(capsys, "derive", "--scheme", "implicit-magnetic", "--latex")
    assert rc == 0 and r"\alpha'" in out and r"\begin{aligned}" in out
    rc, out, _ = run_cli(capsys, "derive", "--scheme", "nesterov")
    assert rc == 0 and "gamma" in out


@pytest.mark.parametrize("argv,msg", [
    (["--forces", "curl,gravity"], "unknown force"),
    (["--delta", "0.1"], "needs a value for mu"),
    (["--mu", "0.1"], "need --delta"),
    (["--scheme", "rk4"], "invalid choice"),
    (["--delta", "-1"], "--delta must be > 0"),
])
def test_derive_bad_input_exit_2(capsys, argv, msg):
    try:
        rc = main(["derive", *argv])
    except SystemExit as e:   # argparse errors
        rc = e.code
    _, err = capsys.readouterr()
    assert rc == 2 and msg in err and "Traceback" not in err
