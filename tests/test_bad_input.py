"""Bad input everywhere: every ``gamemech`` command and the public constructors, fed wrong
types, shapes, ranges and non-finite values, give a clear error -- CLI: exit code 2, one
``gamemech: error:`` line, no traceback, no file left behind; Python: ValueError/TypeError
with a one-line message naming the problem."""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import mechanics as M
import optimizers as O
from gamemech.cli import build_parser, main
from integrators import simulate
from integrators.rule import UpdateRule
from integrators.schemes import Scheme, get_scheme

NAN, INF = "nan", "inf"
TRAIN = ["train", "--task", "mog1d", "--iters", "2", "--width", "4", "--batch-size", "8",
         "--no-progress"]

# (argv, a piece of the expected message)
CLI_CASES = {
    "demo": [
        (["demo", "--mu", "-1"], "--mu must be > 0"),
        (["demo", "--mu", NAN], "finite"),
        (["demo", "--t-end", "0"], "--t-end must be > 0"),
        (["demo", "--t-end", "abc"], "must be a number"),
        (["demo", "--out", "afile"], "not a directory"),
        (["demo", "--out", "afile/sub"], "cannot create --out"),
        (["demo", "--out", "olddemo"], "already holds a demo"),
        (["demo", "--t-end", NAN], "finite"),
    ],
    "simulate": [
        (["simulate", "--game", "nope"], "invalid choice"),
        (["simulate", "--A", "[[1,2]"], "not valid JSON"),
        (["simulate", "--A", "[[1,2],[3]]"], "ragged"),
        (["simulate", "--A", "[[1e400]]"], "non-finite"),
        (["simulate", "--A", "[[" + "9" * 400 + "]]"], "too large"),
        (["simulate", "--A", "[" * 50000], "not valid JSON"),
        (["simulate", "--A", '[["a"]]'], "numbers only"),
        (["simulate", "--x0", "[1,2,3]"], "dimension 1"),
        (["simulate", "--vx0", "[NaN]"], "non-finite"),
        (["simulate", "--y0", "true"], "number"),
        (["simulate", "--q", "abc"], "--q must be a number"),
        (["simulate", "--q", INF], "finite"),
        (["simulate", "--mass", "0"], "--mass must be > 0"),
        (["simulate", "--mu", "-0.1"], "--mu must be >= 0"),
        (["simulate", "--forces", "curl,gravity"], "unknown force 'gravity'"),
        (["simulate", "--n-points", "1"], "at least 2"),
        (["simulate", "--n-points", "1e9"], "invalid int"),
        (["simulate", "--method", "nope"], "unknown scipy method"),
        (["simulate", "--rtol", "-1"], "--rtol must be > 0"),
        (["simulate", "--plot", "x.unknownext"], "cannot write plot"),
        (["simulate", "--plot", "afile/p.png"], "cannot write --plot afile/p.png: afile is a file"),
        (["simulate", "--gamma", "2"], "takes no --gamma"),
        (["simulate", "--game", "quadratic", "--h", NAN], "finite"),
        (["simulate", "--game", "coop-adversarial", "--gamma", "[1,2]", "--A", "[[1]]"],
         "2 entries"),
        (["simulate", "--game", "gamma-quadratic", "--gamma", "[1,2]"], "one number"),
        (["simulate", "--plot", "."], "is a directory"),
        (["simulate", "--n-points", str(10**12)], "GiB"),
        (["simulate", "--backend", "julia"], "invalid choice"),
        (["simulate", "--t-end", "-1"], "--t-end must be > 0"),
        (["simulate", "--atol", "0"], "--atol must be > 0"),
        (["simulate", "--charge-convention", "x"], "invalid choice"),
        (["simulate", "--q", "auto", "--mu", "0"], "needs --mu > 0"),
    ],
    "energy": [
        (["energy", "--mu", "0"], "needs --mu > 0"),
        (["energy", "--energy", "nope"], "invalid choice"),
        (["energy", "--plot", "out.xyz"], "cannot write plot"),
        (["energy", "--x0", "[1,2]"], "dimension 1"),
        (["energy", "--bound", NAN], "finite"),
        (["energy", "--A", "[[1,2],[3,4],[5,6]]"], "square"),
        (["energy", "--bound", "-1"], "--bound must be >= 0"),
        (["energy", "--plot", "afile/e.png"], "afile is a file"),
        (["energy", "--n-points", str(10**12)], "GiB"),
        (["energy", "--lead-form", "nope"], "invalid choice"),
        (["energy", "--forces", "curl"], "--energy lead"),
    ],
    "derive": [
        (["derive", "--scheme", "nope"], "invalid choice"),
        (["derive", "--forces", "nope"], "unknown force"),
        (["derive", "--delta", "-1"], "--delta must be > 0"),
        (["derive", "--delta", NAN], "finite"),
        (["derive", "--mass", "0"], "--mass must be > 0"),
        (["derive", "--mu", "0.5"], "need --delta"),
        (["derive", "--q", "abc"], "--q must be a number"),
        (["derive", "--charge-convention", "x"], "invalid choice"),
        (["derive", "--gamma", "-1"], "--gamma must be >= 0"),
    ],
    "family": [
        (["family", "--game", "nope"], "invalid choice"),
        (["family", "--forces", "curl,gravity"], "unknown force 'gravity'"),
        (["family", "--starts", "0"], "--starts must be >= 1"),
        (["family", "--game", "bilinear", "--h", "1"], "takes no --h"),
        (["family", "--plot", "s.qqq"], "cannot write plot"),
    ],
    "spectrum": [
        (["spectrum", "--method", "nope"], "invalid choice"),
        (["spectrum", "--lr", "-1"], "--lr must be > 0"),
        (["spectrum", "--lr", INF], "finite"),
        (["spectrum", "--plot", "s.qqq"], "cannot write plot"),
        (["spectrum", "--A", "[[1,2],[3,4],[5,6]]"], "square"),
        (["spectrum", "--maxiter", "x"], "--maxiter must be an integer"),
        (["spectrum", "--lr", "0"], "--lr must be > 0"),
        (["spectrum", "--plot", "afile/deeper/s.png"], "afile is a file"),
        (["spectrum", "--maxiter", "0"], "--maxiter must be >= 1"),
        (["spectrum", "--seed", "-1"], "--seed must be in"),
        (["spectrum", "--method", "gda", "--beta", "0.5"], "takes no --beta"),
    ],
    "train": [
        (["train", "--task", "nope", "--iters", "1"], "invalid choice"),
        (TRAIN[:3] + ["--iters", "0"], "--iters must be >= 1"),
        (TRAIN + ["--lr", "-1", "--out", "o"], "--lr must be > 0"),
        (TRAIN + ["--lr", NAN, "--out", "o"], "finite"),
        (TRAIN + ["--batch-size", "0", "--out", "o"], ">= 1"),
        (TRAIN + ["--ema", "1.5", "--out", "o"], "ema must lie in [0, 1)"),
        (TRAIN + ["--hyper", "junk", "--out", "o"], "KEY=VALUE"),
        (TRAIN + ["--optimizer", "co", "--hyper", "gamma=abc", "--out", "o"], "Invalid gamma"),
        (TRAIN + ["--hyper", "nope=1", "--out", "o"], "takes no hyperparameter 'nope'"),
        (TRAIN + ["--out", "afile"], "not a directory"),
        (TRAIN + ["--resume", "--out", "o"], "nothing to resume"),
        (TRAIN + ["--device", "tpu", "--out", "o"], "device must be"),
        (TRAIN + ["--beta1", "1.5", "--out", "o"], "betas[0] must be in [0, 1)"),
        (TRAIN + ["--alpha", INF, "--out", "o"], "finite"),
        (TRAIN + ["--model", "dcgan", "--out", "o"], "32 x 32"),
        (TRAIN + ["--optimizer", "derived", "--out", "o"], "delta"),
        (["train", "--task", "cifar10", "--iters", "1", "--out", "o"], "--data DIR"),
        (["train", "--task", "cifar10", "--iters", "1", "--data", "afile", "--out", "o"],
         "does not exist"),
        (TRAIN + ["--out", "afile/sub"], "afile is a file"),
        (TRAIN + ["--out", "held"], "already holds a run"),
        (TRAIN + ["--out", "held", "--resume", "--overwrite"], "give one of them"),
        (TRAIN + ["--width", str(10**9), "--out", "o"], "GiB"),
        (TRAIN + ["--width", str(10**12), "--out", "o"], "too large"),
        (TRAIN + ["--optimizer", "derived", "--delta", "0.1", "--q", "auto", "--out", "o"],
         "needs --mu > 0"),
        (TRAIN + ["--optimizer", "derived", "--delta", "10", "--mu", "1", "--q", "1", "--out", "o"],
         "outside [-1, 1]"),
        (TRAIN + ["--optimizer", "derived", "--delta", "0.1", "--lr", "0.1", "--out", "o"],
         "does not apply"),
        (TRAIN + ["--optimizer", "derived", "--forces", "magnetic,friction", "--delta", "0.1",
                  "--mu", "1", "--q", "1", "--out", "o"], "never moves from rest"),
        (TRAIN + ["--q", "abc", "--out", "o"], "--q must be a number"),
        (TRAIN + ["--threads", "0", "--out", "o"], "--threads must be >= 1"),
        (TRAIN + ["--threads", "many", "--out", "o"], "--threads must be an integer"),
        (TRAIN + ["--nproc", "3", "--out", "o"], "does not split"),
        (TRAIN + ["--on-nonfinite", "nope", "--out", "o"], "invalid choice"),
        (TRAIN + ["--rollback-lr-factor", "1.5", "--out", "o"], "(0, 1)"),
        (TRAIN + ["--n-dis", "0", "--out", "o"], "--n-dis must be >= 1"),
        (TRAIN + ["--eval-every", "-1", "--out", "o"], "--eval-every must be >= 0"),
        (TRAIN + ["--loss", "nope", "--out", "o"], "invalid choice"),
        (TRAIN + ["--optimizer", "adam", "--beta", "0.5", "--out", "o"], "takes no momentum beta"),
    ],
    "claims": [
        (["claims", "--only", "nope"], "unknown claim id"),
        (["claims", "--only", ""], "claim"),
        (["claims", "--only", "lead-thm2,nope"], "unknown claim id"),
        (["claims", "--only", "lead-thm2", "--out", "afile/c.md"], "afile is a file"),
        (["claims", "--only", "lead-thm2", "--out", "."], "is a directory"),
    ],
}
ALL_CASES = [(cmd, argv, want) for cmd, cases in CLI_CASES.items() for argv, want in cases]


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, dirs, files in os.walk(root) for f in files + dirs)


