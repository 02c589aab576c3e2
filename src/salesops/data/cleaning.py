"""From `RawData` to the `SalesDataset` contract, one documented policy per quirk.

Every decision below is a `data.*` setting or a rule stated here, and every one is counted
in the `DataReport` that comes back with the data:

* **Returns** (negative weeks), `data.negative_sales`: ``keep`` (default) keeps them in the
  history that features read and in the actuals that metrics score, because a return is a
  real movement of money and the next weeks' sales are net of it; the model, which forecasts
  demand on a log scale, learns from the week floored at 0. ``clip`` sets them to 0,
  ``drop`` removes the row, which then counts as a missing week.
* **Missing weeks** inside a series, `data.missing_weeks`: ``zero`` (default) adds them with
  0 sales, since the Walmart files leave out weeks without sales; ``skip`` leaves them
  unknown (NaN): no training or holdout row, and later weeks' features read the last
  recorded week in their place.
* **Series ends**, `data.ended_after_weeks` (N): a series with a row in the data's last N
  weeks continues to the last week (its missing final weeks are missing weeks, as above) and
  is forecast; one without has ended: its history is trained on, it is never forecast.
  Series that start late keep their own first week; nothing is invented before it.
* **Markdowns**, `data.missing_markdown`: a store-week with all five markdowns missing
  before the store's first recorded markdown was not recorded; ``unknown`` (default) marks
  it ``markdown_known = False`` (its amounts read 0 but are not a fact), ``zero`` reads it
  as no markdown. A missing markdown type in a week that has others, or after recording
  began, is no markdown of that type (0).
* **Covariates** (temperature, fuel price, CPI, unemployment) missing for a store-week take
  the store's last earlier reading, else its next one; a store with none takes the median
  of all stores. A sales week with no features row at all is such a store-week with every
  value missing. The week to forecast takes the store's last row when the file lacks it.
  Negative markdowns (corrections) are kept as recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from salesops.data.calendar import holiday_calendar
from salesops.data.dataset import MARKDOWNS, SalesDataset, conform, series_bounds
from salesops.data.raw import RawData
from salesops.data.report import DataReport, Quirk, series_label
from salesops.errors import DataError

if TYPE_CHECKING:
    from salesops.config import DataSection

WEEK = pd.Timedelta(weeks=1)
#: the `data.*` settings that decide what happens to real data's quirks
POLICY_KEYS = ("missing_weeks", "negative_sales", "missing_markdown", "ended_after_weeks")
#: covariates read every week, filled from the store's nearest earlier (else later) reading
READINGS = ("temperature", "fuel_price", "cpi", "unemployment")
EXAMPLES = 3


def clean(raw: RawData, policy: DataSection) -> tuple[SalesDataset, DataReport]:
    sales = raw.sales
    if sales.empty:
        raise DataError("no sales rows to build from")
    first, last = sales["date"].min(), sales["date"].max()
    report = DataReport(
        rows_read=len(sales), rows=0, series=0, stores=0, depts=0, weeks=0,
        first_week=_day(first), last_week=_day(last), next_week=_day(last + WEEK),
        policies=policies_of(policy),
    )
    sales = _returns(sales, policy, report)
    grid = _series_grid(sales, first, last, policy, report)
    features, known_markdown = _features(raw.features, sales, first, last, policy, report)
    grid = _holiday_flags(grid, features, first)
    stores = raw.stores[raw.stores["store"].isin(grid["store"].unique())]
    _count(report, "stores_without_sales", len(raw.stores) - len(stores), "stores",
           "left out (no sales to forecast)", examples=[
               f"store {s}" for s in raw.stores.loc[~raw.stores["store"].isin(stores["store"]),
                                                    "store"].head(EXAMPLES)])
    for name, ending in sorted(raw.line_endings.items()):
        _count(report, "line_endings", 1, "files", f"{name} ends its lines with {ending}; read "
               "as line breaks")
    dataset = conform(grid, features.assign(markdown_known=known_markdown), stores)
    summary = dataset.summary()
    report.rows, report.weeks = summary["rows"], summary["weeks"]
    report.stores, report.depts = summary["stores"], summary["depts"]
    return dataset, report


def policies_of(policy: DataSection) -> dict[str, object]:
    return {key: getattr(policy, key) for key in POLICY_KEYS}


def _returns(sales: pd.DataFrame, policy: DataSection, report: DataReport) -> pd.DataFrame:
    values = sales["weekly_sales"].to_numpy()
    negative = values < 0
    action = {"keep": "kept in history and actuals (returns are real); trained on as 0",
              "clip": "set to 0", "drop": "removed: each is then a missing week"}
    _count(report, "negative_weeks", int(negative.sum()), "rows", action[policy.negative_sales],
           policy=f"data.negative_sales = {policy.negative_sales}",
           examples=_row_examples(sales, negative))
    zero = values == 0
    _count(report, "zero_weeks", int(zero.sum()), "rows", "kept: an observation",
           examples=_row_examples(sales, zero))
    best = sales.groupby(["store", "dept"], sort=False)["weekly_sales"].max()
    none = best[best <= 0]
    gone = {"keep": "kept: trained on as weeks of 0 sales", "clip": "kept: weeks of 0 sales",
            "drop": "the ones with only returns lose every row: not in the build"}
    _count(report, "series_without_sales", len(none), "series",
           f"no week above 0; {gone[policy.negative_sales]}",
           policy=f"data.negative_sales = {policy.negative_sales}",
           examples=[series_label(store, dept) for store, dept in none.index[:EXAMPLES]])
    if not negative.any() or policy.negative_sales == "keep":
        return sales
    if policy.negative_sales == "clip":
        return sales.assign(weekly_sales=np.where(negative, 0.0, values))
    kept = sales[~negative].reset_index(drop=True)
    if kept.empty:
        raise DataError("every sales row is negative and data.negative_sales = \"drop\" "
                        "removes them all")
    return kept


def _series_grid(sales: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp,
                 policy: DataSection, report: DataReport) -> pd.DataFrame:
    """Each series as a complete weekly run from its first week to its end.

    Rows are sorted by series and week, so each series is a contiguous block: the grid is
    built with repeat/cumsum arithmetic and the recorded rows are scattered into it.
    """
    week = ((sales["date"] - first) // WEEK).to_numpy(dtype="int64")
    store, dept = sales["store"].to_numpy(), sales["dept"].to_numpy()
    starts, ends = series_bounds(store, dept)
    report.series = len(starts)
    last_week = int((last - first) // WEEK)
    start_w, last_w = week[starts], week[ends]
    current = last_w > last_week - policy.ended_after_weeks
    end_w = np.where(current, last_week, last_w)
    length = end_w - start_w + 1
    recorded = ends - starts + 1
    inside = (last_w - start_w + 1) - recorded
    tail = end_w - last_w
    names = _Labels(store[starts], dept[starts])

    fill = {"zero": "added with 0 sales",
            "skip": "left unknown: not trained or scored on; features carry the last "
                    "recorded week"}[policy.missing_weeks]
    missing_policy = f"data.missing_weeks = {policy.missing_weeks}"
    _count(report, "missing_weeks", int(inside.sum()), "weeks", f"{fill}; in "
           f"{int((inside > 0).sum())} series", policy=missing_policy,
           examples=_pick(names, inside > 0))
    quiet = current & (tail > 0)
    _count(report, "missing_final_weeks", int(tail.sum()), "weeks",
           f"{int(quiet.sum())} series with a row in the last {policy.ended_after_weeks} "
           f"weeks continue; their final weeks are missing weeks ({missing_policy})",
           policy=f"data.ended_after_weeks = {policy.ended_after_weeks}",
           examples=_pick(names, quiet))
    late = start_w > 0
    _count(report, "late_start_series", int(late.sum()), "series",
           "history starts at their first row (nothing invented before it)",
           examples=_pick(names, late, start_w, first))
    _count(report, "ended_series", int((~current).sum()), "series",
           f"no row in the last {policy.ended_after_weeks} weeks: trained on, not forecast "
           "(the server refuses them)",
           policy=f"data.ended_after_weeks = {policy.ended_after_weeks}",
           examples=_pick(names, ~current, last_w, first))

    total = int(length.sum())
    if total == len(sales):
        return sales.reset_index(drop=True)  # complete runs: nothing to add, no copy
    offset = np.cumsum(length) - length  # where each series' block starts in the grid
    recorded_series = np.repeat(np.arange(len(starts)), recorded)  # of each recorded row
    grid_series = np.repeat(np.arange(len(starts)), length)
    grid_week = start_w[grid_series] + np.arange(total) - offset[grid_series]
    position = offset[recorded_series] + week - start_w[recorded_series]
    weekly_sales = np.full(total, 0.0 if policy.missing_weeks == "zero" else np.nan)
    weekly_sales[position] = sales["weekly_sales"].to_numpy()
    # added weeks take their holiday flag from the features (NaN marks them)
    is_holiday = np.full(total, np.nan)
    is_holiday[position] = sales["is_holiday"].to_numpy()
    return pd.DataFrame(
        {"store": store[starts][grid_series], "dept": dept[starts][grid_series],
         "date": first + pd.to_timedelta(grid_week * 7, unit="D"),
         "weekly_sales": weekly_sales, "is_holiday": is_holiday}
    )


def _features(features: pd.DataFrame, sales: pd.DataFrame, first: pd.Timestamp,
              last: pd.Timestamp, policy: DataSection, report: DataReport,
              ) -> tuple[pd.DataFrame, np.ndarray]:
    """Covariates of every sales store for every week from the first to the one to forecast,
    with no missing value left, and whether each store-week's markdowns are known."""
    next_week = last + WEEK
    features = features.sort_values(["store", "date"], kind="stable", ignore_index=True)
    own = features["store"].isin(sales["store"].unique())
    on_grid = (features["date"] - first) % WEEK == pd.Timedelta(0)
    in_range = own & on_grid & features["date"].between(first, next_week)
    _count(report, "feature_rows_ignored", int((~in_range).sum()), "rows",
           "other stores, or weeks outside the sales and the week to forecast: not used")
    features = features[own].reset_index(drop=True)
    in_range = in_range[own].to_numpy()
    features, in_range = _missing_rows(features, in_range, sales, first, last, report)

    known = _markdowns(features, in_range, policy, report)
    for column in READINGS:
        gaps = features[column].isna().to_numpy() & in_range
        _count(report, "covariate_gaps", int(gaps.sum()), "store-weeks",
               f"{column}: the store's last earlier reading (else its next)",
               examples=_weeks_of(features, gaps))
        if features[column].isna().all():
            raise DataError(f"features: column {column} has no values at all")
    filled = features.groupby("store", sort=False)[list(READINGS)].ffill()
    features[list(READINGS)] = filled.groupby(features["store"], sort=False).bfill()
    for column in READINGS:
        features[column] = features[column].fillna(features[column].median())
    features = features[in_range].reset_index(drop=True)
    known = known[in_range]
    return _add_next_week(features, known, next_week, report)


