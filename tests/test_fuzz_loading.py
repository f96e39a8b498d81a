"""Fuzzing everything that reads user input or files: the CLI's JSON matrix / vector
parsers, Trajectory.load, and optimizer checkpoints (load_state_dict, torch.load with
weights_only=True). Property: a clear ValueError/TypeError/CLIError or a valid result;
never another exception, never executed pickled code, never a half-loaded optimizer."""
from __future__ import annotations

import copy
import io
import json
import math
import os
import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import optimizers as O
from gamemech.cli.common import CLIError, parse_json_matrix, parse_vector
from integrators.trajectory import Trajectory

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# ----------------------------------------------------------------- JSON parsers
numbers = st.one_of(st.integers(min_value=-(10 ** 330), max_value=10 ** 330),
                    st.floats(allow_nan=True, allow_infinity=True))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=4)),
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(st.text(max_size=3), kids, max_size=3)),
    max_leaves=16)
matrix_like = st.one_of(
    st.lists(st.lists(numbers, min_size=0, max_size=3), min_size=0, max_size=3),
    st.lists(numbers, max_size=4), numbers, json_values)


def _number(v):
    """The float of a JSON number, or None if it is not a finite, representable one."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def oracle_matrix(v):
    """What parse_json_matrix must return for JSON value v (None: it must refuse)."""
    if _number(v) is not None:
        return np.array([[_number(v)]])
    if not isinstance(v, list) or not v or not all(isinstance(r, list) and r for r in v):
        return None
    if len({len(r) for r in v}) != 1:
        return None
    rows = [[_number(e) for e in r] for r in v]
    return None if any(e is None for r in rows for e in r) else np.array(rows)


def oracle_vector(v):
    if _number(v) is not None:
        return np.array([_number(v)])
    if not isinstance(v, list) or not v:
        return None
    vals = [_number(e) for e in v]
    return None if any(e is None for e in vals) else np.array(vals)


def _check_parse(fn, oracle, text, value):
    want = oracle(value) if value is not _NOT_JSON else None
    try:
        got = fn(text, "A")
    except CLIError as err:
        msg = str(err)
        assert "\n" not in msg and len(msg) < 300 and msg.startswith("--A")
        assert want is None, f"refused a valid input {text!r}: {msg}"
        return False
    assert want is not None, f"accepted an invalid input {text!r}"
    assert got.dtype == np.float64 and np.isfinite(got).all()
    np.testing.assert_array_equal(got, want)
    return True


_NOT_JSON = object()


def _value_of(text):
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NOT_JSON


@FUZZ
@given(matrix_like)
@example([[10 ** 400]]).via("huge int")
@example([[1e308, -1e308], [0, 5]]).via("edge floats")
def test_fuzz_parse_json_matrix_values(value):
    text = json.dumps(value)              # NaN / Infinity tokens included (Python JSON)
    _check_parse(parse_json_matrix, oracle_matrix, text, _value_of(text))


@FUZZ
@given(matrix_like)
@example(10 ** 400).via("huge int")
def test_fuzz_parse_vector_values(value):
    text = json.dumps(value)
    _check_parse(parse_vector, oracle_vector, text, _value_of(text))


@FUZZ
@given(st.text(max_size=40))
@example("[" * 100_000).via("deep nesting")
@example("[" * 100_000 + "]" * 100_000).via("deep valid nesting")
@example("9" * 5000).via("over Python's int-string digit limit")
@example("\x00").via("NUL")
def test_fuzz_parsers_arbitrary_text(text):
    value = _value_of(text)
    _check_parse(parse_json_matrix, oracle_matrix, text, value)
    _check_parse(parse_vector, oracle_vector, text, value)


# ------------------------------------------------------------- Trajectory.load
def _trajectory(has_velocity=True, batch=(2,)):
    n, m, T = 2, 1, 4
    dim = (2 if has_velocity else 1) * (n + m)
    return Trajectory(ts=torch.linspace(0, 1, T), zs=torch.randn(T, *batch, dim), n=n, m=m,
                      has_velocity=has_velocity, diverged=torch.zeros(batch, dtype=torch.bool),
                      diverged_at=torch.full(batch, float("nan")), stats={"nfev": 3})


@pytest.fixture(scope="module")
def traj_bytes(tmp_path_factory):
    path = _trajectory().save(tmp_path_factory.mktemp("traj") / "t.npz")
    return path.read_bytes()


def _load_bytes(tmp_path, data: bytes):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data)
    return Trajectory.load(path)


def _assert_consistent(tr: Trajectory):
    k = 2 if tr.has_velocity else 1
    assert tr.zs.shape[-1] == k * (tr.n + tr.m) and tr.zs.shape[0] == tr.ts.shape[0]
    assert tr.diverged.shape == tr.zs.shape[1:-1] == tr.diverged_at.shape
    tr.distance((torch.zeros(tr.n), torch.zeros(tr.m)))      # usable


def test_trajectory_roundtrip(tmp_path, traj_bytes):
    tr = _load_bytes(tmp_path, traj_bytes)
    _assert_consistent(tr)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=10 ** 6))
def test_fuzz_trajectory_truncated(tmp_path, traj_bytes, cut):
    cut %= len(traj_bytes)                       # every proper prefix
    with pytest.raises(ValueError, match="not a trajectory file"):
        _load_bytes(tmp_path, traj_bytes[:cut])


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)),
                      min_size=1, max_size=4))
def test_fuzz_trajectory_corrupted_bytes(tmp_path, traj_bytes, flips):
    data = bytearray(traj_bytes)
    for pos, x in flips:
        data[pos % len(data)] ^= x
    try:
        tr = _load_bytes(tmp_path, bytes(data))
    except ValueError as err:
        assert "not a trajectory file" in str(err)
        return
    _assert_consistent(tr)      # a flip the format does not notice must still load sanely


arrays = st.one_of(
    st.sampled_from([np.zeros(4), np.zeros((4, 2, 6)), np.zeros((4, 2, 5)), np.zeros((3, 2, 6)),
                     np.zeros(2, dtype=bool), np.zeros(3, dtype=bool), np.full(2, np.nan),
                     np.zeros((4, 2, 6), dtype=np.int64), np.array([np.inf, 0, 1, 2]),
                     np.array("{}"), np.array("not json"), np.array(["a", "b"]),
                     np.zeros(()), np.zeros((0,)), np.array(b"bytes")]))
meta_values = st.one_of(
    st.builds(json.dumps, json_values),
    st.fixed_dictionaries({"n": st.sampled_from([2, 0, -1, True, "2", 2.0, None]),
                           "m": st.sampled_from([1, 3]),
                           "has_velocity": st.sampled_from([True, False, 1, "yes"]),
                           "success": st.sampled_from([True, 0]),
                           "message": st.sampled_from(["", 5]),
                           "stats": st.sampled_from([{}, [], "s"])}).map(json.dumps))


@FUZZ
@given(drop=st.sets(st.sampled_from(["ts", "zs", "diverged", "diverged_at", "meta"]), max_size=2),
       replace=st.dictionaries(st.sampled_from(["ts", "zs", "diverged", "diverged_at"]), arrays,
                               max_size=2),
       meta=st.one_of(st.none(), meta_values))
def test_fuzz_trajectory_malformed_fields(tmp_path, drop, replace, meta):
    good = _trajectory()
    fields = {"ts": good.ts.numpy(), "zs": good.zs.numpy(), "diverged": good.diverged.numpy(),
              "diverged_at": good.diverged_at.numpy(),
              "meta": np.array(json.dumps({"n": 2, "m": 1, "has_velocity": True,
                                           "success": True, "message": "", "stats": {}}))}
    fields.update(replace)
    if meta is not None:
        fields["meta"] = np.array(meta)
    for k in drop:
        fields.pop(k)
    path = tmp_path / "f.npz"
    np.savez(path, **fields)
    try:
        tr = Trajectory.load(path)
    except ValueError as err:
        assert "not a trajectory file" in str(err) and "\n" not in str(err)
        return
    assert not drop
    _assert_consistent(tr)


class _Payload:
    """Unpickling this runs os.mkdir(marker): proof that pickled code was executed."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_trajectory_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"
    good = _trajectory()
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    np.savez(tmp_path / "evil.npz", ts=good.ts.numpy(), zs=evil, diverged=good.diverged.numpy(),
             diverged_at=good.diverged_at.numpy(), meta=np.array("{}"))
    with pytest.raises(ValueError, match="not a trajectory file"):
        Trajectory.load(tmp_path / "evil.npz")
    assert not marker.exists()