def run_cli(argv, capsys):
    """``main(argv)`` in-process: ``(exit code, stdout, stderr)``; exceptions propagate."""
    try:
        rc = main(argv)
    except SystemExit as err:   # argparse's own errors
        rc = err.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file where a directory is expected\n")
    (tmp_path / "held").mkdir()                        # an earlier training run
    (tmp_path / "held" / "metrics.json").write_text("{}\n")
    (tmp_path / "olddemo").mkdir()                     # an earlier demo
    (tmp_path / "olddemo" / "summary.json").write_text("{}\n")
    return tmp_path


def test_every_command_is_walked():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(CLI_CASES), "add bad-input cases for new commands"


@pytest.mark.parametrize("cmd, argv, want", ALL_CASES,
                         ids=[" ".join(a)[:60] for _, a, _ in ALL_CASES])
def test_cli_refuses_bad_input(cmd, argv, want, workdir, capsys):
    before = _tree(workdir)
    rc, out, err = run_cli(argv, capsys)
    assert rc == 2, (rc, out, err)
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("gamemech: error:"), err
    assert err.strip().splitlines()[-1] == errors[0]            # the message is one line
    assert want in errors[0], errors[0]
    assert "Traceback" not in err and len(errors[0]) < 400
    assert _tree(workdir) == before, "bad input left files behind"


