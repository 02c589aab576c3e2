"""The Walmart holiday calendar: flagged weeks, names and distances, for any date range."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesops.data.calendar import HOLIDAYS, holiday_calendar, holiday_dates

# Flagged weeks of the Kaggle Walmart data (train.csv / features.csv, IsHoliday == TRUE).
WALMART_WEEKS = {
    "2010-02-12": "super_bowl", "2010-09-10": "labor_day", "2010-11-26": "thanksgiving",
    "2010-12-31": "christmas", "2011-02-11": "super_bowl", "2011-09-09": "labor_day",
    "2011-11-25": "thanksgiving", "2011-12-30": "christmas", "2012-02-10": "super_bowl",
    "2012-09-07": "labor_day", "2012-11-23": "thanksgiving", "2012-12-28": "christmas",
    "2013-02-08": "super_bowl",
}


def fridays(start: str, end: str) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq="W-FRI", tz="UTC")


def test_reproduces_walmart_holiday_weeks() -> None:
    weeks = fridays("2010-02-05", "2013-07-26")  # the span of the Kaggle features.csv
    calendar = holiday_calendar(weeks)
    flagged = calendar.loc[calendar["is_holiday"], ["date", "holiday"]]
    got = dict(zip(flagged["date"].dt.strftime("%Y-%m-%d"), flagged["holiday"]))
    assert got == WALMART_WEEKS
    assert (calendar.loc[~calendar["is_holiday"], "holiday"] == "").all()


def test_columns_dtypes_and_input_alignment() -> None:
    dates = pd.Series(pd.to_datetime(["2011-11-25", "2010-02-05", "2012-09-07"]), index=[7, 3, 5])
    calendar = holiday_calendar(dates)
    assert list(calendar.index) == [7, 3, 5]
    assert list(calendar.columns) == [
        "date", "is_holiday", "holiday", "weeks_to_holiday", "weeks_since_holiday"
    ]
    assert str(calendar["date"].dtype) == "datetime64[us, UTC]"
    assert calendar["is_holiday"].dtype == bool
    assert calendar["weeks_to_holiday"].dtype == np.int16
    assert calendar["weeks_since_holiday"].dtype == np.int16
    assert calendar["holiday"].tolist() == ["thanksgiving", "", "labor_day"]
    # 2010-02-05: Super Bowl week is next week; Christmas 2009 (week of 2009-12-25) was 6 ago.
    assert calendar.loc[3, "weeks_to_holiday"] == 1
    assert calendar.loc[3, "weeks_since_holiday"] == 6
    assert holiday_calendar(pd.DatetimeIndex([])).empty


def test_distances_match_brute_force_over_a_long_range() -> None:
    weeks = fridays("1998-01-02", "2041-12-20")  # ends a week before Christmas week
    calendar = holiday_calendar(weeks)
    flags = calendar["is_holiday"].to_numpy()
    # Four holiday weeks in every full year, never two in the same week.
    per_year = calendar.groupby(calendar["date"].dt.year)["is_holiday"].sum()
    assert (per_year.loc[:2040] == 4).all()
    positions = np.flatnonzero(flags)
    index = np.arange(len(weeks))
    nxt = np.searchsorted(positions, index, side="left")
    prv = np.searchsorted(positions, index, side="right") - 1
    inside = (nxt < len(positions)) & (prv >= 0)
    expected_to = np.minimum(positions[np.minimum(nxt, len(positions) - 1)] - index, 52)
    expected_since = np.minimum(index - positions[np.maximum(prv, 0)], 52)
    assert (calendar["weeks_to_holiday"].to_numpy()[inside] == expected_to[inside]).all()
    assert (calendar["weeks_since_holiday"].to_numpy()[inside] == expected_since[inside]).all()
    # At either end of the range, holidays outside it still count (years spanned ±1).
    assert calendar["weeks_to_holiday"].iloc[-1] == 1
    assert calendar["weeks_since_holiday"].iloc[0] == 1  # Christmas 1997: week of 1997-12-26


@pytest.mark.parametrize(
    ("friday", "holiday"),
    [("2021-02-12", "super_bowl"),  # 2021-02-07: first Sunday
     ("2022-02-18", "super_bowl"),  # 2022-02-13: second Sunday from 2022 on
     ("2025-02-14", "super_bowl"),  # 2025-02-09
     ("2024-09-06", "labor_day"), ("2024-11-29", "thanksgiving"), ("2024-12-27", "christmas")],
)
def test_rules_beyond_the_walmart_years(friday: str, holiday: str) -> None:
    calendar = holiday_calendar(pd.DatetimeIndex([pd.Timestamp(friday) - pd.Timedelta(weeks=1),
                                                  pd.Timestamp(friday)]))
    assert calendar["holiday"].tolist() == ["", holiday]
    assert calendar["weeks_to_holiday"].tolist() == [1, 0]


def test_weeks_not_ending_on_friday_use_the_seven_days_they_end() -> None:
    # Thanksgiving 2010 is Thursday 2010-11-25: the week ending that Thursday contains it,
    # the week ending Wednesday the 24th does not.
    calendar = holiday_calendar(pd.DatetimeIndex(["2010-11-24", "2010-11-25", "2010-12-01"]))
    assert calendar["is_holiday"].tolist() == [False, True, True]
    assert calendar["weeks_to_holiday"].tolist()[0] == 1


def test_holiday_dates_are_the_days_themselves() -> None:
    table = holiday_dates(2010, 2010)
    assert table["holiday"].tolist() == list(HOLIDAYS)
    assert table["date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2010-02-07", "2010-09-06", "2010-11-25", "2010-12-25"
    ]


def test_holiday_offsets_name_the_holiday_and_the_side():
    from salesops.data.calendar import MAX_OFFSET_WEEKS, holiday_offsets

    weeks = pd.to_datetime(["2010-11-19", "2010-11-26", "2010-12-03", "2010-12-31",
                            "2011-06-03"]).tz_localize("UTC")
    offsets = holiday_offsets(weeks)
    assert offsets["thanksgiving_week_offset"].tolist()[:3] == [-1, 0, 1]
    assert offsets["christmas_week_offset"].tolist()[3] == 0
    assert offsets["thanksgiving_week_offset"].tolist()[3] == 5
    # far from every holiday: clipped on the nearer side
    assert (offsets.iloc[4].abs() == MAX_OFFSET_WEEKS).all()
    assert list(offsets.columns) == [f"{h}_week_offset" for h in
                                     ("super_bowl", "labor_day", "thanksgiving", "christmas")]
