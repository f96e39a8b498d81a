"""gans.data: mixtures against the papers' parameters, readers on files written here in the
official formats (CIFAR-10 binary and python, MNIST idx, gz), malformed files, samplers."""
import gzip
import math
import pickle
import struct

import numpy as np
import pytest
import torch

from gans import data as gd


def test_eight_gaussians_parameters_and_samples():
    mix = gd.eight_gaussians()
    ang = np.arange(8) * 2 * np.pi / 8
    np.testing.assert_allclose(mix.means.numpy(), np.stack([np.cos(ang), np.sin(ang)], 1), atol=1e-15)
    assert mix.std == pytest.approx(math.sqrt(0.05))
    x = mix.sample(40000, torch.Generator().manual_seed(0)).double()
    # means on the unit circle: the sample mean is 0, the per-coordinate variance is
    # E[cos^2] + 0.05 = 0.5 + 0.05 (law of total variance); standard errors ~ 0.004
    assert x.mean(0).abs().max() < 0.02
    np.testing.assert_allclose(x.var(0).numpy(), [0.55, 0.55], atol=0.02)


def test_fr_mixtures():
    m1, g = gd.mog1d(), gd.grid2d()
    assert m1.means.flatten().tolist() == [-4.0, 0.0, 4.0] and m1.std == pytest.approx(0.1)
    assert sorted(map(tuple, g.means.tolist())) == [(a, b) for a in (-3.0, 0.0, 3.0) for b in (-3.0, 0.0, 3.0)]
    x = m1.sample(30000, torch.Generator().manual_seed(1)).double()
    resid = x - m1.means.flatten()[(x - m1.means.T).abs().argmin(1)].unsqueeze(1)
    assert resid.std().item() == pytest.approx(0.1, rel=0.03)


def test_digits():
    x, y = gd.load_digits_images()
    assert x.shape == (1797, 1, 8, 8) and y.shape == (1797,)
    assert x.min() == -1 and x.max() == 1
    x32, _ = gd.load_digits_images(32)
    assert x32.shape == (1797, 1, 32, 32)


def _cifar_arrays(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n)


def _write_cifar_bin(d, split_files, n=3):
    out = {}
    for i, name in enumerate(split_files):
        imgs, labels = _cifar_arrays(n, i)
        recs = b"".join(bytes([int(l)]) + im.tobytes() for im, l in zip(imgs, labels))
        (d / name).write_bytes(recs)
        out[name] = (imgs, labels)
    return out


def test_cifar10_binary(tmp_path):
    names = [f"data_batch_{i}.bin" for i in range(1, 6)]
    sub = tmp_path / "cifar-10-batches-bin"
    sub.mkdir()
    written = _write_cifar_bin(sub, names + ["test_batch.bin"])
    x, y = gd.read_cifar10(tmp_path, "train")
    imgs = np.concatenate([written[n][0] for n in names])
    assert x.shape == (15, 3, 32, 32)
    np.testing.assert_allclose(x.numpy(), imgs / 127.5 - 1, atol=1e-6)
    assert y.tolist() == np.concatenate([written[n][1] for n in names]).tolist()
    xt, yt = gd.read_cifar10(tmp_path, "test")
    assert xt.shape == (3, 3, 32, 32) and yt.tolist() == written["test_batch.bin"][1].tolist()


