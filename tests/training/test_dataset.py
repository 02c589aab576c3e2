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
