"""gans.train: exact resume, every optimizer on a tiny GAN, the Adam baselines against
torch.optim.Adam / LEAD-Adam(alpha = 0), and the `gamemech train` CLI end to end."""
import json

import pytest
import torch

from gamemech.cli import main
from gans.adam import AlternatingAdam, SimultaneousAdam
from gans.train import OPTIMIZERS, TrainConfig, train

TINY = dict(task="8gaussians", width=8, batch_size=16, progress=False, eval_samples=200)


def _state(result):
    return {**{f"G.{k}": v for k, v in result.G.state_dict().items()},
            **{f"D.{k}": v for k, v in result.D.state_dict().items()},
            **({f"E.{k}": v for k, v in result.G_ema.state_dict().items()} if result.G_ema else {})}


@pytest.mark.parametrize("extra", [
    dict(optimizer="lead-adam", ema=0.9, n_dis=2),           # game optimizer + extra D Adam
    dict(optimizer="adam-alt", n_dis=2, loss="wgan-gp"),      # step_player path, eps RNG
    dict(optimizer="adam", task="digits", model="dcgan", width=2, fid_features="none",
         batch_size=8),                                        # BatchNorm buffers, data sampler
])
def test_resume_is_exact(tmp_path, extra):
    cfg = {**TINY, **extra}
    k = 3
    full = train(TrainConfig(iters=2 * k, **cfg))
    out = str(tmp_path / "run")
    train(TrainConfig(iters=k, out=out, checkpoint_every=k, **cfg))
    resumed = train(TrainConfig(iters=2 * k, out=out, checkpoint_every=k, **cfg), resume=True)
    a, b = _state(full), _state(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[n], b[n]) for n in a), [n for n in a if not torch.equal(a[n], b[n])]
    assert resumed.summary["resumed_from"] == k and resumed.summary["iters"] == 2 * k
    # a different seed does change the result (the test can fail)
    other = train(TrainConfig(iters=2 * k, **{**cfg, "seed": 1}))
    assert not all(torch.equal(x, y) for x, y in zip(_state(other).values(), a.values()))


def test_resume_refuses_other_settings(tmp_path):
    out = str(tmp_path / "run")
    train(TrainConfig(iters=2, out=out, checkpoint_every=2, **TINY))
    with pytest.raises(ValueError, match="lr_g"):
        train(TrainConfig(iters=4, out=out, lr_g=1e-3, **TINY), resume=True)
    with pytest.raises(ValueError, match="nothing to resume"):
        train(TrainConfig(iters=4, out=str(tmp_path / "none"), **TINY), resume=True)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_trains_a_tiny_gan(name):
    from gans.train import _Run
    cfg = TrainConfig(iters=2, optimizer=name, width=4, batch_size=8, progress=False, eval_samples=50,
                      **({"beta": 0.5} if name == "lead" else {}),
                      **({"delta": 0.1, "mu": 0.5, "q": 1.0} if name == "derived" else {}))
    init = _Run(cfg.resolved(), torch.device("cpu"))  # the same seeded initialisation
    r = train(cfg)
    for new, old in ((r.G, init.G), (r.D, init.D)):
        assert all(torch.isfinite(p).all() for p in new.parameters())
        assert any(not torch.equal(p, q) for p, q in zip(new.parameters(), old.parameters()))
    assert r.summary["diverged_at"] is None and r.summary["iters"] == 2


def _tiny_players():
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    D = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    z = torch.randn(16, 3, dtype=torch.float64)
    real = torch.randn(16, 2, dtype=torch.float64)

    def closure(player):
        from gans.losses import non_saturating
        return non_saturating(lambda v: D(v)[:, 0], real, G(z), player)
    return G, D, closure


def _reference_adam(alternating, steps=4):
    """torch.optim.Adam on each player, written out by hand."""
    G, D, closure = _tiny_players()
    og = torch.optim.Adam(G.parameters(), lr=1e-2, betas=(0.5, 0.99))
    od = torch.optim.Adam(D.parameters(), lr=2e-2, betas=(0.5, 0.99))
    for _ in range(steps):
        og.zero_grad()
        od.zero_grad()
        gg = torch.autograd.grad(closure("x"), list(G.parameters()))
        if alternating:
            for p, g in zip(G.parameters(), gg):
                p.grad = g
            og.step()
        gd = torch.autograd.grad(closure("y"), list(D.parameters()))
        if not alternating:
            for p, g in zip(G.parameters(), gg):
                p.grad = g
            og.step()
        for p, g in zip(D.parameters(), gd):
            p.grad = g
        od.step()
    return [p.detach().clone() for p in [*G.parameters(), *D.parameters()]]


@pytest.mark.parametrize("cls,alternating", [(SimultaneousAdam, False), (AlternatingAdam, True)])
def test_adam_baselines_match_torch_adam(cls, alternating):
    G, D, closure = _tiny_players()
    opt = cls(G.parameters(), D.parameters(), lr=(1e-2, 2e-2), betas=(0.5, 0.99))
    for _ in range(4):
        opt.step(closure)
    ours = [p.detach() for p in [*G.parameters(), *D.parameters()]]
    assert all(torch.equal(a, b) for a, b in zip(ours, _reference_adam(alternating)))


