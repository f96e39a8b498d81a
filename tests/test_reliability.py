"""Reliability of the optimizers (issue 18): closures whose losses cannot be differentiated
are refused, FR resumes exactly in float32, and CG's default tolerance fits the dtype."""
from __future__ import annotations

import io

import pytest
import torch

import optimizers as O
from optimizers.cgd import conjugate_gradient
try:
    from optimizers.cgd import default_cg_tol
except ImportError:  # before the fix
    default_cg_tol = None


def _players(dtype=torch.float64, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=dtype).requires_grad_()
    y = torch.randn(n, generator=g, dtype=dtype).requires_grad_()
    A = torch.randn(n, n, generator=g, dtype=dtype)
    return x, y, A


MAKERS = {
    "GDA": lambda x, y: O.GDA([x], [y], lr=0.1),
    "LEAD": lambda x, y: O.LEAD([x], [y], lr=0.1, beta=0.5, alpha=0.1),
    "LEADAdam": lambda x, y: O.LEADAdam([x], [y], lr=0.1, alpha=0.1),
    "ExtraAdam": lambda x, y: O.ExtraAdam([x], [y], lr=0.1),
    "CO": lambda x, y: O.CO([x], [y], lr=0.1),
    "CGD": lambda x, y: O.CGD([x], [y], lr=0.1),
    "FR": lambda x, y: O.FR([x], [y], lr=0.1),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("form", ["detached pair", "floats", "detached per player"])
def test_closure_without_grad_is_refused(name, form):
    x, y, A = _players()
    opt = MAKERS[name](x, y)
    x0, y0 = x.detach().clone(), y.detach().clone()

    def f():
        return x @ A @ y + 0.1 * (x @ x)

    closures = {"detached pair": lambda: (f().detach(), -f().detach()),
                "floats": lambda: (float(f()), -float(f())),
                "detached per player": lambda player: (f() if player == "x" else -f()).detach()}
    with pytest.raises(ValueError, match="does not require grad"):
        opt.step(closures[form])
    assert opt.game_step == 0, "the step counter advanced without an update"
    assert torch.equal(x, x0) and torch.equal(y, y0)
    opt.step(lambda: (f(), -f()))             # a proper closure still works afterwards
    assert opt.game_step == 1 and not torch.equal(x, x0)


def _fr_problem(dtype):
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).to(dtype)
    D = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).to(dtype)
    z, real = torch.randn(32, 3, dtype=dtype), torch.randn(32, 2, dtype=dtype) + 1.0

    def closure():
        f = torch.nn.functional.softplus(-D(real)).mean() + torch.nn.functional.softplus(D(G(z))).mean()
        return -f, f
    return G, D, closure


def _fr(G, D):
    return O.FR(list(G.parameters()), list(D.parameters()), lr=0.05, momentum=0.5,
                preconditioner="rmsprop", damping=0.1, adaptive_damping=True, cg_max_iter=10)


def test_fr_float32_resume_from_state_dict_is_bitwise_exact():
    """The Levenberg-Marquardt lambda survives ``state_dict``/``load_state_dict`` exactly
    (it used to be a float64 tensor that torch.optim casts to the parameters' float32)."""
    G, D, closure = _fr_problem(torch.float32)
    opt = _fr(G, D)
    for _ in range(6):
        opt.step(closure)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "G": G.state_dict(), "D": D.state_dict()}, buf)
    lam_before = opt.damping_value
    for _ in range(6):
        opt.step(closure)

    G2, D2, closure2 = _fr_problem(torch.float32)
    saved = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    G2.load_state_dict(saved["G"])
    D2.load_state_dict(saved["D"])
    opt2 = _fr(G2, D2)
    opt2.load_state_dict(saved["opt"])
    assert opt2.damping_value == lam_before
    for _ in range(6):
        opt2.step(closure2)
    assert opt2.damping_value == opt.damping_value
    for a, b in zip(list(G.parameters()) + list(D.parameters()),
                    list(G2.parameters()) + list(D2.parameters())):
        assert torch.equal(a, b)


@pytest.mark.parametrize("cls", [O.CGD, O.FR])
def test_cg_tol_default_follows_the_dtype(cls):
    for dtype, want in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        x, y, _ = _players(dtype)
        assert cls([x], [y], lr=0.1).options["cg_tol"] == want == default_cg_tol(dtype)
    x, y, _ = _players(torch.float32)
    assert cls([x], [y], lr=0.1, cg_tol=1e-9).options["cg_tol"] == 1e-9   # explicit wins