def _missing_rows(features: pd.DataFrame, in_range: np.ndarray, sales: pd.DataFrame,
                  first: pd.Timestamp, last: pd.Timestamp, report: DataReport,
                  ) -> tuple[pd.DataFrame, np.ndarray]:
    """Add the store-weeks of the sales weeks that features.csv has no row for, all values
    missing: the gap rules below then fill them like any other missing value."""
    weeks = pd.date_range(first, last, freq="7D")
    wanted = pd.MultiIndex.from_product([np.sort(sales["store"].unique()), weeks],
                                        names=["store", "date"])
    have = pd.MultiIndex.from_frame(features.loc[in_range, ["store", "date"]])
    missing = wanted.difference(have)
    _count(report, "feature_rows_missing", len(missing), "store-weeks",
           "no features.csv row for a sales week: readings carried from the store's last "
           "earlier week, markdowns by data.missing_markdown, the holiday flag from the "
           "calendar", examples=[f"store {store} week {_day(date)}"
                                 for store, date in missing[:EXAMPLES]])
    if missing.empty:
        return features, in_range
    added = missing.to_frame(index=False)
    added["is_holiday"] = holiday_calendar(pd.DatetimeIndex(added["date"]))[
        "is_holiday"].to_numpy(dtype=bool)
    frame = pd.concat([features, added], ignore_index=True)
    mask = np.concatenate([in_range, np.ones(len(added), dtype=bool)])
    order = np.lexsort((frame["date"].array.asi8, frame["store"].to_numpy()))
    return frame.iloc[order].reset_index(drop=True), mask[order]


