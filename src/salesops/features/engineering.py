"""Feature engineering: past-only features per (store, dept, week) and per (store, week).

Leakage rule: every sales-derived feature for week t uses sales of weeks < t only
(`shift(1)` before any window). Covariates of week t itself (holiday flag, planned
markdowns, weather and economic readings) are treated as known when the forecast for week
t is made, as in the Walmart data. The target lives in its own frame and never in a frame
that the inference feature service reads.

Each (store, dept) series also gets the row of the **next week to forecast** (horizon t+1):
its lags and windows come from the known history, its covariates from the features table,
which covers one week past the last sales week.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesops.data.calendar import holiday_calendar, holiday_offsets
from salesops.data.dataset import SalesDataset
from salesops.features.schema import (
    LAGS,
    MIN_HISTORY_WEEKS,
    TARGET,
    TIMESTAMP,
    WINDOWS,
    YEAR_HISTORY_WEEKS,
)

STORE_TYPE_CODES = {"A": 0, "B": 1, "C": 2}


@dataclass(frozen=True)
class FeatureFrames:
    """What is written to the offline store, one frame per Feast feature view."""

    dept_weekly: pd.DataFrame  # store, dept, event_timestamp, DEPT_FEATURES (incl. next week)
    store_weekly: pd.DataFrame  # store, event_timestamp, STORE_FEATURES (incl. next week)
    sales_target: pd.DataFrame  # store, dept, event_timestamp, weekly_sales (known weeks only)
    next_week: pd.Timestamp  # the week each series' online row is for

    def frames(self) -> dict[str, pd.DataFrame]:
        return {
            "dept_weekly": self.dept_weekly,
            "store_weekly": self.store_weekly,
            "sales_target": self.sales_target,
        }


def build_features(dataset: SalesDataset) -> FeatureFrames:
    weeks = dataset.weeks
    next_week = weeks[-1] + pd.Timedelta(weeks=1)
    first_feature_week = weeks[0] + pd.Timedelta(weeks=MIN_HISTORY_WEEKS)
    dept = _dept_weekly(dataset.sales, next_week)
    known = dept[TIMESTAMP] < next_week
    target = dept.loc[known, ["store", "dept", TIMESTAMP, TARGET]].reset_index(drop=True)
    dept = dept.drop(columns=TARGET)
    store = _store_weekly(dataset)
    store = store[store[TIMESTAMP] >= first_feature_week].reset_index(drop=True)
    return FeatureFrames(_keys(dept), _keys(store), _keys(target), next_week)


def _dept_weekly(sales: pd.DataFrame, next_week: pd.Timestamp) -> pd.DataFrame:
    """Lags and shifted windows per series, plus one appended next-week row per series.

    Rows start at MIN_HISTORY_WEEKS of history; the year features (lag 52, 52-week window,
    year-on-year ratio) are NaN until their longer history exists.

    Series are contiguous weekly runs (the loaders guarantee it), sorted by key and week, so
    shifts and windows run over the whole column at once and positions whose window would
    reach into the previous series are masked; far faster than groupby-rolling at 10M rows.
    """
    current = sales.loc[sales["date"] == next_week - pd.Timedelta(weeks=1), ["store", "dept"]]
    future = current.assign(date=next_week, weekly_sales=np.nan)
    frame = pd.concat([sales[["store", "dept", "date", TARGET]], future], ignore_index=True)
    frame = frame.sort_values(["store", "dept", "date"], kind="stable").reset_index(drop=True)
    position = frame.groupby(["store", "dept"], sort=False).cumcount().to_numpy()
    y = frame[TARGET]

    def masked(values: pd.Series, valid_from: int) -> np.ndarray:
        return np.where(position >= valid_from, values.to_numpy(dtype="float64"), np.nan)

    out = frame[["store", "dept", "date"]].rename(columns={"date": TIMESTAMP})
    for lag in LAGS:
        out[f"sales_lag_{lag}"] = masked(y.shift(lag), lag)
    # shift(1) first: the value at week t is the sales of week t-1, so nothing from week t
    # (or later) can reach any window below. A window of w past weeks is full from p = w.
    past = y.shift(1)
    for window in WINDOWS:
        rolling = past.rolling(window, min_periods=window)
        out[f"sales_mean_{window}"] = masked(rolling.mean(), window)
        out[f"sales_std_{window}"] = masked(rolling.std(), window)
    zero = (past == 0).astype("float64")
    out["sales_zero_share_8"] = masked(zero.rolling(8, min_periods=8).mean(), 8)
    # Year-on-year momentum: the last 4 weeks against the same 4 weeks a year earlier.
    year_ago = masked(y.shift(53).rolling(4, min_periods=4).mean(), YEAR_HISTORY_WEEKS)
    out["sales_yoy_ratio"] = np.log1p(np.clip(out["sales_mean_4"], 0, None)) - np.log1p(
        np.clip(year_ago, 0, None)
    )
    out[TARGET] = y.to_numpy()
    return out[position >= MIN_HISTORY_WEEKS].reset_index(drop=True)


def _store_weekly(dataset: SalesDataset) -> pd.DataFrame:
    features = dataset.features
    out = features[["store", "date"]].rename(columns={"date": TIMESTAMP})
    iso = features["date"].dt.isocalendar()
    out["week_of_year"] = iso["week"].astype("int64").to_numpy()
    out["month"] = features["date"].dt.month.astype("int64")
    out["quarter"] = features["date"].dt.quarter.astype("int64")
    angle = 2 * np.pi * features["date"].dt.dayofyear.to_numpy() / 365.25
    out["week_sin"] = np.sin(angle)
    out["week_cos"] = np.cos(angle)
    calendar = holiday_calendar(features["date"])
    out["is_holiday"] = calendar["is_holiday"].astype("int64").to_numpy()
    out["weeks_to_holiday"] = calendar["weeks_to_holiday"].astype("int64").to_numpy()
    out["weeks_since_holiday"] = calendar["weeks_since_holiday"].astype("int64").to_numpy()
    offsets = holiday_offsets(features["date"])
    for column in offsets.columns:
        out[column] = offsets[column].to_numpy()
    for column in ("temperature", "fuel_price", "cpi", "unemployment"):
        out[column] = features[column].astype("float64")
    markdowns = features[[f"markdown{i}" for i in range(1, 6)]].to_numpy(dtype="float64")
    out["markdown_total"] = markdowns.sum(axis=1)
    out["has_markdown"] = (out["markdown_total"] > 0).astype("int64")
    stores = dataset.stores.set_index("store")
    out["store_type"] = out["store"].map(stores["type"].map(STORE_TYPE_CODES)).astype("int64")
    out["store_size"] = out["store"].map(stores["size"]).astype("int64")
    return out


def _keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Entity keys as int64 (Feast INT64) and timestamps as microsecond UTC."""
    frame = frame.copy()
    for key in ("store", "dept"):
        if key in frame:
            frame[key] = frame[key].astype("int64")
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True).astype("datetime64[us, UTC]")
    return frame
