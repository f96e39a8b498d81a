"""Data parallelism (optimizers.distributed): 2 gloo processes on CPU, each on its half of
every batch, end at the same parameters as 1 process on the whole batches, for every game
optimizer (float64). A control run without the reducer shows the test can fail."""
from __future__ import annotations

import math

import pytest
import torch

import optimizers as O
from integrators.rule import UpdateRule
from optimizers.distributed import (AllReduceMean, data_parallel, launch, max_divergence,
                                    shard)

STEPS, BATCH, DIM, WORLD = 4, 8, 3, 2

# name -> (factory, zero_sum, per_player_closure)
CONFIGS = {
    "GDA": (lambda px, py: O.GDA(px, py, lr=0.1), False, False),
    "GDA-alt": (lambda px, py: O.GDA(px, py, lr=0.1, alternating=True), False, True),
    "MomentumGDA": (lambda px, py: O.MomentumGDA(px, py, lr=0.1, beta=-0.3), False, False),
    "EG": (lambda px, py: O.ExtraGradient(px, py, lr=0.1), False, False),
    "ExtraAdam": (lambda px, py: O.ExtraAdam(px, py, lr=0.05), False, False),
    "OGDA": (lambda px, py: O.OGDA(px, py, lr=0.1), False, False),
    "OptimisticAdam": (lambda px, py: O.OptimisticAdam(px, py, lr=0.05), False, False),
    "LEAD": (lambda px, py: O.LEAD(px, py, lr=0.1, beta=0.5, alpha=0.3), False, False),
    "LEAD-forward-perplayer": (lambda px, py: O.LEAD(px, py, lr=0.1, beta=0.5, alpha=0.3,
                                                     mixed_mode="forward"), False, True),
    "LEAD-alt-opponent": (lambda px, py: O.LEAD(px, py, lr=0.1, beta=0.5, alpha=0.3,
                                                alternating=True, mixed_source="opponent"),
                          False, False),
    "LEADAdam": (lambda px, py: O.LEADAdam(px, py, lr=0.05, alpha=(0.3, 0.2)), False, False),
    "LEADAdam-forward-perplayer": (lambda px, py: O.LEADAdam(px, py, lr=0.05, alpha=0.3,
                                                             mixed_mode="forward"), False, True),
    "LEADAdam-rof-perplayer": (lambda px, py: O.LEADAdam(px, py, lr=0.05, alpha=0.3,
                                                         mixed_mode="reverse_over_forward"),
                               False, True),
    "LEADAdam-rof-groups": (lambda px, py: O.LEADAdam(
        [{"params": px[:1], "alpha": 0.1}, {"params": px[1:], "alpha": 0.4}], py, lr=0.05,
        alpha=0.3, mixed_mode="reverse_over_forward"), False, False),
    "from_rule-lookahead": (lambda px, py: O.from_rule(
        UpdateRule(beta=0.5, eta=0.1, alpha=0.3, lookahead=0.2), px, py), False, False),
    "CO": (lambda px, py: O.CO(px, py, lr=0.1, gamma=0.5), False, False),
    "SGA-align": (lambda px, py: O.SGA(px, py, lr=0.1, lam=1.0, align=True), False, False),
    "CGD": (lambda px, py: O.CGD(px, py, lr=0.1), True, False),
    "CGD-rof": (lambda px, py: O.CGD(px, py, lr=0.1, mixed_mode="reverse_over_forward"),
                True, False),
    "CGD-general-sum": (lambda px, py: O.CGD(px, py, lr=0.1, zero_sum=False), False, False),
    "FR": (lambda px, py: O.FR(px, py, lr=0.1, momentum=0.5, preconditioner="rmsprop",
                               damping=0.1, adaptive_damping=True), True, False),
    "ComplexMomentum": (lambda px, py: O.ComplexMomentum(px, py, lr=0.1,
                                                         beta=O.beta_polar(0.8, math.pi / 8)),
                        False, False),
}
CONTROL = "GDA-no-reduce"   # same as GDA, but the ranks do not average: must NOT match


