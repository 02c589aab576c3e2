"""Names of the feature views' columns: the one list that engineering, validation, the Feast
repo and (later) training and serving share; and the weeks of data a training run needs,
which `features build` checks before it replaces a store. Light on purpose: no pandas import.
"""

from salesops.data.calendar import HOLIDAYS as HOLIDAY_NAMES

TIMESTAMP = "event_timestamp"
#: the Feast entities' join keys: what a request names and what the model embeds
ENTITY_KEYS = ("store", "dept")
TARGET = "weekly_sales"
LAGS = (1, 2, 4, 8, 52)
WINDOWS = (4, 8, 52)
#: Feature rows start once this many weeks of history exist: the short lags and windows (up
#: to 8 weeks) are complete from there. The year features below stay null until their own
#: history exists, so a two-year data set still trains on its first year (holidays included).
MIN_HISTORY_WEEKS = 8
#: weeks of history the year features need: the year-on-year ratio compares the last 4 weeks
#: with weeks t-56..t-53, the longest reach of any feature.
YEAR_HISTORY_WEEKS = 56

DEPT_FEATURES = (
    [f"sales_lag_{lag}" for lag in LAGS]
    + [f"sales_{stat}_{w}" for w in WINDOWS for stat in ("mean", "std")]
    + ["sales_zero_share_8", "sales_yoy_ratio"]
)
#: features in sales dollars (lags, window means and stds): compared against a series' level
#: rather than raw; lags and means are negative after a week of returns
SALES_UNIT_FEATURES = [f for f in DEPT_FEATURES
                       if f.startswith(("sales_lag_", "sales_mean_", "sales_std_"))]
#: null in the rows of a series' first year (see YEAR_HISTORY_WEEKS); never null online once
#: a series has that much history
YEAR_FEATURES = ["sales_lag_52", "sales_mean_52", "sales_std_52", "sales_yoy_ratio"]
#: signed weeks from the nearest week of each holiday (-2: two weeks before), clipped
HOLIDAY_OFFSET_FEATURES = [f"{name}_week_offset" for name in HOLIDAY_NAMES]
STORE_INT_FEATURES = [
    "week_of_year", "month", "quarter", "is_holiday", "weeks_to_holiday",
    "weeks_since_holiday", *HOLIDAY_OFFSET_FEATURES, "has_markdown", "markdown_known",
    "store_type", "store_size",
]
STORE_FEATURES = [
    "week_of_year", "month", "quarter", "week_sin", "week_cos",
    "is_holiday", "weeks_to_holiday", "weeks_since_holiday", *HOLIDAY_OFFSET_FEATURES,
    "temperature", "fuel_price", "markdown_total", "has_markdown", "markdown_known", "cpi",
    "unemployment",
    "store_type", "store_size",
]
VIEWS = ("dept_weekly", "store_weekly", "sales_target")
#: What the model sees, in order: `inference_features` = dept_weekly + store_weekly.
MODEL_FEATURES = DEPT_FEATURES + STORE_FEATURES

#: early stopping watches the last weeks before the holdout, never the holdout itself,
#: so the holdout metrics that the promotion gate reads stay unbiased
VALIDATION_WEEKS = 4
#: the fewest weeks a model is fitted on
MIN_FIT_WEEKS = 8


def feature_weeks_needed(holdout_weeks: int) -> int:
    """Weeks of training rows: fitting, early-stopping validation and holdout."""
    return MIN_FIT_WEEKS + VALIDATION_WEEKS + holdout_weeks


def data_weeks_needed(history_weeks: int, holdout_weeks: int) -> int:
    """Weeks of sales data before the first training row exists, plus the rows' weeks."""
    return max(history_weeks, MIN_HISTORY_WEEKS) + feature_weeks_needed(holdout_weeks)


def weeks_needed_text(history_weeks: int, holdout_weeks: int) -> str:
    return (f"{max(history_weeks, MIN_HISTORY_WEEKS)} of history before the first training "
            f"row (training.history_weeks), {MIN_FIT_WEEKS} to fit on, {VALIDATION_WEEKS} for "
            f"early stopping and {holdout_weeks} holdout weeks (training.holdout_weeks)")
