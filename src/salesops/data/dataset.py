"""The one in-memory shape of sales data that every loader returns and every consumer reads.

Timestamps are ``datetime64[us, UTC]``: DuckDB (Feast's embedded offline store) rejects
nanosecond ``TIMESTAMPTZ`` casts, so the microsecond unit is fixed here, once, rather than
converted at every boundary. Weeks are labelled by the Friday that ends them, 7 days apart,
as in the Walmart data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

TIMESTAMP_DTYPE = "datetime64[us, UTC]"
MARKDOWNS = tuple(f"markdown{i}" for i in range(1, 6))
COVARIATES = ("temperature", "fuel_price", *MARKDOWNS, "cpi", "unemployment")
SALES_COLUMNS = ("store", "dept", "date", "weekly_sales", "is_holiday")
FEATURE_COLUMNS = ("store", "date", *COVARIATES, "is_holiday", "markdown_known")
STORE_COLUMNS = ("store", "type", "size")
STORE_TYPES = ("A", "B", "C")


# eq=False: the generated __eq__/__hash__ would compare or hash DataFrames, which pandas
# refuses; identity semantics are what callers want for a bundle of frames.
@dataclass(frozen=True, eq=False)
class SalesDataset:
    """Weekly sales with their covariates and store attributes.

    * ``sales``: ``store:int32, dept:int32, date:datetime64[us, UTC], weekly_sales:float64,
      is_holiday:bool``; one row per (store, dept, week), sorted by store, dept, date; each
      series is a complete weekly run from its first week to its last. A series that goes
      on to the data's last week is current (it is forecast); one that stops earlier has
      ended. ``weekly_sales`` may be negative (returns) and is NaN for a week whose sales
      are unknown (see `salesops.data.cleaning`).
    * ``features``: ``store:int32, date, temperature, fuel_price, markdown1..markdown5, cpi,
      unemployment`` (float64, no NaN) ``, is_holiday:bool, markdown_known:bool`` (False:
      the week's markdowns were not recorded and read 0); one row per (store, week),
      covering every sales week and the week after the last one (the week to forecast),
      sorted by store, date.
    * ``stores``: ``store:int32, type`` (``"A"``, ``"B"`` or ``"C"``) ``, size:int64``.
    """

    sales: pd.DataFrame
    features: pd.DataFrame
    stores: pd.DataFrame

    @cached_property
    def weeks(self) -> pd.DatetimeIndex:
        """Sorted unique sales weeks (computed once: frames are not meant to be mutated)."""
        return pd.DatetimeIndex(self.sales["date"].unique()).sort_values()

    def summary(self) -> dict:
        """Row and entity counts, the week range (ISO dates) and the share of zero sales."""
        weeks = self.weeks
        rows = len(self.sales)
        return {
            "rows": rows,
            "stores": int(self.sales["store"].nunique()),
            "depts": int(self.sales["dept"].nunique()),
            "weeks": len(weeks),
            "first_week": weeks[0].date().isoformat() if len(weeks) else None,
            "last_week": weeks[-1].date().isoformat() if len(weeks) else None,
            "zero_share": float((self.sales["weekly_sales"] == 0).mean()) if rows else 0.0,
        }


def conform(sales: pd.DataFrame, features: pd.DataFrame, stores: pd.DataFrame) -> SalesDataset:
    """Cast and order frames into the contract; loaders call this as their last step.

    Only column order, dtypes and row order change; values are the caller's responsibility.
    Sorting is skipped when rows are already in order (the generator builds them so), which
    keeps this cheap at 10M rows.
    """
    sales = _ordered(
        sales.loc[:, list(SALES_COLUMNS)].astype(
            {"store": "int32", "dept": "int32", "date": TIMESTAMP_DTYPE,
             "weekly_sales": "float64", "is_holiday": "bool"}
        ),
        ["store", "dept", "date"],
    )
    features = _ordered(
        features.loc[:, list(FEATURE_COLUMNS)].astype(
            {"store": "int32", "date": TIMESTAMP_DTYPE, "is_holiday": "bool",
             "markdown_known": "bool"}
            | {name: "float64" for name in COVARIATES}
        ),
        ["store", "date"],
    )
    stores = _ordered(
        stores.loc[:, list(STORE_COLUMNS)].astype({"store": "int32", "size": "int64"}),
        ["store"],
    )
    stores["type"] = stores["type"].astype(str).astype(object)
    return SalesDataset(sales=sales, features=features, stores=stores)


def series_bounds(store: np.ndarray, dept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last row of each (store, dept) series in rows sorted by store and dept."""
    new = np.r_[True, (store[1:] != store[:-1]) | (dept[1:] != dept[:-1])]
    starts = np.flatnonzero(new)
    return starts, np.r_[starts[1:], len(store)] - 1


def store_groups(dataset: SalesDataset, rows: int) -> Iterator[SalesDataset]:
    """The data set in parts of whole stores, in store order, each of at most `rows` sales
    rows (a store with more is a part alone): every feature is computed within one store's
    rows (a series, or a store's weeks), so each part's features are the whole set's rows of
    its stores. Slices of the sorted frames, not copies."""
    sales, features, stores = dataset.sales, dataset.features, dataset.stores
    store = sales["store"].to_numpy()
    for name, ids in (("sales", store), ("features", features["store"].to_numpy()),
                      ("stores", stores["store"].to_numpy())):
        if len(ids) > 1 and (ids[1:] < ids[:-1]).any():  # `conform`'s order: a caller's bug
            raise ValueError(f"store_groups: the {name} frame is not sorted by store")
    # where each store's rows begin, and the end of the last
    bounds = np.r_[np.flatnonzero(np.r_[True, store[1:] != store[:-1]]), len(sales)]
    cuts = [0]  # the parts, as indexes into `bounds`
    while cuts[-1] < len(bounds) - 1:
        reach = int(np.searchsorted(bounds, bounds[cuts[-1]] + rows, "right")) - 1
        cuts.append(max(cuts[-1] + 1, reach))
    # each part's store weeks and stores: up to its last store (the last part: all the rest)
    highs = [store[bounds[end] - 1] for end in cuts[1:-1]]
    weeks_at = np.r_[0, np.searchsorted(features["store"].to_numpy(), highs, "right"),
                     len(features)]
    stores_at = np.r_[0, np.searchsorted(stores["store"].to_numpy(), highs, "right"),
                      len(stores)]
    for part in range(len(cuts) - 1):
        yield SalesDataset(sales=sales.iloc[bounds[cuts[part]]:bounds[cuts[part + 1]]],
                           features=features.iloc[weeks_at[part]:weeks_at[part + 1]],
                           stores=stores.iloc[stores_at[part]:stores_at[part + 1]])


def _ordered(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    if not _is_sorted(frame, keys):
        frame = frame.sort_values(keys, kind="stable")
    return frame.reset_index(drop=True)


def _is_sorted(frame: pd.DataFrame, keys: list[str]) -> bool:
    """Lexicographic order check in one vectorised pass per key (no sort, no MultiIndex)."""
    if len(frame) < 2:
        return True
    # Pairs of neighbouring rows whose order the keys seen so far have not settled yet.
    undecided = np.ones(len(frame) - 1, dtype=bool)
    for key in keys:
        values = _comparable(frame[key])
        later, earlier = values[1:], values[:-1]
        if (undecided & (later < earlier)).any():
            return False
        undecided &= later == earlier
    return True


def _comparable(column: pd.Series) -> np.ndarray:
    # Timezone-aware columns would become object arrays of Timestamps; compare epoch ints.
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.array.asi8
    return column.to_numpy()
