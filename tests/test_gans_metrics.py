"""gans.metrics on samples whose answers are known, and FID/IS against independent numpy."""
import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from gans import metrics as gm
from gans.data import eight_gaussians, grid2d


def test_mixture_metrics_known_samples():
    mix = eight_gaussians()
    means, std = mix.means, mix.std
    exact = means.repeat(50, 1)  # every mode, exactly on the means
    assert gm.mixture_metrics(exact, means, std) == {"modes_covered": 8, "n_modes": 8, "hq_fraction": 1.0}
    three = means[:3].repeat(100, 1)
    assert gm.mixture_metrics(three, means, std)["modes_covered"] == 3
    far = torch.full((40, 2), 10.0)
    assert gm.mixture_metrics(far, means, std) == {"modes_covered": 0, "n_modes": 8, "hq_fraction": 0.0}
    # a quarter of the samples 3.2 std away from mode 0 (outside), the rest 2.8 std (inside)
    direction = torch.tensor([[1.0, 0.0]])  # radially outward from mode 0 at (1, 0)
    inside = means[0] + 2.8 * std * direction
    outside = means[0] + 3.2 * std * direction
    mixed = torch.cat([inside.repeat(30, 1), outside.repeat(10, 1)])
    m = gm.mixture_metrics(mixed, means, std)
    assert m["hq_fraction"] == pytest.approx(0.75) and m["modes_covered"] == 1
    nan = torch.cat([exact, torch.full((400, 2), float("nan"))])
    assert gm.mixture_metrics(nan, means, std)["hq_fraction"] == 0.5


def test_mixture_metrics_true_distribution():
    mix = grid2d()
    x = mix.sample(9000, torch.Generator().manual_seed(0))
    m = gm.mixture_metrics(x, mix.means, mix.std)
    # in 2-D, P(|N(0, I)| <= 3) = 1 - exp(-9/2) = 0.98889; standard error ~ 0.0011
    assert m["modes_covered"] == 9 and m["hq_fraction"] == pytest.approx(1 - np.exp(-4.5), abs=0.005)
    with pytest.raises(ValueError, match="samples"):
        gm.mixture_metrics(torch.zeros(5, 3), mix.means, mix.std)


