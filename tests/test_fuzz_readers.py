"""Fuzzing the dataset readers of gans.data (MNIST IDX, CIFAR-10 binary and python-pickle
versions): a malformed or truncated file gives DataFormatError (a ValueError), a valid one
a well-formed array, and a pickle never runs code."""
from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import gans.data as gd

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _idx(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + \
        arr.astype(np.uint8).tobytes()


VALID_IDX = _idx(np.arange(2 * 3 * 4).reshape(2, 3, 4))


def _check_idx(raw):
    try:
        a = gd.parse_idx(raw)
    except gd.DataFormatError as err:
        assert "\n" not in str(err)
        return None
    assert a.dtype == np.uint8 and len(raw) == 4 + 4 * a.ndim + a.size
    return a


@FUZZ
@given(st.binary(max_size=64))
@example(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1))
@example(bytes([0, 0, 8, 0]))
def test_fuzz_idx_random_bytes(raw):
    _check_idx(raw)


@FUZZ
@given(cut=st.integers(0, len(VALID_IDX) - 1),
       flips=st.lists(st.tuples(st.integers(0, len(VALID_IDX) - 1), st.integers(1, 255)),
                      max_size=3))
def test_fuzz_idx_truncated_or_flipped(cut, flips):
    assert _check_idx(VALID_IDX[:cut]) is None          # every proper prefix is refused
    data = bytearray(VALID_IDX)
    for pos, x in flips:
        data[pos] ^= x
    _check_idx(bytes(data))


@FUZZ
@given(st.one_of(st.binary(max_size=3 * gd.CIFAR_RECORD),
                 st.integers(1, 3).flatmap(lambda n: st.binary(min_size=n * gd.CIFAR_RECORD,
                                                               max_size=n * gd.CIFAR_RECORD))))
def test_fuzz_cifar_binary(raw):
    try:
        x, y = gd.parse_cifar10_bin(raw)
    except gd.DataFormatError:
        assert len(raw) % gd.CIFAR_RECORD or not raw or max(raw[::gd.CIFAR_RECORD]) > 9
        return
    assert x.shape == (len(raw) // gd.CIFAR_RECORD, 3, 32, 32) and y.max() <= 9


def _cifar_pickle(n=2, protocol=2, **override):
    rng = np.random.default_rng(0)
    d = {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
         b"labels": [int(v) for v in rng.integers(0, 10, size=n)]}
    d.update(override)
    return pickle.dumps(d, protocol=protocol)


VALID_PICKLE = _cifar_pickle()


def _check_pickle(raw):
    try:
        x, y = gd.parse_cifar10_pickle(raw)
    except gd.DataFormatError as err:
        assert str(err)
        return False
    assert x.dtype == np.uint8 and x.shape[1:] == (3, 32, 32) and x.shape[0] == len(y)
    assert y.dtype == np.int64 and (len(y) == 0 or (y.min() >= 0 and y.max() <= 9))
    return True


def test_valid_pickles_read():
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert _check_pickle(_cifar_pickle(protocol=protocol))


@FUZZ
@given(cut=st.integers(0, len(VALID_PICKLE) - 1))
def test_fuzz_pickle_truncated(cut):
    assert not _check_pickle(VALID_PICKLE[:cut])


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(VALID_PICKLE) - 1), st.integers(1, 255)),
                      min_size=1, max_size=4))
@example(flips=[(207, 3)])     # found by hypothesis: numpy's array reconstruct -> SystemError
def test_fuzz_pickle_flipped(flips):
    data = bytearray(VALID_PICKLE)
    for pos, x in flips:
        data[pos] ^= x
    _check_pickle(bytes(data))


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_pickle_random_bytes(raw):
    _check_pickle(raw)


values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 300), st.floats(), st.text(max_size=3),
              st.binary(max_size=3),
              st.sampled_from([np.zeros((1, 3072), np.uint8), np.zeros((2, 3072), np.float64),
                               np.full((1, 3072), np.nan), np.zeros((1, 3071), np.uint8),
                               np.array([["a"] * 3072]), np.zeros(3072, np.uint8),
                               np.zeros((1, 3072), np.complex128), np.zeros((0, 3072), np.uint8)])),
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.tuples(kids, kids),
                           st.dictionaries(st.sampled_from([b"data", b"labels", "data", 1]), kids,
                                           max_size=3)),
    max_leaves=10)


@FUZZ
@given(values, st.integers(2, pickle.HIGHEST_PROTOCOL))
@example({b"data": np.zeros((1, 3072), np.uint8), b"labels": [b"x"]}, 2)
@example({b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]}, 2)
@example({b"data": np.array([["a"] * 3072]), b"labels": [1]}, 2)
@example({b"data": np.full((1, 3072), np.nan), b"labels": [1]}, 2)
def test_fuzz_pickle_structures(obj, protocol):
    _check_pickle(pickle.dumps(obj, protocol=protocol))


class _Evil:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("payload", ["mkdir", "system", "eval", "exec", "import"])
def test_pickle_never_runs_code(tmp_path, payload):
    marker = tmp_path / "pwned"
    evil = {"mkdir": _Evil(os.mkdir, str(marker)),
            "system": _Evil(os.system, f"mkdir {marker}"),
            "eval": _Evil(eval, f"__import__('os').mkdir({str(marker)!r})"),
            "exec": _Evil(exec, f"import os; os.mkdir({str(marker)!r})"),
            "import": _Evil(__import__, "os")}[payload]
    for obj in (evil, {b"data": evil, b"labels": []}, [np.zeros(2), evil]):
        with pytest.raises(gd.DataFormatError, match="refusing to unpickle"):
            gd.parse_cifar10_pickle(pickle.dumps(obj, protocol=2))
    assert not marker.exists()


@FUZZ
@given(st.binary(max_size=100))
def test_fuzz_mnist_files_gz(tmp_path, raw):
    """Garbage (gzip or not) where MNIST files should be: DataFormatError, never a crash."""
    d = tmp_path / "mnist"
    d.mkdir(exist_ok=True)
    (d / "train-images-idx3-ubyte.gz").write_bytes(raw)
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw))
    with pytest.raises(gd.DataFormatError):
        gd.read_mnist(d, "train")
