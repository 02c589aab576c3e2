"""A training set too large for memory (issue 16: 100M rows on a 24 GB machine) is joined a
few stores at a time, each part reading its stores' row groups, into row arrays that live
in an unlinked file: the same set, array for array, as one join held in memory, on a
retailer's data (returns, late, ended and short series) built in parts. Real Feast and the
workspace's own offline store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesops.training import dataset, row_arrays
from salesops.training.dataset import ROW, TIMESTAMP, key_parts, load_training_set


def _keys(stores: dict[int, int]) -> pd.DataFrame:
    """Keys in the set's order (by week, then store, dept) with `stores[s]` rows of s."""
    rows = [(store, dept, week) for store, count in stores.items() for dept in (1, 2)
            for week in range(count // 2)]
    frame = pd.DataFrame(rows, columns=["store", "dept", "week"])
    frame = frame.sort_values(["week", "store", "dept"], kind="stable").reset_index(drop=True)
    frame[ROW] = np.arange(len(frame))
    return frame


@pytest.mark.parametrize("budget", [1, 10, 25, 10**6])
def test_key_parts_hold_whole_stores_each_key_once_in_order(budget):
    keys = _keys({3: 8, 5: 20, 11: 6, 12: 4, 40: 10})
    parts = list(key_parts(keys, budget))
    seen = np.concatenate([part[ROW].to_numpy() for part in parts])
    assert sorted(seen) == list(range(len(keys)))  # every key once
    store_sets = [set(part["store"]) for part in parts]
    assert all(not a & b for i, a in enumerate(store_sets) for b in store_sets[i + 1:])
    for part in parts:
        assert (np.diff(part[ROW].to_numpy()) > 0).all()  # in the keys' order
        assert len(part) <= budget or part["store"].nunique() == 1
    if budget >= len(keys):
        assert len(parts) == 1 and parts[0] is keys
    else:
        assert len(parts) > 1


@pytest.mark.slow
def test_a_set_joined_in_parts_into_file_backed_arrays_is_the_whole_join(
        cli, workspace, monkeypatch):
    from salesops.config import load_settings
    from salesops.features import build

    assert cli("infra", "up").exit_code == 0
    monkeypatch.setattr(build, "PART_ROWS", 700)  # the views in many row groups' worth
    monkeypatch.setattr("salesops.features.table_files.ROW_GROUP_ROWS", 300)
    built = cli("features", "build", "--realism", "retail", "--stores", "6", "--depts", "8",
                "--weeks", "90")
    assert built.exit_code == 0, built.stderr
    monkeypatch.setenv("SALESOPS_TRAINING__HOLDOUT_WEEKS", "8")
    whole = load_training_set(load_settings())
    assert not isinstance(whole.train_inputs.x, np.memmap)

    asked = []
    real_parts = dataset.key_parts
    monkeypatch.setattr(dataset, "key_parts", lambda keys, rows: (
        asked.append(len(keys)), real_parts(keys, 900))[1])
    monkeypatch.setattr(row_arrays, "MEMORY_SHARE", 0.0)
    parted = load_training_set(load_settings())

    assert isinstance(parted.train_inputs.x, np.memmap)
    assert asked and asked[0] > 3 * 900  # really in several parts
    for name in ("x", "ids", "level"):
        np.testing.assert_array_equal(getattr(parted.train_inputs, name),
                                      getattr(whole.train_inputs, name))
    np.testing.assert_array_equal(parted.y_train, whole.y_train)
    pd.testing.assert_frame_equal(parted.train_keys, whole.train_keys)
    pd.testing.assert_frame_equal(parted.holdout, whole.holdout, check_exact=True)
    assert (parted.fit_rows, parted.holdout_start) == (whole.fit_rows, whole.holdout_start)
    assert parted.holdout[TIMESTAMP].nunique() == 8
    scratch = workspace / "scratch"
    assert not scratch.exists() or not any(scratch.iterdir())  # unlinked once mapped
