"""gans.presets: the lead-code / lead-paper settings against an independent transcription of
the official code and the paper's text, explicit overrides, and the resolved configuration
that a run echoes (summary and metrics.json)."""
import json
import math

import numpy as np
import pytest
import torch

from gans import presets
from gans.models import MLP, build_models, init_weights
from gans.train import build_optimizer, train

TINY = dict(width=8, batch_size=16, iters=3, progress=False, eval_samples=200, device="cpu")


def _official_code_centres():
    """Gaussians_py3.py's get_8gaussians, transcribed: scale-2 centres, divided by 1.414."""
    s = 1 / np.sqrt(2)
    units = [(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)]
    return np.array([(2 * x / 1.414, 2 * y / 1.414) for x, y in units])


def _sorted_rows(a):
    a = np.asarray(a)
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def test_lead_code_mixture_is_the_official_codes():
    cfg = presets.config("lead-code").resolved()
    mix = presets.mixture_of(cfg)
    np.testing.assert_allclose(_sorted_rows(mix.means.numpy()), _sorted_rows(_official_code_centres()),
                               rtol=0, atol=1e-12)
    assert mix.std == pytest.approx(0.05 / 1.414, rel=1e-12)
    # per-mode spread of drawn samples: std 0.0354 (standard error ~ 0.0354 / sqrt(2 * 20000 / 8))
    x = mix.sample(20000, torch.Generator().manual_seed(0)).double()
    nearest = torch.cdist(x, mix.means).argmin(1)
    resid = x - mix.means[nearest]
    assert resid.std().item() == pytest.approx(0.05 / 1.414, rel=0.03)


def test_lead_code_settings():
    c = presets.config("lead-code").resolved()
    assert (c.task, c.model, c.width, c.z_dim, c.batch_size, c.iters, c.loss, c.init) == \
        ("8gaussians", "mlp", 2000, 64, 256, 5001, "non-saturating", "normal-0.02")
    assert (c.lr_g, c.lr_d, c.alpha_g, c.alpha_d) == (3e-4, 3e-4, 0.6, 0.6)
    assert presets.player_betas(c.betas) == ((0.5, 0.9), (0.55, 0.9))
    assert c.hyper == {"mixed_source": "opponent"} and c.preset == "lead-code"
    assert presets.config("lead-code", optimizer="adam-alt").hyper == {}


def test_lead_paper_settings():
    c = presets.config("lead-paper").resolved()
    mix = presets.mixture_of(c)
    np.testing.assert_allclose(mix.means.norm(dim=1).numpy(), np.ones(8), atol=1e-15)
    assert mix.std == pytest.approx(math.sqrt(0.05))
    assert (c.batch_size, c.iters, c.width, c.z_dim, c.init) == (128, 10_000, 2000, 64, "default")
    # the paper's text gives no optimizer settings: the task defaults (App. I.2) stay
    assert (c.lr_g, c.lr_d, c.alpha_g, c.alpha_d, c.betas, c.loss) == \
        (2e-4, 1e-4, 0.0, 0.3, (0.5, 0.99), "saturating")


def test_explicit_settings_override_a_preset():
    c = presets.config("lead-code", width=64, lr_g=1e-3, batch_size=32, betas=(0.0, 0.99),
                       hyper={"eps": 1e-6}, data_std=0.1).resolved()
    assert (c.width, c.lr_g, c.lr_d, c.batch_size, c.data_std) == (64, 1e-3, 3e-4, 32, 0.1)
    assert presets.player_betas(c.betas) == ((0.0, 0.99), (0.0, 0.99))
    assert c.hyper == {"mixed_source": "opponent", "eps": 1e-6}
    assert presets.config("lead-code", hyper={"mixed_source": "own"}).hyper == {"mixed_source": "own"}