def batches():
    g = torch.Generator().manual_seed(1)
    return [torch.randn(BATCH, DIM, generator=g, dtype=torch.float64) for _ in range(STEPS)]


def init_params():
    g = torch.Generator().manual_seed(2)
    mk = lambda *s: (0.5 * torch.randn(*s, generator=g, dtype=torch.float64)).requires_grad_()  # noqa
    return [mk(DIM), mk(1)], [mk(DIM), mk(1)]


def losses(px, py, a, zero_sum):
    """Per-sample logistic-style game, averaged over the batch ``a``: the loss is a mean."""
    s = a @ px[0] + px[1]
    t = torch.tanh(a @ py[0] + py[1])
    f = (torch.tanh(s) * t + 0.1 * s ** 2 - 0.2 * t ** 2).mean()
    ly = -f if zero_sum else -f + 0.05 * (s * t).pow(2).mean()
    return f, ly


def closure_for(px, py, a, zero_sum, per_player):
    if per_player:
        return lambda player: losses(px, py, a, zero_sum)["xy".index(player)]
    return lambda: losses(px, py, a, zero_sum)


def run(name, rank=0, world_size=1, distributed=False):
    """Run one configuration; each rank on its shard of every batch."""
    factory, zero_sum, per_player = CONFIGS["GDA" if name == CONTROL else name]
    px, py = init_params()
    opt = factory(px, py)
    if distributed and name != CONTROL:
        data_parallel(opt)
    for a in batches():
        a = shard(a, rank, world_size) if distributed else a
        opt.step(closure_for(px, py, a, zero_sum, per_player))
    return [p.detach().clone() for p in px + py], opt


def _rank_main(rank, world_size, out_dir):
    results, divergence = {}, {}
    for name in list(CONFIGS) + [CONTROL]:
        params, opt = run(name, rank, world_size, distributed=True)
        results[name] = params
        divergence[name] = max_divergence(params)
    reducer = AllReduceMean()
    mean = reducer([torch.full((2,), float(rank), dtype=torch.float64),
                    torch.tensor([rank], dtype=torch.float32)])
    torch.save({"results": results, "divergence": divergence,
                "mean_check": [t.tolist() for t in mean]}, f"{out_dir}/rank{rank}.pt")


@pytest.fixture(scope="module")
def dist_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    launch(_rank_main, WORLD, args=(str(out),))
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_two_ranks_match_one_process_on_the_union(dist_results, name):
    ref, _ = run(name)
    for r in range(WORLD):
        got = dist_results[r]["results"][name]
        for a, b in zip(got, ref):
            # float64 rounding of mean-of-means vs mean, through 4 steps: ~1e-15 observed
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert dist_results[0]["divergence"][name] == 0.0   # ranks bitwise in step


def test_control_without_reducer_differs(dist_results):
    """Without averaging, each rank follows its own shard: far from the union's run."""
    ref, _ = run("GDA")
    got0 = dist_results[0]["results"][CONTROL]
    gap = max(float((a - b).abs().max()) for a, b in zip(got0, ref))
    assert gap > 1e-3
    assert dist_results[0]["divergence"][CONTROL] > 1e-3


def test_allreduce_mean_mixed_dtypes(dist_results):
    assert dist_results[0]["mean_check"] == [[0.5, 0.5], [0.5]]


def test_shard_refuses_unequal_and_bad_rank():
    a = torch.zeros(5, 2)
    with pytest.raises(ValueError, match="equal shards"):
        shard(a, 0, 2)
    with pytest.raises(ValueError, match="outside"):
        shard(torch.zeros(4), 2, 2)
    torch.testing.assert_close(shard(torch.arange(6.0), 1, 3), torch.tensor([2.0, 3.0]))


def test_not_initialized_is_a_clear_error():
    px, py = init_params()
    with pytest.raises(RuntimeError, match="not initialized"):
        data_parallel(O.GDA(px, py, lr=0.1))
    with pytest.raises(TypeError, match="GameOptimizer"):
        data_parallel(torch.optim.SGD(px, lr=0.1))
    with pytest.raises(ValueError, match="nproc"):
        launch(_rank_main, 0)