def test_alternating_adam_is_lead_adam_with_zero_alpha():
    import optimizers
    G, D, closure = _tiny_players()
    opt = optimizers.LEADAdam(list(G.parameters()), list(D.parameters()), lr=(1e-2, 2e-2), alpha=0.0,
                              betas=(0.5, 0.99))
    for _ in range(4):
        opt.step(closure)
    ref = _reference_adam(True)
    got = [p.detach() for p in [*G.parameters(), *D.parameters()]]
    assert all(torch.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(got, ref))


def test_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--task", "8gaussians", "--optimizer", "lead-adam", "--iters", "4",
               "--width", "8", "--batch", "16", "--out", str(out), "--json", "--no-progress",
               "--eval-samples", "200", "--checkpoint-every", "2", "--log-every", "2"])
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    for key in ("iters", "modes_covered", "hq_fraction", "seconds_per_iter"):
        assert key in s
    assert s["iters"] == 4 and 0 <= s["hq_fraction"] <= 1
    assert (out / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "metrics.json").read_text())["iters"] == 4
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("iter,loss_g,loss_d") and [r.split(",")[0] for r in rows[1:]] == ["2", "4"]
    assert (out / "checkpoint.pt").is_file()
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_cli_digits_reports_fid(tmp_path, capsys):
    rc = main(["train", "--task", "digits", "--model", "mlp", "--width", "8", "--iters", "2",
               "--batch", "16", "--out", str(tmp_path), "--json", "--no-progress",
               "--eval-samples", "100", "--classifier-cache", str(tmp_path / "clf.pt")])
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert s["fid"] > 0 and s["fid_features"] == "digits-classifier"
    assert (tmp_path / "samples.png").is_file()


@pytest.mark.parametrize("argv,message", [
    (["--task", "cifar10", "--iters", "2"], "--data"),
    (["--task", "mnist", "--iters", "2"], "--data"),
    (["--task", "mnist", "--iters", "2", "--data", "/nonexistent/dir"], "does not exist"),
    (["--task", "8gaussians", "--iters", "2", "--optimizer", "lead"], "beta"),
    (["--task", "8gaussians", "--iters", "2", "--optimizer", "gda", "--hyper", "foo=1"], "foo"),
    (["--task", "8gaussians", "--iters", "2", "--model", "dcgan"], "32 x 32"),
    (["--task", "8gaussians", "--iters", "2", "--ema", "1.5"], "ema"),
])
def test_cli_errors(argv, message, capsys, tmp_path):
    assert main(["train", *argv, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_cli_cuda_without_cuda(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["train", "--task", "8gaussians", "--iters", "1", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_derived_rule_trains_like_lead():
    """--optimizer derived with curl + magnetic + friction (semi-implicit) is LEAD with
    Prop. 1's coefficients (eq. 7 charge): beta = 1 - mu delta, lr = delta^2, alpha = q delta."""
    delta, mu, q = 0.1, 0.5, 2.0
    base = dict(iters=3, width=4, batch_size=8, progress=False, eval_samples=50)
    d = train(TrainConfig(optimizer="derived", delta=delta, mu=mu, q=q, **base))
    lead = train(TrainConfig(optimizer="lead", lr_g=delta ** 2, lr_d=delta ** 2, beta=1 - mu * delta,
                             alpha_g=q * delta, alpha_d=q * delta, **base))
    a, b = _state(d), _state(lead)
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)
    assert any(not torch.equal(x, y) for x, y in zip(a.values(), _state(train(TrainConfig(
        optimizer="derived", delta=delta, mu=mu, q=0.0, **base))).values()))


@pytest.mark.parametrize("mode", ["double_backward", "reverse_over_forward"])
def test_opponent_coupling_steps_with_the_pair_closure_and_the_same_iterates(mode):
    """``mixed_source="opponent"`` needs both losses at every evaluation: the run's closure
    is then the pair form (one call computes G(z), D and both losses), and its iterates
    are those of the per-player closure bit for bit."""
    from gans.presets import config
    from gans.run import Run

    def go(pair):
        cfg = config("lead-code", width=16, batch_size=32, seed=3, progress=False,
                     eval_every=0, optimizer="lead-adam", hyper={"mixed_mode": mode})
        run = Run(cfg, torch.device("cpu"))
        if not pair:
            def per_player(real, z, eps):
                return lambda player: run.loss(run.D, real, run.G(z), player, eps)
            run.closure_for = per_player
        for _ in range(4):
            run.step()
        return run, [p.detach().clone() for p in list(run.G.parameters())
                     + list(run.D.parameters())]
    run, a = go(pair=True)
    assert run.closure_for(*run.batch()).__code__.co_argcount == 0     # the pair form
    from gans.optimizer_factory import describe_optimizer
    assert describe_optimizer(run.cfg, run.opt)["options"]["mixed_mode_choice"] == {
        "x": mode, "y": mode}                                # recorded in metrics.json
    _, b = go(pair=False)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    own = Run(config("lead-code", width=16, optimizer="lead-adam",
                     hyper={"mixed_source": "own"}), torch.device("cpu"))
    assert own.closure_for(*own.batch()).__code__.co_argcount == 1     # per player