@pytest.mark.parametrize("kw, message", [
    (dict(name="lead-cod"), "unknown preset 'lead-cod'"),
    (dict(name="lead-code", task="digits"), "is for task '8gaussians'"),
    (dict(name="lead-code", widht=3), "unknown TrainConfig field"),
])
def test_preset_errors(kw, message):
    with pytest.raises(ValueError, match=message):
        presets.config(kw.pop("name"), **kw)


@pytest.mark.parametrize("kw, message", [
    (dict(data_radius=-1.0), "data_radius must be positive"),
    (dict(data_std=float("nan")), "data_std must be positive"),
    (dict(init="xavier"), "init must be one of"),
    (dict(betas=((0.5, 0.9), (1.5, 0.9))), r"betas\[0\] must be in \[0, 1\)"),
])
def test_bad_settings_are_named(kw, message):
    with pytest.raises(ValueError, match=message):
        presets.config("lead-code", **kw).resolved()


def test_data_radius_only_for_8gaussians():
    from gans.train import TrainConfig
    with pytest.raises(ValueError, match="data_radius applies to task 8gaussians"):
        TrainConfig(task="grid", data_radius=2.0).resolved()
    with pytest.raises(ValueError, match="data_std applies to the mixture tasks"):
        TrainConfig(task="digits", data_std=2.0).resolved()
    grid = presets.mixture_of(TrainConfig(task="grid", data_std=0.5).resolved())
    assert grid.std == 0.5 and grid.n_modes == 9


def test_normal_init_is_the_official_codes():
    torch.manual_seed(0)
    m = init_weights(MLP(64, 2, 1000, 3), "normal-0.02")
    linears = [l for l in m.modules() if isinstance(l, torch.nn.Linear)]
    big = torch.cat([l.weight.flatten() for l in linears[1:-1]]).double()   # 2 x 10^6 weights
    # standard error of the sample std ~ 0.02 / sqrt(2 * 2e6) = 1e-5
    assert big.mean().abs().item() < 1e-4 and big.std().item() == pytest.approx(0.02, abs=1e-4)
    assert all(torch.count_nonzero(l.bias) == 0 for l in linears)
    G, D, _ = build_models("dcgan", (1, 32, 32), width=4)
    init_weights(G, "normal-0.02")
    bn = [b for b in G.modules() if isinstance(b, torch.nn.BatchNorm2d)]
    w = torch.cat([b.weight for b in bn])
    assert (w - 1).abs().max() < 0.2 and all(torch.count_nonzero(b.bias) == 0 for b in bn)
    before = [p.clone() for p in D.parameters()]
    init_weights(D, "default")
    assert all(torch.equal(a, b) for a, b in zip(before, D.parameters()))


def test_each_player_gets_its_betas():
    cfg = presets.config("lead-code", **TINY).resolved()
    G, D, _ = build_models("mlp", (2,), 64, 8)
    for name in ("lead-adam", "adam-alt"):
        cfg.optimizer = name
        cfg.hyper = presets.config("lead-code", optimizer=name).hyper
        opt = build_optimizer(cfg, G, D)
        if name == "lead-adam":
            got = {g["player"]: tuple(g["betas"]) for g in opt.param_groups}
            assert got == {"x": (0.5, 0.9), "y": (0.55, 0.9)}
            assert opt.options["mixed_source"] == "opponent"
        else:
            assert opt.adams["x"].param_groups[0]["betas"] == (0.5, 0.9)
            assert opt.adams["y"].param_groups[0]["betas"] == (0.55, 0.9)


def test_a_run_echoes_its_resolved_configuration(tmp_path):
    res = train(presets.config("lead-code", eval_every=2, out=str(tmp_path), **TINY))
    s = res.summary
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    for c in (s["config"], on_disk["config"]):
        assert c["preset"] == "lead-code" and c["init"] == "normal-0.02" and c["z_dim"] == 64
        assert c["data"]["radius"] == pytest.approx(2 / 1.414) and c["data"]["std"] == pytest.approx(0.05 / 1.414)
        assert c["players"] == {"generator": {"lr": 3e-4, "betas": [0.5, 0.9], "alpha": 0.6},
                                "discriminator": {"lr": 3e-4, "betas": [0.55, 0.9], "alpha": 0.6}}
        assert c["hyper"] == {"mixed_source": "opponent"} and c["batch_size"] == 16
    assert s["energy_distance"] > 0 and on_disk["energy_distance"] == pytest.approx(s["energy_distance"])
    assert [h["iter"] for h in res.history if "energy_distance" in h] == [2, 3]
    adam = train(presets.config("lead-code", optimizer="adam", **TINY)).summary["config"]
    assert adam["players"]["generator"] == {"lr": 3e-4, "betas": [0.5, 0.9], "alpha": None}


