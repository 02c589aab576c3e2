"""Sales data as a source holds it, before any policy has touched it.

A retailer's files are not a clean grid: weeks without a row, negative weeks (returns above
sales), departments that open late or close, markdowns that were not recorded for part of
the history, covariates missing at the end. `RawData` carries them as they are, so that
`salesops.data.cleaning` can apply the configured policies and report each one; the
Walmart CSV import and the synthetic generator's `retail` realism both produce it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from salesops.data.dataset import SalesDataset


@dataclass(frozen=True, eq=False)
class RawData:
    """The loose shape of sales data.

    * ``sales``: ``store, dept, date (UTC us), weekly_sales (float, may be < 0), is_holiday``;
      one row per recorded (store, dept, week), sorted by store, dept, date; weeks may be
      missing anywhere.
    * ``features``: ``store, date, temperature, fuel_price, markdown1..5, cpi, unemployment``
      (float, NaN where not recorded) ``, is_holiday``; one row per (store, week), any weeks.
    * ``stores``: ``store, type, size``; may list stores without sales.
    * ``line_endings``: file name -> ``"CR"`` or ``"CRLF"`` for files that do not end
      their lines with a plain LF (read correctly; reported, since tools disagree on them).
    """

    sales: pd.DataFrame
    features: pd.DataFrame
    stores: pd.DataFrame
    line_endings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, dataset: SalesDataset) -> RawData:
        """A clean data set as raw data (cleaning it again changes nothing and reports)."""
        return cls(dataset.sales, dataset.features.drop(columns="markdown_known"),
                   dataset.stores)