def _markdowns(features: pd.DataFrame, in_range: np.ndarray, policy: DataSection,
               report: DataReport) -> np.ndarray:
    """Fill markdown gaps with 0 in place; return whether each row's markdowns are known."""
    values = features[list(MARKDOWNS)]
    none = values.isna().all(axis=1).to_numpy()
    recorded_dates = features["date"].where(~none)
    first_recorded = recorded_dates.groupby(features["store"], sort=False).transform("min")
    before = (features["date"] < first_recorded).to_numpy() | first_recorded.isna().to_numpy()
    unrecorded = none & before
    unknown = policy.missing_markdown == "unknown"
    _count(report, "markdown_not_recorded", int((unrecorded & in_range).sum()), "store-weeks",
           "markdown_known = 0 (amounts read 0, not a fact)" if unknown
           else "read as weeks without markdowns", policy=f"data.missing_markdown = "
           f"{policy.missing_markdown}", examples=_weeks_of(features, unrecorded & in_range))
    negative = (values < 0).to_numpy() & in_range[:, None]
    _count(report, "negative_markdowns", int(negative.sum()), "values", "kept as recorded "
           "(corrections); has_markdown needs a positive total, and the model reads a "
           "negative total as 0", examples=_weeks_of(features, negative.any(axis=1)))
    gaps = values.isna().to_numpy() & ~unrecorded[:, None] & in_range[:, None]
    _count(report, "markdown_gaps", int(gaps.sum()), "values", "0: no markdown of that type "
           "(the store's markdowns are recorded then)")
    features[list(MARKDOWNS)] = values.fillna(0.0)
    return ~unrecorded if unknown else np.ones(len(features), dtype=bool)