# ------------------------------------------------------------------------------ CLI
def _cli_json(capsys, *argv):
    from gamemech.cli import main
    assert main(["train", "--task", "8gaussians", "--width", "8", "--batch-size", "16",
                 "--eval-samples", "200", "--no-progress", "--json", "--device", "cpu", *argv]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_preset_echoes_and_flags_override(tmp_path, capsys):
    s = _cli_json(capsys, "--preset", "lead-code", "--iters", "2", "--out", str(tmp_path))
    c = s["config"]
    assert (c["preset"], c["width"], c["batch_size"], c["iters"], c["init"], c["loss"]) == \
        ("lead-code", 8, 16, 2, "normal-0.02", "non-saturating")
    assert c["data"]["radius"] == pytest.approx(2 / 1.414) and c["data"]["std"] == pytest.approx(0.05 / 1.414)
    assert json.loads((tmp_path / "metrics.json").read_text())["config"] == c
    s = _cli_json(capsys, "--preset", "lead-code", "--iters", "1", "--lr-g", "1e-3", "--beta1", "0.3",
                  "--alpha-d", "0.1", "--data-std", "0.2")
    p = s["config"]["players"]
    assert p["generator"] == {"lr": 1e-3, "betas": [0.3, 0.9], "alpha": 0.6}
    assert p["discriminator"] == {"lr": 3e-4, "betas": [0.3, 0.9], "alpha": 0.1}
    assert s["config"]["data"]["std"] == 0.2
    s = _cli_json(capsys, "--preset", "lead-code", "--iters", "1", "--beta2", "0.99")
    assert [s["config"]["players"][k]["betas"] for k in ("generator", "discriminator")] == \
        [[0.5, 0.99], [0.55, 0.99]]
    s = _cli_json(capsys, "--iters", "1", "--init", "normal-0.02", "--data-radius", "2")
    assert s["config"]["preset"] is None and s["config"]["init"] == "normal-0.02"
    assert s["config"]["data"]["radius"] == pytest.approx(2.0) and s["config"]["batch_size"] == 16


@pytest.mark.parametrize("argv, message", [
    (["--task", "8gaussians"], "--iters is required"),
    (["--task", "digits", "--preset", "lead-code"], "is for task '8gaussians'"),
    (["--task", "grid", "--iters", "1", "--data-radius", "2"], "data_radius applies to task 8gaussians"),
    (["--task", "8gaussians", "--preset", "lead-cod"], "invalid choice"),
])
def test_cli_preset_errors(argv, message, capsys, tmp_path):
    from gamemech.cli import main
    try:
        code = main(["train", *argv, "--out", str(tmp_path / "o")])
    except SystemExit as e:          # argparse's own errors
        code = e.code
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_lead_code_trains_on_cuda():
    """A few lead-code iterations on CUDA: finite losses, metrics computed, device recorded;
    the first step's losses agree with the CPU's to float32 rounding (same seed, same batch)."""
    kw = dict(TINY, iters=1, eval_samples=500)
    gpu = train(presets.config("lead-code", **{**kw, "device": "cuda"})).summary
    cpu = train(presets.config("lead-code", **kw)).summary
    assert gpu["device"].startswith("cuda") and math.isfinite(gpu["energy_distance"])
    assert gpu["loss_d"] == pytest.approx(cpu["loss_d"], rel=1e-4)