# --------------------------------------------------------- optimizer checkpoints
def _game(px, py):
    def losses():
        x, y = torch.cat([p.reshape(-1) for p in px]), torch.cat([p.reshape(-1) for p in py])
        f = (torch.tanh(x[:2]) * y[:2]).sum() + 0.1 * (x ** 2).sum() - 0.1 * (y ** 2).sum()
        return f, -f
    return losses


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return ([torch.randn(3, generator=g).requires_grad_(), torch.randn((), generator=g).requires_grad_()],
            [torch.randn(2, 1, generator=g).requires_grad_()])


OPTIMIZERS = {
    "LEADAdam": lambda px, py: O.LEADAdam(px, py, lr=0.01, alpha=0.2),
    "LEAD": lambda px, py: O.LEAD(px, py, lr=0.05, beta=0.5, alpha=0.2),
    "FR": lambda px, py: O.FR(px, py, lr=0.05, preconditioner="rmsprop", damping=0.1,
                              adaptive_damping=True),
    "ComplexMomentum": lambda px, py: O.ComplexMomentum(px, py, lr=0.05, beta=0.5 + 0.2j),
    "ExtraAdam": lambda px, py: O.ExtraAdam(px, py, lr=0.01),
}
ALL_OPTIMIZERS = {
    **OPTIMIZERS,
    "GDA": lambda px, py: O.GDA(px, py, lr=0.05), "EG": lambda px, py: O.EG(px, py, lr=0.05),
    "OGDA": lambda px, py: O.OGDA(px, py, lr=0.05),
    "OptimisticAdam": lambda px, py: O.OptimisticAdam(px, py, lr=0.01),
    "MomentumGDA": lambda px, py: O.MomentumGDA(px, py, lr=0.05, beta=0.3),
    "CO": lambda px, py: O.CO(px, py, lr=0.05), "SGA": lambda px, py: O.SGA(px, py, lr=0.05),
    "CGD": lambda px, py: O.CGD(px, py, lr=0.05),
}