def _add_next_week(features: pd.DataFrame, known: np.ndarray, next_week: pd.Timestamp,
                   report: DataReport) -> tuple[pd.DataFrame, np.ndarray]:
    """Carry each store's last row forward to the week to forecast where it is absent."""
    has_next = features.loc[features["date"] == next_week, "store"].unique()
    lacking = ~features["store"].isin(has_next).to_numpy()
    last = features[lacking].groupby("store", sort=False).tail(1)
    _count(report, "next_week_covariates_carried", len(last), "stores",
           f"none for the week to forecast ({_day(next_week)}): the store's last row carried, "
           "the holiday flag from the calendar",
           examples=[f"store {s}" for s in last["store"].head(EXAMPLES)])
    if last.empty:
        return features, known
    flag = holiday_calendar(pd.DatetimeIndex([next_week]))["is_holiday"].iloc[0]
    carried = last.assign(date=next_week, is_holiday=bool(flag))
    return (pd.concat([features, carried], ignore_index=True),
            np.concatenate([known, known[last.index.to_numpy()]]))


def _holiday_flags(grid: pd.DataFrame, features: pd.DataFrame,
                   first: pd.Timestamp) -> pd.DataFrame:
    """Check every sales week has covariates; flag added weeks from the features.

    Looked up in a dense (store, week number) table rather than merged: one vectorised
    pass, also at 10M rows. Features hold only weeks from `first` on (see `_features`).
    """
    stores = np.sort(features["store"].unique())
    weeks = int((max(features["date"].max(), grid["date"].max()) - first) // WEEK) + 1
    table = np.full((len(stores), weeks), -1, dtype=np.int8)  # -1: no features row
    table[np.searchsorted(stores, features["store"].to_numpy()),
          ((features["date"] - first) // WEEK).to_numpy(dtype="int64")] = (
        features["is_holiday"].to_numpy(dtype=np.int8))
    store = grid["store"].to_numpy()
    row = np.minimum(np.searchsorted(stores, store), len(stores) - 1)
    flags = table[row, ((grid["date"] - first) // WEEK).to_numpy(dtype="int64")]
    missing = (stores[row] != store) | (flags < 0)
    if missing.any():
        first_missing = grid.iloc[int(np.argmax(missing))]
        raise DataError(f"features.csv has no row for Store {first_missing['store']}, Date "
                        f"{_day(first_missing['date'])}, a week within the sales of train.csv")
    own = grid["is_holiday"]
    if own.dtype == bool:
        return grid
    return grid.assign(is_holiday=own.where(own.notna(), flags.astype(bool)).astype(bool))


def _count(report: DataReport, name: str, count: int, unit: str, action: str,
           policy: str | None = None, examples: list[str] | None = None) -> None:
    report.add(Quirk(name, int(count), unit, action, policy, list(examples or [])))


def _row_examples(sales: pd.DataFrame, mask: np.ndarray) -> list[str]:
    rows = sales[mask].head(EXAMPLES)
    return [f"{series_label(r.store, r.dept)} week {_day(r.date)}: {r.weekly_sales:g}"
            for r in rows.itertuples()]


def _weeks_of(features: pd.DataFrame, mask: np.ndarray) -> list[str]:
    rows = features.loc[mask, ["store", "date"]]
    if rows.empty:
        return []
    spans = rows.groupby("store")["date"].agg(["min", "max", "size"]).head(EXAMPLES)
    return [f"store {store}: {size} weeks, {_day(lo)} … {_day(hi)}"
            for store, (lo, hi, size) in spans.iterrows()]


class _Labels:
    """Series names made only for the few examples a report shows (not for 100K series)."""

    def __init__(self, stores: np.ndarray, depts: np.ndarray) -> None:
        self.stores, self.depts = stores, depts

    def __getitem__(self, i: int) -> str:
        return series_label(self.stores[i], self.depts[i])


def _pick(names: _Labels, mask: np.ndarray, detail: np.ndarray | None = None,
          first: pd.Timestamp | None = None) -> list[str]:
    """Up to EXAMPLES series labels where `mask`, with a week number as a date if given."""
    chosen = np.flatnonzero(mask)[:EXAMPLES]
    if detail is None:
        return [names[i] for i in chosen]
    return [f"{names[i]} ({_day(first + int(detail[i]) * WEEK)})" for i in chosen]


def _day(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).date().isoformat()