def test_float32_cg_stops_at_the_default_tolerance_not_the_dimension():
    """A float32 system whose true residual stalls near 3e-5: the old default 1e-12 ran CG
    to the dimension (400 iterations); the dtype's default stops about halfway with the same
    true residual."""
    torch.manual_seed(0)
    n = 400
    Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64))
    A = (Q * torch.logspace(0, 3, n, dtype=torch.float64)) @ Q.T
    b = torch.randn(n, dtype=torch.float64)
    A32, b32 = A.float(), b.float()

    def true_residual(res):
        return float((A @ res.x[0].double() - b).norm() / b.norm())
    old = conjugate_gradient(lambda v: [A32 @ v[0]], [b32], tol=1e-12)
    new = conjugate_gradient(lambda v: [A32 @ v[0]], [b32], tol=default_cg_tol(torch.float32))
    assert old.iterations == n
    assert new.iterations < 0.7 * n
    assert true_residual(new) < 2 * true_residual(old)


# ------------------------------------------------------------- gamemech train runs
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from gamemech.cli import main  # noqa: E402

TINY = ["train", "--task", "mog1d", "--width", "8", "--batch-size", "16", "--no-progress"]


def _cli(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as err:
        rc = err.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_an_earlier_run_is_never_overwritten_silently(tmp_path, capsys, keep_threads):
    out = tmp_path / "run"
    assert _cli(TINY + ["--iters", "4", "--checkpoint-every", "4", "--out", str(out)], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    rc, _, err = _cli(TINY + ["--iters", "2", "--out", str(out)], capsys)
    assert rc == 2 and "already holds a run" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before      # untouched
    rc, _, err = _cli(TINY + ["--iters", "2", "--out", str(out), "--overwrite"], capsys)
    assert rc == 0 and "replacing the earlier run" in err
    assert not (out / "checkpoint.pt").exists()       # the old run's checkpoint is gone
    assert json.loads((out / "metrics.json").read_text())["iters"] == 2


def test_resume_says_from_which_iteration(tmp_path, capsys, keep_threads):
    out = tmp_path / "run"
    assert _cli(TINY + ["--iters", "3", "--checkpoint-every", "3", "--out", str(out)], capsys)[0] == 0
    rc, stdout, err = _cli(TINY + ["--iters", "5", "--checkpoint-every", "3", "--out", str(out),
                                   "--resume"], capsys)
    assert rc == 0 and "resumed from iteration 3" in err and "resumed from iteration 3" in stdout
    assert json.loads((out / "metrics.json").read_text())["resumed_from"] == 3


def test_every_file_written_is_announced(tmp_path, capsys, keep_threads):
    out = tmp_path / "run"
    rc, _, err = _cli(TINY + ["--iters", "4", "--checkpoint-every", "2", "--eval-every", "2",
                              "--eval-samples", "50", "--out", str(out)], capsys)
    assert rc == 0
    for f in out.iterdir():
        assert f"wrote {f}" in err, (f, err)


def test_metrics_record_the_derived_rule_not_task_defaults(tmp_path, capsys, keep_threads):
    from integrators.derive import derive
    out = tmp_path / "d"
    rc, stdout, _ = _cli(TINY + ["--iters", "2", "--optimizer", "derived", "--delta", "0.2",
                                 "--mu", "0.5", "--q", "auto", "--json", "--out", str(out)], capsys)
    assert rc == 0
    s = json.loads(stdout)
    assert s == json.loads((out / "metrics.json").read_text())
    want = derive(["curl", "magnetic", "friction"], "semi-implicit").values(0.2, mu=0.5, q=2 / 0.5 + 0.5)
    d = s["derived"]
    assert (d["forces"], d["scheme"], d["delta"], d["mu"]) == \
        (["curl", "magnetic", "friction"], "semi-implicit", 0.2, 0.5)
    assert d["q"] == pytest.approx(4.5, rel=1e-15)
    for k in ("beta", "eta", "alpha"):
        assert d["coefficients"][k] == pytest.approx(float(want[k]), rel=1e-12)
    for player in ("generator", "discriminator"):   # what the optimizer ran with
        hp = s["hyperparameters"][player]
        assert hp["lr"] == pytest.approx(float(want["eta"]), rel=1e-12)
        assert hp["beta"] == pytest.approx(float(want["beta"]), rel=1e-12)
    assert s["lr"] == [s["hyperparameters"]["generator"]["lr"]] * 2
    assert s["betas"] is None                          # no Adam betas in a derived rule


def test_metrics_record_each_players_hyperparameters(tmp_path, capsys, keep_threads):
    rc, stdout, _ = _cli(TINY + ["--iters", "1", "--lr-g", "3e-4", "--lr-d", "7e-4",
                                 "--alpha-d", "0.2", "--beta2", "0.95", "--json"], capsys)
    s = json.loads(stdout)
    g, d = s["hyperparameters"]["generator"], s["hyperparameters"]["discriminator"]
    assert (g["lr"], d["lr"], d["alpha"], g["betas"][1]) == (3e-4, 7e-4, 0.2, 0.95)
    assert s["optimizer_class"] == "LEADAdam" and s["threads"] == 1   # auto: a small model


def test_a_diverged_run_exits_3_and_says_where_and_what(tmp_path, capsys, keep_threads):
    out = tmp_path / "div"
    rc, _, err = _cli(["train", "--task", "mog1d", "--optimizer", "gda", "--lr", "1e300",
                       "--iters", "5", "--no-progress", "--out", str(out)], capsys)
    assert rc == 3 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "diverged at iteration 1" in last and "non-finite" in last, last
    s = json.loads((out / "metrics.json").read_text())
    assert s["diverged_at"] == 1 and "non-finite" in s["diverged_reason"]


def test_library_refuses_models_that_cannot_fit():
    from gans.train import TrainConfig, train
    with pytest.raises(ValueError, match=r"--width 1000000000: .* GiB"):
        train(TrainConfig(task="8gaussians", width=10**9, iters=1, progress=False))


# ---------------------------------------------------- kill and resume: FR in float32
FR_ARGS = ["--task", "mog1d", "--optimizer", "fr", "--width", "16", "--batch-size", "16",
           "--no-progress", "--seed", "5", "--checkpoint-every", "5", "--log-every", "1"]


def _ckpt(out):
    return torch.load(Path(out) / "checkpoint.pt", weights_only=True)


def test_fr_float32_sigkill_then_resume_is_bitwise_exact(tmp_path, keep_threads):
    """FR (adaptive Levenberg-Marquardt damping, float32 models) killed with SIGKILL at a
    random moment after a checkpoint, then resumed: bitwise the uninterrupted run (the
    damping lambda used to come back as float32 and the runs drifted apart)."""
    iters, rng = 60, random.Random(int.from_bytes(os.urandom(4), "little"))
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert main(["train", *FR_ARGS, "--iters", str(iters), "--out", str(ref)]) == 0
    cmd = [sys.executable, "-c", "import sys; from gamemech.cli import main; sys.exit(main())",
           "train", *FR_ARGS, "--iters", str(iters), "--out", str(run)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if _ckpt(run)["iteration"] >= 5:
                break
        except (FileNotFoundError, RuntimeError, EOFError):
            pass
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.2))
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL, "the run ended before it was killed"
    killed_at = _ckpt(run)["iteration"]
    assert 0 < killed_at < iters
    assert main(["train", *FR_ARGS, "--iters", str(iters), "--out", str(run), "--resume"]) == 0
    a, b = _ckpt(ref), _ckpt(run)
    for key in ("G", "D"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name, killed_at)
    lam_a = [st["damping"] for st in a["opt"]["state"].values() if "damping" in st]
    lam_b = [st["damping"] for st in b["opt"]["state"].values() if "damping" in st]
    assert lam_a and all(torch.equal(u, v) for u, v in zip(lam_a, lam_b))
    assert all(u.dtype == torch.float64 for u in lam_b)
    assert math.isfinite(json.loads((run / "metrics.json").read_text())["loss_g"])


# ------------------------------------------------------------ benchmark outputs
def test_benchmarks_write_only_where_the_user_says(tmp_path, capsys, monkeypatch):
    """``--out`` is required (no silent writes into the tracked benchmarks/results/), an
    unusable one is refused before measuring, and a run names its files and duration."""
    from benchmarks import derived_vs_handwritten as bench
    with pytest.raises(SystemExit) as info:
        bench.main(["--quick"])
    assert info.value.code == 2 and "--out" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SystemExit) as info:
        bench.main(["--quick", "--out", str(tmp_path / "afile" / "sub")])
    assert info.value.code == 2 and "afile is a file" in capsys.readouterr().err
    out = tmp_path / "bench"
    bench.main(["--quick", "--out", str(out)])
    err = capsys.readouterr().err
    assert "quick run" in err and "measured in" in err
    for f in out.iterdir():
        assert f"wrote {f}" in err


def test_missing_plot_folder_is_created_out_loud(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = _cli(["simulate", "--t-end", "1", "--n-points", "5", "--plot", "new/deeper/p.png"],
                      capsys)
    assert rc == 0 and (tmp_path / "new" / "deeper" / "p.png").is_file()
    assert "created directory new/deeper" in err and "wrote new/deeper/p.png" in err