def _trained(name, steps=3):
    px, py = _params()
    opt = ALL_OPTIMIZERS[name](px, py)
    for _ in range(steps):
        opt.step(_game(px, py))
    return opt, px, py


@pytest.mark.parametrize("name", sorted(ALL_OPTIMIZERS))
def test_checkpoints_load_with_weights_only(name):
    """Every optimizer's checkpoint loads under torch.load(weights_only=True) and resumes
    bitwise (3 + 3 steps == 6 steps)."""
    opt, px, py = _trained(name)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "p": [p.detach() for p in px + py]}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    qx, qy = _params(seed=5)
    with torch.no_grad():
        for q, v in zip(qx + qy, ck["p"]):
            q.copy_(v)
    opt2 = ALL_OPTIMIZERS[name](qx, qy)
    opt2.load_state_dict(ck["opt"])
    for _ in range(3):
        opt.step(_game(px, py))
        opt2.step(_game(qx, qy))
    assert all(torch.equal(a, b) for a, b in zip(px + py, qx + qy))


def test_checkpoint_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"opt": _Payload(marker)}))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not marker.exists()


junk = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-5, max_value=10 ** 20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
    st.lists(st.integers(-2, 5), max_size=3), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.complex_numbers(allow_nan=False, max_magnitude=2),
    st.sampled_from([torch.zeros(()), torch.zeros(7), torch.full((3,), float("nan")),
                     torch.zeros(3, dtype=torch.int64), torch.zeros(3, dtype=torch.complex128),
                     torch.ones(3, 1), torch.zeros(2, 1), torch.ones(3, dtype=torch.bool),
                     torch.full((), float("inf"))]))


def _paths(obj, prefix=()):
    """Every path (tuple of keys / indices) into nested dicts / lists / tuples."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _mutate(obj, path, action, value):
    if not path:
        return value if action == "replace" else None
    head, rest = path[0], path[1:]
    if isinstance(obj, tuple):
        items = list(obj)
        items[head] = _mutate(items[head], rest, action, value)
        return tuple(items)
    if rest or action == "replace":
        obj[head] = _mutate(obj[head], rest, action, value) if rest else value
    else:
        del obj[head]
    return obj


def _snapshot(opt):
    sd = opt.state_dict()
    return copy.deepcopy(sd), [p.detach().clone() for g in opt.param_groups for p in g["params"]]


def _same(a, b):
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and \
            a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


MUTATIONS = {"tried": 0, "refused": 0, "accepted": 0}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fuzz_load_state_dict(name, data):
    """A mutated checkpoint is refused with ValueError/TypeError leaving the optimizer
    untouched, or loads into an optimizer that can step."""
    source, _, _ = _trained(name)
    sd = source.state_dict()
    paths = [p for p in _paths(sd) if p]
    path = data.draw(st.sampled_from(paths), label="path")
    action = data.draw(st.sampled_from(["replace", "delete"]), label="action")
    value = data.draw(junk, label="value") if action == "replace" else None
    bad = _mutate(copy.deepcopy(sd), path, action, value)
    assume(not _same(bad, sd))
    opt, px, py = _trained(name, steps=1)
    before, params_before = _snapshot(opt)
    MUTATIONS["tried"] += 1
    try:
        opt.load_state_dict(bad)
    except (ValueError, TypeError) as err:
        MUTATIONS["refused"] += 1
        assert str(err) and "\n" not in str(err)
        after, params_after = _snapshot(opt)
        assert _same(before, after) and all(map(torch.equal, params_before, params_after))
        return
    MUTATIONS["accepted"] += 1
    params_loaded = [p.detach().clone() for p in px + py]
    try:
        opt.step(_game(px, py))
    except (O.NonFiniteError, ValueError) as err:
        # a huge learning rate (non-finite iterate), or state keys the method needs that
        # only its first step can name: a clear error, parameters left as loaded
        assert "\n" not in str(err)
        assert all(map(torch.equal, params_loaded, [p.detach() for p in px + py]))
    assert all(torch.isfinite(p).all() for p in px + py)