class _Linear(nn.Module):
    """A fixed feature map (flatten, then a random linear map) for FID tests."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.w = torch.randn(d_in, d_out, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        self.num_features = d_out

    def forward(self, x):
        return x.flatten(1).double() @ self.w


def _fid_numpy(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_against_numpy():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(400, 1, 3, 3, generator=g, dtype=torch.float64)
    fake = 0.7 * torch.randn(300, 1, 3, 3, generator=g, dtype=torch.float64) + 0.3
    f = _Linear(9, 5)
    expect = _fid_numpy(f(real).numpy(), f(fake).numpy())
    assert gm.frechet_distance(f, real, fake, batch=128) == pytest.approx(expect, rel=1e-6)
    # a pure shift of the features: FID = |shift|^2
    shift = torch.zeros(9, dtype=torch.float64)
    shift[0] = 1.0
    d = gm.frechet_distance(f, real, real + shift.view(1, 1, 3, 3))
    assert d == pytest.approx(float((f.w[0] ** 2).sum()), rel=1e-6)


def test_inception_score_known_logits():
    class Logits(nn.Module):
        def forward(self, x):
            return x.flatten(1)
    confident = 50.0 * torch.eye(10).repeat(20, 1)  # every class equally often, with certainty
    mean, _ = gm.inception_score(Logits(), confident, splits=1)
    assert mean == pytest.approx(10.0, rel=1e-6)
    uniform = torch.zeros(100, 10)
    assert gm.inception_score(Logits(), uniform, splits=1)[0] == pytest.approx(1.0)


def test_digits_classifier_features():
    from gans.data import load_digits_images
    x, y = load_digits_images(32)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1200], perm[1200:]
    clf = gm.train_classifier(x[tr], y[tr], epochs=15)
    assert gm.classifier_accuracy(clf, x[te], y[te]) > 0.9  # held-out digits
    feats, logits = gm.classifier_extractors(clf)
    same = gm.image_metrics(feats, x[te[:300]], x[tr[:600]], logits)
    noise = gm.image_metrics(feats, x[te[:300]], torch.rand(600, 1, 32, 32) * 2 - 1, logits)
    assert same["fid"] < 0.1 * noise["fid"]
    assert same["inception_score"] > 3 * noise["inception_score"]


def test_classifier_cache_roundtrip(tmp_path):
    from gans.data import load_digits_images
    x, y = load_digits_images()
    path = tmp_path / "clf.pt"
    a = gm.cached_classifier(x[:200], y[:200], path, epochs=2)
    b = gm.cached_classifier(x[:200], y[:200], path, epochs=2)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match="trained on images"):
        gm.cached_classifier(torch.zeros(4, 1, 32, 32), y[:4], path)


def test_inception_never_downloads(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        gm.inception_features(tmp_path / "missing.pth")
    w = tmp_path / "w.pth"
    w.write_bytes(b"x")
    from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE
    if not _TORCH_FIDELITY_AVAILABLE:
        with pytest.raises(ValueError, match="torch-fidelity"):
            gm.inception_features(w)


# ------------------------------------------------------------------ energy distance
def _energy_brute_force(x, y):
    """Squared energy distance by explicit double loops over the pairs (numpy)."""
    def mean_dist(a, b):
        return np.mean([[np.linalg.norm(ai - bj) for bj in b] for ai in a])
    return 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_energy_distance_matches_brute_force(d, rng):
    x = rng.standard_normal((37, d))
    y = 0.7 * rng.standard_normal((23, d)) + 0.4
    assert gm.energy_distance(torch.from_numpy(x), torch.from_numpy(y)) == \
        pytest.approx(_energy_brute_force(x, y), rel=1e-12, abs=1e-14)


def test_energy_distance_is_scipys_in_one_dimension(rng):
    from scipy.stats import energy_distance as scipy_energy
    x, y = rng.standard_normal(300), rng.exponential(size=200)
    ours = gm.energy_distance(torch.from_numpy(x)[:, None], torch.from_numpy(y)[:, None])
    assert np.sqrt(ours) == pytest.approx(scipy_energy(x, y), rel=1e-10)


def test_energy_distance_chunks_and_edge_cases(rng):
    """More rows than one cdist chunk of ``gans.metrics._mean_distance`` (2048; here two
    full chunks and a partial one), against scipy's full distance matrices: the
    V-statistic, every pair including i = j."""
    from scipy.spatial.distance import cdist
    from inspect import signature
    chunk = signature(gm._mean_distance).parameters["chunk"].default
    n = 2 * chunk + 7
    xn = rng.standard_normal((n, 2))
    yn = xn[:300] + 0.5
    dxy, dxx, dyy = cdist(xn, yn).mean(), cdist(xn, xn).mean(), cdist(yn, yn).mean()
    ref = 2 * dxy - dxx - dyy
    # float64 rounding: each pair's distance to a few ulps, each mean summed pairwise (an
    # error of about log2(pairs) ulps of the mean), then the cancellation in 2a - b - c
    tol = (np.log2(n * n) + 4) * np.finfo(float).eps * (2 * dxy + dxx + dyy)
    x, y = torch.from_numpy(xn), torch.from_numpy(yn)
    assert ref > 100 * tol
    assert abs(gm.energy_distance(x, y) - ref) <= tol
    assert gm.energy_distance(x[:10], x[:10]) == 0.0
    assert np.isnan(gm.energy_distance(torch.tensor([[float("nan"), 0.0]]), x[:5]))
    with pytest.raises(ValueError, match="energy_distance"):
        gm.energy_distance(torch.zeros(4, 2), torch.zeros(4, 3))


def test_a_ring_covers_every_mode_but_not_in_energy_distance():
    """LEAD App. I.1 as written (unit circle, variance 0.05): a generator that draws the
    ring through the means scores 8/8 modes and a high-quality fraction near the mixture's,
    yet its energy distance is many times the real-vs-real value."""
    mix = eight_gaussians()
    g = torch.Generator().manual_seed(0)
    real, real2 = mix.sample(2000, g), mix.sample(2000, g)
    angle = 2 * np.pi * torch.rand(2000, generator=g, dtype=torch.float64)
    ring = torch.stack([torch.cos(angle), torch.sin(angle)], 1) + 0.05 * torch.randn(2000, 2, generator=g, dtype=torch.float64)
    ring_m, real_m = gm.mixture_metrics(ring, mix.means, mix.std), gm.mixture_metrics(real2, mix.means, mix.std)
    assert ring_m["modes_covered"] == 8 and ring_m["hq_fraction"] > 0.99 and real_m["hq_fraction"] > 0.95
    floor = gm.energy_distance(real, real2)
    assert gm.energy_distance(ring, real) > 5 * floor
