"""Import real data in the Kaggle "Walmart Recruiting - Store Sales Forecasting" layout.

A directory with ``train.csv`` (Store, Dept, Date, Weekly_Sales, IsHoliday),
``features.csv`` (Store, Date, Temperature, Fuel_Price, MarkDown1..MarkDown5, CPI,
Unemployment, IsHoliday) and ``stores.csv`` (Store, Type, Size). Header names match
case-insensitively, ignoring underscores and spaces; dates are ISO (``2010-02-05``); ``NA``
or an empty field is a missing value.

Every problem becomes one :class:`~salesops.errors.DataError` line naming the file, the
column and the first offending line (the header is line 1), never a pandas traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from salesops.data.calendar import holiday_calendar
from salesops.data.dataset import COVARIATES, MARKDOWNS, STORE_TYPES, SalesDataset, conform
from salesops.errors import DataError

TRAIN, FEATURES, STORES = "train.csv", "features.csv", "stores.csv"
#: Kaggle header -> contract column, per file.
COLUMNS = {
    TRAIN: {"Store": "store", "Dept": "dept", "Date": "date", "Weekly_Sales": "weekly_sales",
            "IsHoliday": "is_holiday"},
    FEATURES: {"Store": "store", "Date": "date", "Temperature": "temperature",
               "Fuel_Price": "fuel_price", **{f"MarkDown{i}": f"markdown{i}" for i in range(1, 6)},
               "CPI": "cpi", "Unemployment": "unemployment", "IsHoliday": "is_holiday"},
    STORES: {"Store": "store", "Type": "type", "Size": "size"},
}
_HINT = "expected the Kaggle Walmart layout: train.csv, features.csv, stores.csv"
_TRUE, _FALSE = {"true", "t", "1", "yes"}, {"false", "f", "0", "no"}
_WEEK = pd.Timedelta(weeks=1)


def load_walmart_csv(path: Path) -> SalesDataset:
    """Load and clean a Walmart-layout directory into a :class:`SalesDataset`.

    Cleaning rules:

    * negative ``Weekly_Sales`` (returns exceeding sales) are clipped to 0;
    * within each (store, dept) series, weeks missing between its first and last week are
      added with 0 sales (the series becomes a complete weekly run); their ``is_holiday``
      comes from features.csv;
    * markdown NA -> 0; CPI, Unemployment (and Temperature, Fuel_Price, should they have
      gaps) are forward- then back-filled per store; a store with no value at all takes
      the median over all stores;
    * stores without sales are dropped from stores and features; features keep only the
      weeks on the sales grid from the first sales week to the week after the last one
      (the week to forecast); if features.csv lacks that week for a store, its last row is
      carried forward, with ``is_holiday`` from :func:`~salesops.data.calendar.holiday_calendar`;
    * columns are renamed to the contract's snake_case, dates become UTC microseconds.
    """
    directory = Path(path)
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "not found"
        raise DataError(f"data directory {what}: {directory}", hint=_HINT)
    for name in (TRAIN, FEATURES, STORES):
        if not (directory / name).is_file():
            raise DataError(f"{name} not found in {directory}", hint=_HINT)
    stores = _parse_stores(_Csv(directory, STORES))
    sales = _parse_train(_Csv(directory, TRAIN), stores)
    features = _parse_features(_Csv(directory, FEATURES))
    weeks = pd.DatetimeIndex(sales["date"].unique()).sort_values()
    first, next_week = weeks[0], weeks[-1] + _WEEK
    sales = _fill_gaps(sales, first)
    features = features[
        features["store"].isin(sales["store"].unique())
        & features["date"].between(first, next_week)
        & ((features["date"] - first) % _WEEK == pd.Timedelta(0))
    ]
    sales = _holiday_from_features(sales, features)
    features = _add_next_week(features, next_week)
    stores = stores[stores["store"].isin(sales["store"].unique())]
    return conform(sales, features, stores)


class _Csv:
    """One file read as text, with contract column names and messages that point into it."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        try:
            raw = pd.read_csv(directory / name, dtype=str, skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise DataError(f"{name} is empty", hint=_HINT) from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{name} is not a readable CSV file: {reason}") from None
        except OSError as exc:
            raise DataError(f"cannot read {directory / name}: {exc.strerror or exc}") from None
        found = {_key(column): column for column in raw.columns}
        wanted = COLUMNS[name]
        missing = [column for column in wanted if _key(column) not in found]
        if missing:
            raise DataError(
                f"{name} is missing column(s): {', '.join(missing)}",
                hint=f"found: {', '.join(map(str, raw.columns))}",
            )
        if raw.empty:
            raise DataError(f"{name} has a header but no data rows")
        self.header = {contract: found[_key(kaggle)] for kaggle, contract in wanted.items()}
        self.text = raw[[found[_key(kaggle)] for kaggle in wanted]].set_axis(
            list(wanted.values()), axis=1
        )

    def fail(self, column: str, position: int, problem: str) -> DataError:
        # Data row `position` (0-based) sits on line position + 2: the header is line 1.
        header = self.header[column]
        return DataError(f"{self.name}: column {header}: {problem} (line {position + 2})")

    def numbers(self, column: str, *, required: bool = True, integer: bool = False) -> pd.Series:
        text = self.text[column]
        values = pd.to_numeric(text, errors="coerce")
        bad = (values.isna() & text.notna()) | ~np.isfinite(values.fillna(0))
        if integer:
            bad |= values.notna() & (values != values.round())
        if required:
            bad |= text.isna()
        if bad.any():
            position = int(np.argmax(bad.to_numpy()))
            kind = "an integer" if integer else "a number"
            raise self.fail(column, position, _unreadable(text.iloc[position], kind))
        return values.astype("int64") if integer else values.astype("float64")

    def dates(self) -> pd.Series:
        text = self.text["date"]
        values = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
        if values.isna().any():
            position = int(np.argmax(values.isna().to_numpy()))
            raise self.fail("date", position, _unreadable(text.iloc[position], "a YYYY-MM-DD date"))
        return values.astype("datetime64[us, UTC]")

    def flags(self) -> pd.Series:
        text = self.text["is_holiday"].str.strip().str.lower()
        bad = ~text.isin(_TRUE | _FALSE)
        if bad.any():
            position = int(np.argmax(bad.to_numpy()))
            raise self.fail("is_holiday", position,
                            _unreadable(self.text["is_holiday"].iloc[position], "TRUE/FALSE"))
        return text.isin(_TRUE)

    def duplicated(self, frame: pd.DataFrame, keys: list[str]) -> None:
        duplicate = frame.duplicated(keys).to_numpy()
        if duplicate.any():
            position = int(np.argmax(duplicate))
            row = frame.iloc[position]
            where = ", ".join(f"{self.header[k]} {_show(row[k])}" for k in keys)
            raise DataError(f"{self.name}: duplicate row for {where} (line {position + 2})")


def _parse_stores(csv: _Csv) -> pd.DataFrame:
    kind = csv.text["type"].str.strip().str.upper()
    bad = ~kind.isin(STORE_TYPES)
    if bad.any():
        position = int(np.argmax(bad.to_numpy()))
        raise csv.fail("type", position,
                       _unreadable(csv.text["type"].iloc[position], " or ".join(STORE_TYPES)))
    stores = pd.DataFrame(
        {"store": csv.numbers("store", integer=True), "type": kind,
         "size": csv.numbers("size", integer=True)}
    )
    csv.duplicated(stores, ["store"])
    return stores


def _parse_train(csv: _Csv, stores: pd.DataFrame) -> pd.DataFrame:
    sales = pd.DataFrame(
        {"store": csv.numbers("store", integer=True), "dept": csv.numbers("dept", integer=True),
         "date": csv.dates(), "weekly_sales": csv.numbers("weekly_sales").clip(lower=0.0),
         "is_holiday": csv.flags()}
    )
    csv.duplicated(sales, ["store", "dept", "date"])
    unknown = ~sales["store"].isin(stores["store"]).to_numpy()
    if unknown.any():
        position = int(np.argmax(unknown))
        raise csv.fail("store", position, f"Store {sales['store'].iloc[position]} has sales "
                       f"but is not in {STORES}")
    # Weeks must share one weekday, or no weekly grid (gap filling, lags) makes sense.
    offset = (sales["date"] - sales["date"].min()) % _WEEK != pd.Timedelta(0)
    if offset.any():
        position = int(np.argmax(offset.to_numpy()))
        raise csv.fail("date", position, f"{_show(sales['date'].iloc[position])} is not a whole "
                       f"number of weeks after the first week {_show(sales['date'].min())}")
    return sales.sort_values(["store", "dept", "date"], kind="stable", ignore_index=True)


def _parse_features(csv: _Csv) -> pd.DataFrame:
    features = pd.DataFrame({"store": csv.numbers("store", integer=True), "date": csv.dates()})
    for column in COVARIATES:
        features[column] = csv.numbers(column, required=False)
    features["is_holiday"] = csv.flags()
    csv.duplicated(features, ["store", "date"])
    features = features.sort_values(["store", "date"], kind="stable", ignore_index=True)
    features[list(MARKDOWNS)] = features[list(MARKDOWNS)].fillna(0.0)
    # Slow-moving readings: the nearest earlier (else later) reading of the same store.
    gappy = ["temperature", "fuel_price", "cpi", "unemployment"]
    filled = features.groupby("store", sort=False)[gappy].ffill()
    features[gappy] = filled.groupby(features["store"], sort=False).bfill()
    for column in gappy:
        if features[column].isna().all():
            header = csv.header[column]
            raise DataError(f"{FEATURES}: column {header} has no values at all")
        features[column] = features[column].fillna(features[column].median())
    return features


def _fill_gaps(sales: pd.DataFrame, first: pd.Timestamp) -> pd.DataFrame:
    """Complete each series' weekly run between its first and last week with 0 sales.

    Rows are sorted by series and week, so each series is a contiguous block: the grid is
    built with repeat/cumsum arithmetic and the known rows are scattered into it by position.
    """
    week = ((sales["date"] - first) // _WEEK).to_numpy(dtype="int64")
    store, dept = sales["store"].to_numpy(), sales["dept"].to_numpy()
    new_series = np.r_[True, (store[1:] != store[:-1]) | (dept[1:] != dept[:-1])]
    starts = np.flatnonzero(new_series)
    ends = np.r_[starts[1:], len(sales)] - 1
    length = week[ends] - week[starts] + 1
    if length.sum() == len(sales):
        return sales  # nothing missing: no copy
    offset = np.cumsum(length) - length  # where each series' block starts in the grid
    series = np.cumsum(new_series) - 1  # series number of each known row
    grid_series = np.repeat(np.arange(len(starts)), length)
    grid_week = week[starts][grid_series] + np.arange(length.sum()) - offset[grid_series]
    position = offset[series] + week - week[starts][series]
    weekly_sales = np.zeros(length.sum())
    weekly_sales[position] = sales["weekly_sales"].to_numpy()
    # Filled weeks take their holiday flag from features.csv later (NaN marks them).
    is_holiday = np.full(length.sum(), np.nan)
    is_holiday[position] = sales["is_holiday"].to_numpy()
    return pd.DataFrame(
        {"store": store[starts][grid_series], "dept": dept[starts][grid_series],
         "date": first + pd.to_timedelta(grid_week * 7, unit="D"),
         "weekly_sales": weekly_sales, "is_holiday": is_holiday}
    )


def _holiday_from_features(sales: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Check every sales week has covariates; flag filled weeks from features.csv."""
    known = sales[["store", "date"]].merge(
        features[["store", "date", "is_holiday"]], on=["store", "date"], how="left"
    )["is_holiday"]
    missing = known.isna().to_numpy()
    if missing.any():
        row = sales.iloc[int(np.argmax(missing))]
        raise DataError(
            f"{FEATURES} has no row for Store {row['store']}, Date {_show(row['date'])}, "
            f"a week within the sales of {TRAIN}"
        )
    own = sales["is_holiday"]
    return sales.assign(is_holiday=own.where(own.notna(), known).astype(bool))


def _add_next_week(features: pd.DataFrame, next_week: pd.Timestamp) -> pd.DataFrame:
    """Carry each store's last row forward to the week to forecast where it is absent."""
    has_next = features.loc[features["date"] == next_week, "store"].unique()
    last = features[~features["store"].isin(has_next)].groupby("store", sort=False).tail(1)
    if last.empty:
        return features
    flag = holiday_calendar(pd.DatetimeIndex([next_week]))["is_holiday"].iloc[0]
    carried = last.assign(date=next_week, is_holiday=bool(flag))
    return pd.concat([features, carried], ignore_index=True)


def _unreadable(value: object, expected: str) -> str:
    return "missing value" if pd.isna(value) else f"cannot read {value!r} as {expected}"


def _key(column: object) -> str:
    return str(column).strip().lower().replace("_", "").replace(" ", "")


def _show(value: object) -> str:
    return value.date().isoformat() if isinstance(value, pd.Timestamp) else str(value)
