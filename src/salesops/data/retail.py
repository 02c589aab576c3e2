"""`data.realism = "retail"`: what a real retailer's files hold, on top of synthetic sales.

Modelled on the Walmart "Store Sales Forecasting" files: weeks without sales have no row,
some weeks are negative (returns above sales), departments open late (some within the last
year, so that the same week last year does not exist for them), close early or exist for a
few weeks only, some series have holes of a few weeks, markdowns were not recorded for
the first part of the history (and a markdown type a store did not run is a blank, not a
0), and the covariate file runs past the sales with CPI and unemployment not yet published
for its last weeks. Seeded: the same seed gives the same quirks.

The result is `RawData`, which goes through `salesops.data.cleaning` exactly like an
imported CSV (and can be written as one with `walmart_csv.write_walmart_csv`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesops.data.dataset import MARKDOWNS, SalesDataset
from salesops.data.raw import RawData

_RETAIL = 6  # the RNG stream id (synthetic.py uses 1..5; never renumber)
WEEK = pd.Timedelta(weeks=1)
#: covariate weeks past the week to forecast, as features.csv runs past train.csv
EXTRA_FEATURE_WEEKS = 4
#: the last weeks of the covariate file without CPI and unemployment (not yet published):
#: the extra weeks, the week to forecast and the last two sales weeks
UNPUBLISHED_WEEKS = EXTRA_FEATURE_WEEKS + 3


def retail_quirks(dataset: SalesDataset, seed: int = 42) -> RawData:
    """`dataset` (clean, complete) as a retailer's files would hold it."""
    rng = np.random.default_rng([seed, _RETAIL])
    sales = dataset.sales
    weeks = dataset.weeks
    n_weeks = len(weeks)
    week = ((sales["date"] - weeks[0]) // WEEK).to_numpy(dtype="int64")
    keys = sales[["store", "dept"]].drop_duplicates().reset_index(drop=True)
    series = sales.groupby(["store", "dept"], sort=False).ngroup().to_numpy()
    n_series = len(keys)

    # each series gets at most one shape: late start, early end, a quiet tail, short life,
    # opened within the last year (no same-week-last-year at the end)
    shape = rng.choice(7, n_series, p=[0.78, 0.06, 0.06, 0.02, 0.03, 0.03, 0.02])
    late_from = rng.integers(10, max(11, n_weeks // 2), n_series)
    opened_at = rng.integers(max(0, n_weeks - 50), max(1, n_weeks - 20), n_series)
    ended_at = rng.integers(n_weeks // 2, max(n_weeks // 2 + 1, n_weeks - 6), n_series)
    quiet_at = n_weeks - 1 - rng.integers(1, 3, n_series)  # last row 1-2 weeks before the end
    short_len = rng.integers(3, 8, n_series)
    short_from = rng.integers(10, max(11, n_weeks - 20), n_series)
    at = series
    keep = np.select(
        [shape[at] == 1, shape[at] == 2, shape[at] == 3, shape[at] == 4, shape[at] == 5,
         shape[at] == 6],
        [week >= late_from[at], week <= ended_at[at], week <= quiet_at[at],
         week >= n_weeks - short_len[at],  # opened in the last weeks: too short to forecast
         (week >= short_from[at]) & (week < short_from[at] + short_len[at]),  # came and went
         week >= opened_at[at]],
        default=True)
    # holes: 1-4 missing weeks in ~3 % of series
    holed = rng.random(n_series) < 0.03
    hole_at = rng.integers(12, max(13, n_weeks - 12), n_series)
    hole_len = rng.integers(1, 5, n_series)
    keep &= ~(holed[at] & (week >= hole_at[at]) & (week < hole_at[at] + hole_len[at]))
    # weeks without sales have no row, as in the Walmart files (a few zeros stay explicit)
    values = sales["weekly_sales"].to_numpy().copy()
    keep &= ~((values == 0) & (rng.random(len(values)) < 0.8))
    # returns: ~0.3 % of weeks, mostly in small departments, a few dollars to a few hundred
    small = values < np.quantile(values, 0.25)
    returns = small & (rng.random(len(values)) < 0.012)
    values[returns] = -np.round(rng.uniform(0.5, 300.0, int(returns.sum())), 2)
    raw_sales = sales.assign(weekly_sales=values)[keep].reset_index(drop=True)
    return RawData(sales=raw_sales, features=_features(dataset, rng), stores=dataset.stores)


def _features(dataset: SalesDataset, rng: np.random.Generator) -> pd.DataFrame:
    features = dataset.features.drop(columns="markdown_known")
    # the file runs on past the week to forecast; its last weeks repeat the last readings
    last = features.groupby("store", sort=False).tail(1)
    extra = [last.assign(date=last["date"] + k * WEEK) for k in range(1, EXTRA_FEATURE_WEEKS + 1)]
    features = pd.concat([features, *extra]).sort_values(["store", "date"], kind="stable")
    features = features.reset_index(drop=True)
    dates = np.sort(features["date"].unique())
    markdowns = features[list(MARKDOWNS)]
    # a markdown type the store did not run is a blank; nothing is recorded in the first 40 %
    markdowns = markdowns.mask(markdowns == 0)
    recording_starts = dates[int(0.4 * (len(dates) - EXTRA_FEATURE_WEEKS))]
    markdowns[(features["date"] < recording_starts).to_numpy()] = np.nan
    features[list(MARKDOWNS)] = markdowns
    unpublished = features["date"] >= dates[-UNPUBLISHED_WEEKS]
    features.loc[unpublished, ["cpi", "unemployment"]] = np.nan
    # a weather station that missed a few weeks
    gaps = rng.random(len(features)) < 0.002
    features.loc[gaps, "temperature"] = np.nan
    return features
