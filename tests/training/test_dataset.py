"""The training set is checked before any epoch: whatever would fail later fails here."""

import numpy as np
import pandas as pd
import pytest

from salesops.errors import DataError
from salesops.training import split
from salesops.training.dataset import VALIDATION_WEEKS, check_training_frame

FEATURES = ["sales_mean_4", "sales_lag_1", "temperature"]
HOLDOUT = 2


def _frame(weeks: int, series: int = 5) -> pd.DataFrame:
    """`series` series over `weeks` weeks, every value finite."""
    stamps = pd.date_range("2024-01-05", periods=weeks, freq="7D", tz="UTC")
    rows = [(store, 1, week) for week in stamps for store in range(1, series + 1)]
    frame = pd.DataFrame(rows, columns=["store", "dept", "event_timestamp"])
    for i, name in enumerate([*FEATURES, "weekly_sales"]):
        frame[name] = 100.0 + i
    return frame


def test_the_validation_weeks_are_the_split_s():
    assert VALIDATION_WEEKS == split.VALIDATION_WEEKS


def test_a_clean_frame_gives_the_first_holdout_week():
    weeks = split.feature_weeks_needed(HOLDOUT)
    frame = _frame(weeks)
    start = check_training_frame(frame, FEATURES, HOLDOUT, history_weeks=8)
    assert start == frame["event_timestamp"].unique()[-HOLDOUT]


@pytest.mark.parametrize("column", ["sales_mean_4", "weekly_sales"])
def test_a_non_finite_feature_or_target_is_bad_data_naming_column_and_count(column):
    frame = _frame(split.feature_weeks_needed(HOLDOUT))
    frame.loc[[3, 7], column] = np.nan
    frame.loc[11, column] = np.inf
    with pytest.raises(DataError) as err:
        check_training_frame(frame, FEATURES, HOLDOUT, history_weeks=8)
    assert err.value.exit_code == 3
    assert err.value.message == (f"training set: {column} has 3 non-finite values of "
                                 f"{len(frame):,} rows")


def test_columns_the_model_does_not_read_may_be_missing():
    frame = _frame(split.feature_weeks_needed(HOLDOUT)).assign(sales_lag_52=np.nan)
    check_training_frame(frame, FEATURES, HOLDOUT, history_weeks=8)


def test_every_bad_column_is_named():
    frame = _frame(split.feature_weeks_needed(HOLDOUT))
    frame.loc[0, "sales_lag_1"] = np.nan
    frame.loc[[0, 1], "temperature"] = np.nan
    with pytest.raises(DataError) as err:
        check_training_frame(frame, FEATURES, HOLDOUT, history_weeks=8)
    assert err.value.message == (f"training set: sales_lag_1 has 1 non-finite values of "
                                 f"{len(frame)} rows (and temperature: 2)")


def test_too_few_weeks_is_bad_data_naming_how_many_are_needed():
    needed = split.feature_weeks_needed(HOLDOUT)
    with pytest.raises(DataError) as err:
        check_training_frame(_frame(needed - 1), FEATURES, HOLDOUT, history_weeks=8)
    assert err.value.exit_code == 3
    assert f"{needed - 1} weeks" in err.value.message and f"needs {needed}" in err.value.message
    # the hint is in weeks of data (--weeks), which include the history before the first row
    assert f"{split.data_weeks_needed(8, HOLDOUT)}" in err.value.hint


def test_an_empty_training_set_is_bad_data():
    with pytest.raises(DataError, match="no training rows") as err:
        check_training_frame(_frame(0), FEATURES, HOLDOUT, history_weeks=56)
    assert "training.history_weeks" in err.value.message


def _keys_the_plain_way(keys: pd.DataFrame, history_weeks: int) -> pd.DataFrame:
    """What `ordered_keys` replaced: pandas' groupby for each series' first week, then a
    three-column sort."""
    from salesops.features.schema import MIN_HISTORY_WEEKS

    first = keys.groupby(["store", "dept"])["event_timestamp"].transform("min")
    history = (keys["event_timestamp"] - first) // pd.Timedelta(weeks=1) + MIN_HISTORY_WEEKS
    kept = keys[history >= history_weeks]
    return kept.sort_values(["event_timestamp", "store", "dept"], kind="stable",
                            ignore_index=True)


@pytest.mark.parametrize("shuffled", [False, True], ids=["file-order", "shuffled"])
@pytest.mark.parametrize("history_weeks", [8, 11, 56])
@pytest.mark.parametrize("wide_ids", [False, True], ids=["small-ids", "wide-ids"])
@pytest.mark.parametrize("unit", ["us", "ns"])
def test_ordered_keys_keep_and_order_what_pandas_would(shuffled, history_weeks, wide_ids,
                                                      unit):
    """Series that start late, end early and skip weeks; ids of a small span (coded by
    offset) and of a wide one (ranked); keys in the file's order or in none."""
    from salesops.training.dataset import ordered_keys

    rng = np.random.default_rng(history_weeks)
    stamps = pd.date_range("2023-01-06", periods=104, freq="7D", tz="UTC").as_unit("us")
    rows = []
    for store in (3, 1, 2, 40):
        for dept in (7, 1, 99):
            weeks = np.arange(rng.integers(0, 20), 104 - rng.integers(0, 10))
            weeks = weeks[rng.random(len(weeks)) > 0.1]  # gaps
            rows += [(store * (10**9 if wide_ids else 1), dept, stamps[w]) for w in weeks]
    keys = pd.DataFrame(rows, columns=["store", "dept", "event_timestamp"])
    # parquet's timestamps read as microseconds; pandas' own are nanoseconds
    keys["event_timestamp"] = keys["event_timestamp"].astype(f"datetime64[{unit}, UTC]")
    if shuffled:
        keys = keys.sample(frac=1, random_state=1).reset_index(drop=True)
    want = _keys_the_plain_way(keys, history_weeks)
    got = ordered_keys(keys, history_weeks)
    assert len(want) > 100
    pd.testing.assert_frame_equal(got, want)


def test_ordered_keys_of_ids_spread_wide_take_memory_by_series_not_by_id_range():
    """Five-digit store numbers and four-digit departments: a table by id range would be
    9e8 entries (7 GB) for two series."""
    import tracemalloc

    from salesops.training.dataset import ordered_keys

    keys = pd.DataFrame({"store": [10_001, 99_999] * 20, "dept": [1_000, 9_999] * 20,
                         "event_timestamp": np.repeat(pd.date_range(
                             "2024-01-05", periods=20, freq="7D", tz="UTC"), 2)})
    tracemalloc.start()
    try:
        kept = ordered_keys(keys, 8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(kept) == 2 * 20 and peak < 10e6, peak
