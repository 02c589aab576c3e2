"""The feature engineering of `features build` before issue 16 (commit 23c0803), kept as
the oracle that `test_engineering_reference.py` holds the product's code equal to, value
for value. Only the (store, dept) frame and the frames around it are here; the store frame
and the series table come from the product unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesops.data.dataset import SalesDataset, series_bounds
from salesops.features.engineering import FeatureFrames, _store_weekly, series_table
from salesops.features.schema import (
    LAGS,
    MIN_HISTORY_WEEKS,
    TARGET,
    TIMESTAMP,
    WINDOWS,
    YEAR_HISTORY_WEEKS,
)

WEEK = pd.Timedelta(weeks=1)
_CHUNK_ROWS = 1 << 17


def build_features(dataset: SalesDataset) -> FeatureFrames:
    weeks = dataset.weeks
    next_week = weeks[-1] + WEEK
    first_feature_week = weeks[0] + pd.Timedelta(weeks=MIN_HISTORY_WEEKS)
    dept = _dept_weekly(dataset.sales, next_week)
    known = (dept[TIMESTAMP] < next_week) & dept[TARGET].notna()
    target = dept.loc[known, ["store", "dept", TIMESTAMP, TARGET]].reset_index(drop=True)
    dept = dept.drop(columns=TARGET)
    store = _store_weekly(dataset)
    store = store[store[TIMESTAMP] >= first_feature_week].reset_index(drop=True)
    return FeatureFrames(_keys(dept), _keys(store), _keys(target), next_week,
                         series_table(dataset.sales, next_week))


def _dept_weekly(sales: pd.DataFrame, next_week: pd.Timestamp) -> pd.DataFrame:
    """Lags and windows of each series' past, plus one appended next-week row per current
    series (one with a sales row in the last week).

    Rows start at MIN_HISTORY_WEEKS of history; the year features (lag 52, 52-week window,
    year-on-year ratio) are NaN until their longer history exists.

    Exactness: every value of week t is computed from the sales of weeks before t of the
    same series and nothing else. Lags are shifts within the series; each window is summed
    afresh from its own weeks (see `_window_stats`), not by a running sum along a column of
    every series, whose rounding residue would carry values of other series and later weeks
    into earlier rows. Changing any sales from week t on leaves every feature of every
    series at weeks <= t bit-identical. Unknown weeks (NaN, `data.missing_weeks = "skip"`)
    read as the series' last recorded week.
    """
    store, dept = sales["store"].to_numpy(), sales["dept"].to_numpy()
    dates = sales["date"].array.as_unit("us").asi8
    y = sales[TARGET].to_numpy(dtype="float64")
    _, ends = series_bounds(store, dept)
    current = ends[dates[ends] == (next_week - WEEK).value // 1000]  # .value: always ns
    at = current + 1  # a next-week row after the last row of each current series
    store, dept = np.insert(store, at, store[current]), np.insert(dept, at, dept[current])
    dates = np.insert(dates, at, next_week.value // 1000)
    y = np.insert(y, at, np.nan)
    starts, _ = series_bounds(store, dept)
    position = np.arange(len(y)) - np.repeat(starts, np.diff(np.r_[starts, len(y)]))
    history = _carried_forward(y)

    out = pd.DataFrame({"store": store, "dept": dept,
                        TIMESTAMP: pd.array(dates.astype("datetime64[us]"),
                                            dtype=pd.DatetimeTZDtype("us", "UTC"))})
    for lag in LAGS:
        values = np.full(len(y), np.nan)
        rows = np.flatnonzero(position >= lag)
        values[rows] = history[rows - lag]
        out[f"sales_lag_{lag}"] = values
    for window in WINDOWS:
        mean, std = _window_stats(history, position, window, window)
        out[f"sales_mean_{window}"], out[f"sales_std_{window}"] = mean, std
    out["sales_zero_share_8"] = _window_stats((history == 0).astype("float64"), position, 8, 8,
                                              std=False)[0]
    # Year-on-year momentum: the last 4 weeks against the same 4 weeks a year earlier
    # (weeks t-56..t-53).
    year_ago = _window_stats(history, position, YEAR_HISTORY_WEEKS, 4, std=False)[0]
    out["sales_yoy_ratio"] = np.log1p(np.clip(out["sales_mean_4"], 0, None)) - np.log1p(
        np.clip(year_ago, 0, None)
    )
    out[TARGET] = y
    return out[position >= MIN_HISTORY_WEEKS].reset_index(drop=True)


def _carried_forward(values: np.ndarray) -> np.ndarray:
    """NaN replaced by the last earlier value. A series' first week is always recorded, so
    nothing is carried across series."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    source = np.where(missing, 0, np.arange(len(values)))
    return values[np.maximum.accumulate(source)]


def _window_stats(values: np.ndarray, position: np.ndarray, back: int, width: int,
                  std: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean (and sample std) of `values[t - back : t - back + width]` for each row t whose
    series has `back` weeks before it; NaN elsewhere.

    Each window is gathered into its own row of a block and reduced there, so its result
    depends on its `width` values alone (their order included): no running sums.
    """
    mean = np.full(len(values), np.nan)
    out_std = np.full(len(values), np.nan) if std else None
    if len(values) < width:
        return mean, out_std
    view = np.lib.stride_tricks.sliding_window_view(values, width)
    rows = np.flatnonzero(position >= back)
    for chunk in range(0, len(rows), _CHUNK_ROWS):
        at = rows[chunk:chunk + _CHUNK_ROWS]
        block = view[at - back]  # a copy, C-contiguous: one window per row
        block_mean = block.sum(axis=1) / width
        mean[at] = block_mean
        if std:
            deviation = block - block_mean[:, None]
            out_std[at] = np.sqrt(np.einsum("ij,ij->i", deviation, deviation) / (width - 1))
    return mean, out_std


def _keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Entity keys as int64 (Feast INT64) and timestamps as microsecond UTC."""
    frame = frame.copy()
    for key in ("store", "dept"):
        if key in frame:
            frame[key] = frame[key].astype("int64")
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True).astype("datetime64[us, UTC]")
    return frame
