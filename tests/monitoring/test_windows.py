"""Window selection for `drift`: which weeks are reference and current, season matching, and
each series' level; on small frames, without a workspace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesops.errors import DataError, PreconditionError, UsageError
from salesops.monitoring.windows import (
    Champion,
    Windows,
    _select,
    level_of,
    match_season,
    parse_date,
    select_weeks,
)

#: two years of Friday weeks, 2022-01-07 … 2023-12-29
WEEKS = pd.date_range("2022-01-07", periods=104, freq="7D", tz="UTC")


def champion(holdout_start: str) -> Champion:
    return Champion("m", "1", "run", ["sales_lag_1"], pd.Timestamp(holdout_start, tz="UTC"),
                    10.0)


def test_by_default_the_reference_is_before_the_holdout_and_current_the_newest_weeks():
    ref, cur, notes = select_weeks(WEEKS, champion("2023-07-01"), (None, None), (None, None), 8)
    assert ref[-1] < pd.Timestamp("2023-07-01", tz="UTC") <= WEEKS[len(ref)]
    assert list(cur) == list(WEEKS[-8:]) and notes == []


def test_without_a_champion_there_is_no_default_reference():
    with pytest.raises(PreconditionError, match="no champion model"):
        select_weeks(WEEKS, None, (None, None), (None, None), 8)
    ref, _, _ = select_weeks(WEEKS, None, (None, "2022-12-31"), (None, None), 8)
    assert ref[0] == WEEKS[0] and ref[-1] == pd.Timestamp("2022-12-30", tz="UTC")


def test_given_ranges_are_inclusive_and_an_open_end_reaches_the_store_s_end():
    ref, cur, _ = select_weeks(WEEKS, None, ("2022-01-07", "2022-01-21"), ("2023-12-01", None),
                               8)
    assert [w.day for w in ref] == [7, 14, 21]
    assert [w.day for w in cur] == [1, 8, 15, 22, 29]


def test_an_end_date_includes_that_whole_day():
    timestamps = pd.DatetimeIndex([pd.Timestamp("2022-01-07 18:00", tz="UTC")])
    assert len(_select(timestamps, (None, "2022-01-07"), "--current")) == 1


def test_overlapping_windows_are_noted():
    _, _, notes = select_weeks(WEEKS, None, (None, "2023-12-15"),
                               (None, None), 4)
    assert notes == ["the windows share 2 weeks; drift there cannot show"]


def test_an_empty_window_names_the_store_s_weeks():
    with pytest.raises(DataError, match=r"the current window holds no feature weeks "
                       r"\(the store has 2022-01-07 … 2023-12-29\)"):
        select_weeks(WEEKS, None, (None, "2022-06-01"), ("2030-01-01", None), 8)


def test_reversed_bounds_are_a_usage_error():
    with pytest.raises(UsageError, match="--reference-from 2023-01-01 is after "
                       "--reference-to 2022-01-01"):
        select_weeks(WEEKS, None, ("2023-01-01", "2022-01-01"), (None, None), 8)


def test_the_reference_is_narrowed_to_the_current_season_when_it_has_the_rows():
    ref, cur = WEEKS[:-8], WEEKS[-8:]  # the current window: November and December 2023
    rows = pd.Series(np.repeat(WEEKS, 10))  # ten feature rows a week
    compared, season, note = match_season(ref, cur, rows, min_rows=50)
    assert note is None and season == sorted(set(cur.isocalendar().week.astype(int)))
    # the same weeks of the year in 2022 (± 1 week), and the turn of the year in 2023
    assert set(compared.month) <= {1, 10, 11, 12} and len(compared) < len(ref)
    assert pd.Timestamp("2022-12-02", tz="UTC") in compared


def test_too_few_rows_in_season_compare_the_whole_reference_with_a_note():
    ref, cur = WEEKS[:-8], WEEKS[-8:]
    compared, season, note = match_season(ref, cur, pd.Series(WEEKS), min_rows=50)
    assert list(compared) == list(ref) and season is None
    assert note.startswith("the reference does not cover the current weeks of the year")


def test_a_reference_all_in_season_needs_no_narrowing_and_no_note():
    cur = WEEKS[-8:]
    compared, season, note = match_season(cur, cur, pd.Series(WEEKS), min_rows=1)
    assert list(compared) == list(cur) and season is None and note is None


def test_a_row_s_level_is_its_series_reference_level_nan_for_an_unknown_series():
    levels = pd.Series([100.0, 5.0], index=pd.MultiIndex.from_tuples(
        [(1, 1), (1, 2)], names=["store", "dept"]))
    windows = Windows(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), levels, pd.Series(),
                      ("a", "b"), ("c", "d"), None)
    frame = pd.DataFrame({"store": [1, 1, 2], "dept": [2, 1, 1]})
    np.testing.assert_array_equal(level_of(frame, windows), [5.0, 100.0, np.nan])


def test_dates_are_iso_or_a_usage_error():
    assert parse_date(None, "--current-from") is None
    assert str(parse_date("2024-06-07", "--current-from")) == "2024-06-07"
    with pytest.raises(UsageError, match="--current-from '7/6/24': expected an ISO date"):
        parse_date("7/6/24", "--current-from")
