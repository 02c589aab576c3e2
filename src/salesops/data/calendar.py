"""Walmart holiday weeks and the distance of any week to them.

The Kaggle "Walmart Recruiting - Store Sales Forecasting" data labels each week by the
Friday that ends it (the week covers Saturday..Friday) and flags four holiday weeks a year:
the week that *contains* the holiday day itself. The rules below reproduce the flagged
weeks of that data set (2010-02-12, 2010-09-10, 2010-11-26, 2010-12-31, 2011-02-11, ...)
and extend them to any year:

* Super Bowl: first Sunday of February up to 2021, second Sunday from 2022 (the NFL moved
  to a 17-game season in 2021, which pushed the game back a week);
* Labor Day: first Monday of September;
* Thanksgiving: fourth Thursday of November;
* Christmas: December 25.

A week labelled by day ``d`` covers ``[d - 6 days, d]``, so the rules also hold for weeks
that do not end on a Friday. Everything is vectorised with ``np.searchsorted`` over the
holiday days of the years spanned ±1, so any date range works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported in the functions that build frames: the feature schema takes the
# holiday names from here, and `predict --input` reads that schema before pandas loads

#: the four holiday weeks, in calendar order; the feature schema's offset columns follow it
HOLIDAYS = ("super_bowl", "labor_day", "thanksgiving", "christmas")
#: distances are capped so that the columns stay small ints and the far tail (which carries
#: no signal: every week is at most ~6 months from some holiday anyway) stays bounded.
MAX_WEEKS = 52
#: holiday offsets are clipped to this many weeks either side: a holiday further away than
#: two months has no effect of its own on a week's demand
MAX_OFFSET_WEEKS = 8
#: the first year the Super Bowl moved to the second Sunday of February.
SUPER_BOWL_LATE_FROM = 2022

_MONDAY, _THURSDAY, _SUNDAY = 0, 3, 6


def _weekday(days: np.ndarray) -> np.ndarray:
    """Weekday of days since the epoch, Monday = 0 (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def _first_weekday(years: np.ndarray, month: int, weekday: int) -> np.ndarray:
    """Days since the epoch of the first ``weekday`` of ``month`` in each year."""
    months = (years - 1970) * 12 + (month - 1)
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype("int64")
    return first + (weekday - _weekday(first)) % 7


def holiday_dates(first_year: int, last_year: int) -> pd.DataFrame:
    """The holidays of ``first_year..last_year``, sorted by date.

    Columns: ``holiday`` (one of :data:`HOLIDAYS`), ``date`` (the day itself) and ``week``
    (the Friday that ends the Walmart week containing it), both ``datetime64[us, UTC]``.
    """
    import pandas as pd

    years = np.arange(first_year, last_year + 1, dtype="int64")
    super_bowl = _first_weekday(years, 2, _SUNDAY) + np.where(
        years >= SUPER_BOWL_LATE_FROM, 7, 0
    )
    labor_day = _first_weekday(years, 9, _MONDAY)
    thanksgiving = _first_weekday(years, 11, _THURSDAY) + 21
    christmas = ((years - 1970) * 12 + 11).astype("datetime64[M]").astype(
        "datetime64[D]"
    ).astype("int64") + 24
    days = np.concatenate([super_bowl, labor_day, thanksgiving, christmas])
    names = np.repeat(np.array(HOLIDAYS, dtype=object), len(years))
    order = np.argsort(days, kind="stable")
    days = days[order]
    friday = days + (4 - _weekday(days)) % 7
    return pd.DataFrame({"holiday": names[order], "date": _utc(days), "week": _utc(friday)})


def holiday_calendar(weeks: pd.DatetimeIndex | pd.Series) -> pd.DataFrame:
    """Holiday flag, name and distances for each week-ending date in ``weeks``.

    The result's index is the input's (a Series keeps its index, anything else gets a
    ``RangeIndex``), in the input order, so it can be assigned column by column. Columns:

    * ``date``: the input as ``datetime64[us, UTC]`` (naive input is taken as UTC);
    * ``is_holiday``: the week ``[date - 6 days, date]`` contains a holiday;
    * ``holiday``: its name from :data:`HOLIDAYS`, ``""`` when none;
    * ``weeks_to_holiday``: 0 on a holiday week, else the number of weeks until the next
      holiday week, capped at 52 (``int16``);
    * ``weeks_since_holiday``: 0 on a holiday week, else the number of weeks since the
      previous holiday week, capped at 52 (``int16``).
    """
    import pandas as pd

    index = weeks.index if isinstance(weeks, pd.Series) else pd.RangeIndex(len(weeks))
    dates = pd.DatetimeIndex(weeks)
    dates = dates.tz_localize("UTC") if dates.tz is None else dates.tz_convert("UTC")
    if dates.hasnans:
        raise ValueError("holiday_calendar: weeks contain missing dates (NaT)")
    dates = dates.as_unit("us")
    if len(dates) == 0:
        return pd.DataFrame(
            {
                "date": pd.Series([], dtype="datetime64[us, UTC]"),
                "is_holiday": pd.Series([], dtype="bool"),
                "holiday": pd.Series([], dtype="object"),
                "weeks_to_holiday": pd.Series([], dtype="int16"),
                "weeks_since_holiday": pd.Series([], dtype="int16"),
            },
            index=index,
        )
    # Whole UTC days since the epoch; a time of day does not move a date to another week.
    days = dates.tz_localize(None).to_numpy().astype("datetime64[D]").astype("int64")
    # ±1 year guarantees a holiday before the first and after the last date: no holiday is
    # ever more than ~5 months from the next one.
    years = dates.year
    table = holiday_dates(int(years.min()) - 1, int(years.max()) + 1)
    holiday_days = table["date"].dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    holiday_days = holiday_days.astype("int64")
    names = table["holiday"].to_numpy()

    after = np.searchsorted(holiday_days, days, side="right")  # first holiday > day
    since_days = days - holiday_days[after - 1]  # latest holiday <= day
    is_holiday = since_days <= 6
    # Week k after a week ending on d ends on d + 7k; it contains holiday h > d for
    # k = ceil((h - d) / 7), and the week k before contains h < d - 6 for k = floor((d - h) / 7).
    weeks_to = np.where(is_holiday, 0, (holiday_days[after] - days + 6) // 7)
    weeks_since = np.where(is_holiday, 0, since_days // 7)
    return pd.DataFrame(
        {
            "date": dates,
            "is_holiday": is_holiday,
            "holiday": np.where(is_holiday, names[after - 1], ""),
            "weeks_to_holiday": np.minimum(weeks_to, MAX_WEEKS).astype("int16"),
            "weeks_since_holiday": np.minimum(weeks_since, MAX_WEEKS).astype("int16"),
        },
    ).set_axis(index)


def holiday_offsets(weeks: pd.DatetimeIndex | pd.Series) -> pd.DataFrame:
    """Signed weeks from the nearest week of each holiday, one column per holiday.

    0 on the week that contains the holiday, -2 two weeks before it, 1 the week after;
    clipped to ±MAX_OFFSET_WEEKS. Unlike `weeks_to_holiday`, it says *which* holiday is near:
    Thanksgiving and the Super Bowl move different departments. Columns are named
    ``<holiday>_week_offset`` (``int64``); the index is the input's, as in `holiday_calendar`.
    """
    import pandas as pd

    index = weeks.index if isinstance(weeks, pd.Series) else pd.RangeIndex(len(weeks))
    dates = pd.DatetimeIndex(weeks)
    dates = dates.tz_localize("UTC") if dates.tz is None else dates.tz_convert("UTC")
    if dates.hasnans:
        raise ValueError("holiday_offsets: weeks contain missing dates (NaT)")
    days = dates.tz_localize(None).to_numpy().astype("datetime64[D]").astype("int64")
    years = dates.year if len(dates) else pd.Index([1970])
    table = holiday_dates(int(years.min()) - 1, int(years.max()) + 1)
    holiday_days = table["date"].dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    columns = {}
    for name in HOLIDAYS:
        own = np.sort(holiday_days[table["holiday"].to_numpy() == name].astype("int64"))
        after = np.clip(np.searchsorted(own, days), 1, len(own) - 1)
        # The week labelled d covers [d - 6, d]: it lies k weeks after the week holding
        # holiday h for k = floor((d - h) / 7), negative before it.
        offsets = np.stack([(days - own[after - 1]) // 7, (days - own[after]) // 7])
        nearest = np.take_along_axis(offsets, np.abs(offsets).argmin(axis=0)[None], 0)[0]
        columns[f"{name}_week_offset"] = np.clip(nearest, -MAX_OFFSET_WEEKS, MAX_OFFSET_WEEKS)
    return pd.DataFrame(columns, index=index, dtype="int64")


def _utc(days: np.ndarray) -> pd.DatetimeIndex:
    """Days since the epoch as UTC midnights, microsecond unit."""
    import pandas as pd

    values = days.astype("datetime64[D]").astype("datetime64[us]")
    return pd.DatetimeIndex(values).tz_localize("UTC")