def test_claims_out_under_a_file(workdir, capsys):
    rc, out, err = run_cli(["claims", "--only", "lead-prop1-eq7", "--quick", "--out",
                            "afile/x.md"], capsys)
    assert rc == 2 and "Traceback" not in err and "afile/x.md" in err
    assert out == ""  # refused before any check ran


@pytest.mark.parametrize("argv", [["simulate", "--A", "[[1,2]"], TRAIN[:3] + ["--iters", "0"],
                                  ["demo", "--out", "afile"]])
def test_cli_subprocess_exit_code_and_no_traceback(argv, workdir):
    """The real executable: exit status 2 and one line on stderr."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from gamemech.cli import main; "
                           "sys.exit(main())", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("gamemech: error:")


def test_simulate_overflowing_game_is_not_a_crash(workdir, capsys):
    """A game so steep that scipy fails at once (fixed: used to raise AttributeError)."""
    rc, out, err = run_cli(["simulate", "--A", "[[1e200]]", "--t-end", "100", "--n-points", "3",
                            "--json"], capsys)
    assert rc == 0 and "diverged" in out


# ------------------------------------------------------------------ constructors
def _p():
    return [torch.zeros(2, requires_grad=True)]


G = M.bilinear()
PARTICLE = M.Particle(G, M.Curl())
NANF, INFF = float("nan"), float("inf")

CONSTRUCTOR_CASES = {
    # games
    "bilinear A ragged": (lambda: M.bilinear([[1, 2], [3]]), "numeric matrix"),
    "bilinear A nan": (lambda: M.bilinear([[NANF]]), "non-finite"),
    "bilinear A str": (lambda: M.bilinear("abc"), "numeric matrix"),
    "bilinear A 3-D": (lambda: M.bilinear(np.zeros((2, 2, 2))), "2-D"),
    "bilinear A empty": (lambda: M.bilinear(np.zeros((0, 0))), "positive integer"),
    "quadratic h nan": (lambda: M.quadratic(NANF), "finite"),
    "quadratic h str": (lambda: M.quadratic("x"), "real number"),
    "quadratic A non-square": (lambda: M.quadratic(0.1, np.ones((2, 3))), "square"),
    "coop gamma length": (lambda: M.coop_adversarial([1, 2, 3], np.eye(2)), "3 entries"),
    "coop gamma inf": (lambda: M.coop_adversarial(INFF), "finite"),
    "gamma_quadratic n 0": (lambda: M.gamma_quadratic(1.0, 0), "positive integer"),
    "make_game unknown": (lambda: M.make_game("nope"), "unknown game"),
    "make_game wrong parameter": (lambda: M.make_game("bilinear", h=1.0), "'h'"),
    # forces
    "Friction mu -1": (lambda: M.Friction(-1), "friction mu must be >= 0"),
    "Friction mu nan": (lambda: M.Friction(NANF), "finite"),
    "Friction mu str": (lambda: M.Friction("a"), "real number"),
    "Magnetic q inf": (lambda: M.Magnetic(INFF), "finite"),
    "Magnetic convention": (lambda: M.Magnetic(1.0, "nope"), "charge convention"),
    "force plus 3": (lambda: M.Curl() + 3, "callable"),
    # dynamics
    "Particle mass 0": (lambda: M.Particle(G, M.Curl(), mass=0), "mass"),
    "Particle mass nan": (lambda: M.Particle(G, M.Curl(), mass=NANF), "mass"),
    "Particle game str": (lambda: M.Particle("g", M.Curl()), "mechanics.Game"),
    "Particle force str": (lambda: M.Particle(G, "curl"), "callable"),
    "GradientFlow None": (lambda: M.GradientFlow(None), "mechanics.Game"),
    # simulate
    "simulate z0 shape": (lambda: simulate(PARTICLE, torch.zeros(3), [0, 1]), "last dimension 4"),
    "simulate z0 nan": (lambda: simulate(PARTICLE, torch.tensor([NANF, 0, 0, 0]), [0, 1]),
                        "non-finite"),
    "simulate z0 str": (lambda: simulate(PARTICLE, "abc", [0, 1]), "tensor or an array"),
    "simulate z0 complex": (lambda: simulate(PARTICLE, torch.zeros(4, dtype=torch.complex128),
                                             [0, 1]), "real"),
    "simulate one time": (lambda: simulate(PARTICLE, torch.zeros(4), [0]), "two save times"),
    "simulate ts nan": (lambda: simulate(PARTICLE, torch.zeros(4), [0, NANF]), "non-finite"),
    "simulate ts not monotone": (lambda: simulate(PARTICLE, torch.zeros(4), [0, 2, 1]),
                                 "strictly"),
    "simulate dynamics str": (lambda: simulate("p", torch.zeros(4), [0, 1]), "Particle"),
    "simulate rtol nan": (lambda: simulate(PARTICLE, torch.zeros(4), [0, 1], rtol=NANF), "rtol"),
    "simulate threshold": (lambda: simulate(PARTICLE, torch.zeros(4), [0, 1],
                                            divergence_threshold=-1), "divergence_threshold"),
    "simulate backend": (lambda: simulate(PARTICLE, torch.zeros(4), [0, 1], backend="julia"),
                         "unknown backend"),
    # optimizers
    "LEAD lr -1": (lambda: O.LEAD(_p(), _p(), lr=-1, beta=0.5, alpha=0.1), "lr"),
    "LEAD lr nan": (lambda: O.LEAD(_p(), _p(), lr=NANF, beta=0.5, alpha=0.1), "finite"),
    "LEAD lr str": (lambda: O.LEAD(_p(), _p(), lr="a", beta=0.5, alpha=0.1), "real number"),
    "LEAD beta 1": (lambda: O.LEAD(_p(), _p(), lr=0.1, beta=1.0, alpha=0.1), "(-1, 1)"),
    "LEAD lr pair of 3": (lambda: O.LEAD(_p(), _p(), lr=(0.1, 0.1, 0.1), beta=0.5, alpha=0.1),
                          "pair"),
    "LEAD single tensor": (lambda: O.LEAD(torch.zeros(2, requires_grad=True), _p(), lr=0.1,
                                          beta=0.5, alpha=0.1), "single tensor"),
    "LEAD no params": (lambda: O.LEAD([], _p(), lr=0.1, beta=0.5, alpha=0.1), "empty"),
    "LEAD int params": (lambda: O.LEAD([torch.zeros(2, dtype=torch.int64)], _p(), lr=0.1,
                                       beta=0.5, alpha=0.1), "floating point"),
    "LEAD shared param": (lambda: (lambda q: O.LEAD(q, q, lr=0.1, beta=0.5, alpha=0.1))(_p()),
                          "shared"),
    "LEAD set of params": (lambda: O.LEAD(set(_p()), _p(), lr=0.1, beta=0.5, alpha=0.1), "set"),
    "LEAD mixed_mode": (lambda: O.LEAD(_p(), _p(), lr=0.1, beta=0.5, alpha=0.1, mixed_mode="x"),
                        "mixed_mode"),
    "LEADAdam betas of 3": (lambda: O.LEADAdam(_p(), _p(), lr=0.1, alpha=0.1,
                                               betas=(0.9, 0.9, 0.9)), "pair"),
    "LEADAdam beta1 1": (lambda: O.LEADAdam(_p(), _p(), lr=0.1, alpha=0.1, betas=(1.0, 0.9)),
                         "[0, 1)"),
    "LEADAdam eps 0": (lambda: O.LEADAdam(_p(), _p(), lr=0.1, alpha=0.1, eps=0), "eps"),
    "LEADAdam alpha inf": (lambda: O.LEADAdam(_p(), _p(), lr=0.1, alpha=INFF), "finite"),
    "FR cg_max_iter 0": (lambda: O.FR(_p(), _p(), lr=0.1, cg_max_iter=0), "cg_max_iter"),
    "FR preconditioner": (lambda: O.FR(_p(), _p(), lr=0.1, preconditioner="adam"),
                          "preconditioner"),
    "CGD lr inf": (lambda: O.CGD(_p(), _p(), lr=INFF), "finite"),
    "ComplexMomentum |beta| 2": (lambda: O.ComplexMomentum(_p(), _p(), lr=0.1, beta=2), "|beta|"),
    "SGA align str": (lambda: O.SGA(_p(), _p(), lr=0.1, align="yes"), "align"),
    "step closure int": (lambda: O.GDA(_p(), _p(), lr=0.1).step(lambda: 3), "(loss_x, loss_y)"),
    "step closure vector": (lambda: O.GDA(_p(), _p(), lr=0.1).step(
        lambda: (torch.zeros(2), torch.zeros(2))), "real scalar"),
    "step closure str": (lambda: O.GDA(_p(), _p(), lr=0.1).step("abc"), "closure"),
    "step closure detached": (lambda: O.GDA(_p(), _p(), lr=0.1).step(
        lambda: (torch.tensor(1.0), torch.tensor(2.0))), "does not require grad"),
    "load_state_dict list": (lambda: O.GDA(_p(), _p(), lr=0.1).load_state_dict([]), "dict"),
    "from_rule str": (lambda: O.from_rule("rule", _p(), _p()), "UpdateRule"),
    # schemes and rules
    "Scheme level": (lambda: Scheme(position="maybe"), "explicit' or 'implicit"),
    "get_scheme unknown": (lambda: get_scheme("nope"), "unknown scheme"),
    "get_scheme int": (lambda: get_scheme(3), "unknown scheme"),
    "UpdateRule eta nan": (lambda: UpdateRule(beta=0.5, eta=NANF), "finite"),
    "UpdateRule eta -1": (lambda: UpdateRule(beta=0.5, eta=-1), "eta must be > 0"),
    "UpdateRule eta 0, no field": (lambda: UpdateRule(beta=0.5, eta=0), "never moves from rest"),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTOR_CASES))
def test_constructors_refuse_bad_input(name):
    fn, want = CONSTRUCTOR_CASES[name]
    with pytest.raises((ValueError, TypeError)) as info:
        fn()
    msg = str(info.value)
    assert want in msg, msg
    assert "\n" not in msg.strip() or name.startswith("bilinear A ragged")


def test_failed_step_leaves_parameters_untouched():
    """A step that raises mid-way (here: the closure fails on its second call, after the
    first player's update was committed) rolls every committed change back."""
    px, py = _p(), _p()
    opt = O.LEADAdam(px, py, lr=0.1, alpha=0.1)
    calls = {"n": 0}

    def closure():
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("data loader died")
        f = (px[0] * py[0]).sum() + (px[0] ** 2).sum()
        return f, -f
    before = [p.detach().clone() for p in px + py]
    with torch.no_grad():
        px[0].add_(1.0)
        before = [p.detach().clone() for p in px + py]
    with pytest.raises(RuntimeError, match="data loader died"):
        opt.step(closure)
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, px + py))
    assert opt.game_step == 0