def test_cifar10_binary_malformed(tmp_path):
    _write_cifar_bin(tmp_path, ["test_batch.bin"])
    raw = (tmp_path / "test_batch.bin").read_bytes()
    (tmp_path / "test_batch.bin").write_bytes(raw[:-5])
    with pytest.raises(gd.DataFormatError, match="truncated"):
        gd.read_cifar10(tmp_path, "test")
    (tmp_path / "test_batch.bin").write_bytes(bytes([12]) + raw[1:])
    with pytest.raises(gd.DataFormatError, match="label 12"):
        gd.read_cifar10(tmp_path, "test")
    with pytest.raises(gd.DataFormatError, match="data_batch_1"):
        gd.read_cifar10(tmp_path, "train")
    with pytest.raises(gd.DataFormatError, match="does not exist"):
        gd.read_cifar10(tmp_path / "nope")


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar10_python_pickle(tmp_path, protocol):
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    imgs, labels = _cifar_arrays(4, 7)
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in labels],
             b"data": imgs.reshape(4, 3072), b"filenames": [b"a.png", b"b.png", b"c.png", b"d.png"]}
    (sub / "test_batch").write_bytes(pickle.dumps(batch, protocol=protocol))
    x, y = gd.read_cifar10(tmp_path, "test")
    np.testing.assert_allclose(x.numpy(), imgs / 127.5 - 1, atol=1e-6)
    assert y.tolist() == labels.tolist()


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_cifar10_pickle_refuses_objects_and_truncation(tmp_path, capsys):
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(gd.DataFormatError, match="refusing to unpickle builtins.print"):
        gd.read_cifar10(tmp_path, "test")
    assert "never run" not in capsys.readouterr().out
    imgs, labels = _cifar_arrays(2, 0)
    raw = pickle.dumps({b"data": imgs.reshape(2, 3072), b"labels": labels.tolist()})
    (tmp_path / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(gd.DataFormatError, match="truncated"):
        gd.read_cifar10(tmp_path, "test")
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": imgs.reshape(2, 3072), b"labels": [1]}))
    with pytest.raises(gd.DataFormatError, match="labels"):
        gd.read_cifar10(tmp_path, "test")


def _idx(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx(tmp_path, gz):
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5).astype(np.uint8)
    for name, arr in (("t10k-images-idx3-ubyte", imgs), ("t10k-labels-idx1-ubyte", labels)):
        raw = _idx(arr)
        if gz:
            (tmp_path / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (tmp_path / name).write_bytes(raw)
    x, y = gd.read_mnist(tmp_path, "test")
    assert x.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(x[:, 0].numpy(), imgs / 127.5 - 1, atol=1e-6)
    assert y.tolist() == labels.tolist()
    assert gd.read_mnist(tmp_path, "test", size=32)[0].shape == (5, 1, 32, 32)


def test_mnist_malformed(tmp_path):
    imgs = np.zeros((3, 28, 28), np.uint8)
    good_labels = _idx(np.zeros(3, np.uint8))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(good_labels)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(imgs)[:-10])
    with pytest.raises(gd.DataFormatError, match="truncated"):
        gd.read_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x01\x02" + _idx(imgs)[2:])
    with pytest.raises(gd.DataFormatError, match="magic"):
        gd.read_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(np.zeros((4, 28, 28), np.uint8)))
    with pytest.raises(gd.DataFormatError, match="disagree"):
        gd.read_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    (tmp_path / "train-images-idx3-ubyte").unlink()
    with pytest.raises(gd.DataFormatError, match="cannot read"):
        gd.read_mnist(tmp_path)
    with pytest.raises(gd.DataFormatError, match="t10k-images"):
        gd.read_mnist(tmp_path, "test")


def test_tensor_sampler_epochs_and_resume():
    data = torch.arange(10.0).unsqueeze(1)
    s = gd.TensorSampler(data, 5, seed=0)
    epoch = torch.cat([s.next(), s.next()]).flatten().sort().values
    assert epoch.tolist() == list(range(10))  # one epoch sees every example once
    state = s.state_dict()
    ahead = [s.next() for _ in range(3)]
    s2 = gd.TensorSampler(data, 5, seed=99)
    s2.load_state_dict(state)
    assert all(torch.equal(a, s2.next()) for a in ahead)
    m = gd.MixtureSampler(gd.eight_gaussians(), 4, seed=0)
    st = m.state_dict()
    a = m.next()
    m.load_state_dict(st)
    assert torch.equal(a, m.next())
