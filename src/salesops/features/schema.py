"""Names of the feature views' columns: the one list that engineering, validation, the Feast
repo and (later) training and serving share. Light on purpose: no pandas import."""

TIMESTAMP = "event_timestamp"
TARGET = "weekly_sales"
LAGS = (1, 2, 4, 8, 52)
WINDOWS = (4, 8, 52)
#: Feature rows start once this many weeks of history exist: the year-on-year ratio compares
#: the last 4 weeks with weeks t-56..t-53, the longest reach of any feature.
MIN_HISTORY_WEEKS = 56

DEPT_FEATURES = (
    [f"sales_lag_{lag}" for lag in LAGS]
    + [f"sales_{stat}_{w}" for w in WINDOWS for stat in ("mean", "std")]
    + ["sales_zero_share_8", "sales_yoy_ratio"]
)
STORE_INT_FEATURES = [
    "week_of_year", "month", "quarter", "is_holiday", "weeks_to_holiday",
    "weeks_since_holiday", "has_markdown", "store_type", "store_size",
]
STORE_FEATURES = [
    "week_of_year", "month", "quarter", "week_sin", "week_cos",
    "is_holiday", "weeks_to_holiday", "weeks_since_holiday",
    "temperature", "fuel_price", "markdown_total", "has_markdown", "cpi", "unemployment",
    "store_type", "store_size",
]
VIEWS = ("dept_weekly", "store_weekly", "sales_target")
#: What the model sees, in order: `inference_features` = dept_weekly + store_weekly.
MODEL_FEATURES = DEPT_FEATURES + STORE_FEATURES