# ------------------------------------------------------- docs/RELIABILITY.md section
DOC = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "RELIABILITY.md")
BEGIN, END = "<!-- bad-input:begin -->", "<!-- bad-input:end -->"


def markdown_cases() -> str:
    """The CLI cases as the table docs/RELIABILITY.md shows (regenerate it with
    ``python tests/test_bad_input.py``)."""
    lines = [f"{len(ALL_CASES)} command-line cases over {len(CLI_CASES)} commands and "
             f"{len(CONSTRUCTOR_CASES)} Python-API cases. Each CLI case must exit with code 2 and "
             "print one `gamemech: error:` line containing the expected words, no traceback, "
             "and leave the working directory unchanged.", "",
             "| command | arguments | the message contains |", "| --- | --- | --- |"]
    for cmd, argv, want in ALL_CASES:
        args = " ".join(argv[1:])
        args = args if len(args) <= 90 else args[:87] + "..."
        lines.append(f"| {cmd} | `{args}` | {want.replace('|', '/')} |")
    return "\n".join(lines)


def test_reliability_doc_lists_these_cases():
    text = open(DOC).read()
    assert BEGIN in text and END in text
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == markdown_cases(), "docs/RELIABILITY.md is stale: run python tests/test_bad_input.py"


if __name__ == "__main__":   # regenerate the section of docs/RELIABILITY.md
    text = open(DOC).read()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(DOC, "w") as fh:
        fh.write(f"{head}{BEGIN}\n{markdown_cases()}\n{END}{tail}")
    print(f"wrote {os.path.normpath(DOC)}")
