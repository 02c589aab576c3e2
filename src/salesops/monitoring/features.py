"""Which features `drift` compares, and how, with the reasons.

Compared: the champion's input features (its signature), each at its own grain: sales
features per (store, dept, week), store covariates per (store, week), so that a store's
temperature is not counted once per department.

Left out or set aside, because they differ between any two windows by construction:

* **Calendar features** (week of year, month, quarter, week sine/cosine, holiday flag,
  weeks to/since a holiday, per-holiday offsets) are functions of the date. Two windows of
  different weeks always differ in them, and nothing upstream can corrupt them; left out.
* **Slow macro series** (CPI, unemployment, fuel price) move together across stores as one
  trending or slowly mean-reverting national series: a window of a few weeks is one short
  stretch of it, not a sample of its distribution, so a two-sample test rejects in most
  windows without anything being wrong. They are computed and shown ("monitored"), but do
  not count towards the verdict. (A `--shift fuel_price=+0.5` is within the price's own
  swings of a year; it shows there only when it is large.)
* **Year features** (lag 52, 52-week window, year-on-year ratio) are null in each series'
  first year; they are compared only when the champion reads them, on non-null rows.
* **Markdowns that were not recorded** (`markdown_known = 0`, `data.missing_markdown =
  "unknown"`) read 0 without being a fact: markdown amounts are compared on known weeks
  only, and `markdown_known` itself, which says when recording began rather than anything
  about demand, is shown but not counted.
"""

from __future__ import annotations

from salesops.features.schema import (
    DEPT_FEATURES,
    HOLIDAY_OFFSET_FEATURES,
    MODEL_FEATURES,
    SALES_UNIT_FEATURES,
    STORE_FEATURES,
    YEAR_FEATURES,
)

CALENDAR = frozenset({"week_of_year", "month", "quarter", "week_sin", "week_cos", "is_holiday",
                      "weeks_to_holiday", "weeks_since_holiday", *HOLIDAY_OFFSET_FEATURES})
MACRO = frozenset({"cpi", "unemployment", "fuel_price"})
#: shown, not counted: see the module docstring
MONITORED = MACRO | {"markdown_known"}
#: compared only on store-weeks whose markdowns are known
MARKDOWN_VALUED = frozenset({"markdown_total", "has_markdown"})
#: compared divided by the series' reference sales level (see `windows`)
SALES_VALUED = tuple(SALES_UNIT_FEATURES)


def compared_features(model_features: list[str] | None) -> list[tuple[str, str, str]]:
    """(feature, grain: dept | store, role: verdict | monitored) for each compared feature."""
    features = model_features or [f for f in MODEL_FEATURES if f not in YEAR_FEATURES]
    out = []
    for name in features:
        if name in CALENDAR:
            continue
        grain = "store" if name in STORE_FEATURES else "dept"
        if name in DEPT_FEATURES or name in STORE_FEATURES:
            out.append((name, grain, "monitored" if name in MONITORED else "verdict"))
    return out
