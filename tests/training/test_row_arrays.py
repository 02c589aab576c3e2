"""The training set's row arrays: in memory while they fit, else in an unlinked mapped file
that nothing outlives (and a killed process' file is removed by the next large set)."""

from __future__ import annotations

import os
import time

import numpy as np

from salesops.training import row_arrays
from salesops.training.row_arrays import PREFIX, RowArrays


def test_arrays_that_fit_are_plain_memory(tmp_path):
    arrays = RowArrays(1 << 20, tmp_path / "scratch")
    x = arrays.empty((1000, 4), np.float32)
    assert type(x) is np.ndarray and not arrays.in_file
    assert not (tmp_path / "scratch").exists()


def test_large_arrays_map_a_file_nothing_outlives(tmp_path, monkeypatch):
    monkeypatch.setattr(row_arrays, "MEMORY_SHARE", 0.0)
    scratch = tmp_path / "scratch"
    arrays = RowArrays(1, scratch)
    x, y = arrays.empty((5000, 28), np.float32), arrays.empty((5000,), np.float64)
    empty = arrays.empty((0, 28), np.float32)
    assert isinstance(x, np.memmap) and isinstance(y, np.memmap) and empty.shape == (0, 28)
    assert list(scratch.iterdir()) == []  # unlinked as soon as mapped
    x[:] = np.arange(x.size, dtype=np.float32).reshape(x.shape)
    y[-1] = 2.5
    assert x[4999, 27] == x.size - 1 and y[-1] == 2.5


def test_a_killed_process_file_is_removed_by_the_next_large_set(tmp_path, monkeypatch):
    monkeypatch.setattr(row_arrays, "MEMORY_SHARE", 0.0)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    stale, fresh, other = scratch / f"{PREFIX}old", scratch / f"{PREFIX}new", scratch / "keep"
    for path in (stale, fresh, other):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    os.utime(other, (an_hour_ago, an_hour_ago))
    RowArrays(1, scratch)
    assert sorted(p.name for p in scratch.iterdir()) == sorted([fresh.name, other.name])
