"""The low-level helpers of mechanics/utils: atomic writes, RNG state, figure saving."""
from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch

from mechanics.utils.atomic import WriteError, atomic_write_bytes, atomic_write_text
from mechanics.utils.figures import save_figure
from mechanics.utils.rng import rng_state, seed_everything, set_rng_state


def draws():
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)])


def test_rng_state_round_trips_through_a_weights_only_checkpoint():
    seed_everything(123)
    buf = io.BytesIO()
    torch.save(rng_state(), buf)
    first = draws()
    set_rng_state(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    assert draws() == first
    seed_everything(123)
    assert draws() == first


def test_atomic_write_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "a" / "b.txt"
    atomic_write_text(path, "one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.txt"]


def test_atomic_write_names_what_is_in_the_way(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(WriteError, match="afile is not a writable directory"):
        atomic_write_bytes(tmp_path / "afile" / "out.json", b"{}", what="summary")
    assert isinstance(WriteError("x"), OSError)


def test_save_figure_refuses_an_unknown_format_and_writes_nothing(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    with pytest.raises(WriteError, match="cannot write plot"):
        save_figure(fig, tmp_path / "p.notaformat")
    assert list(tmp_path.iterdir()) == []
    fig, ax = plt.subplots()
    save_figure(fig, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
