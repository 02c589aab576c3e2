"""Holdout metrics for the model and for the naive baselines it has to beat.

All metrics are in real sales units (not the model's log scale), because that is what a
planner reads and what the promotion gate compares. Percent metrics are percents (12.3, not
0.123).

Actuals are the true weekly sales, returns (negative weeks) included: the model forecasts
demand (>= 0), and a week of returns is a miss it really makes.

MAPE ignores rows whose actual is below `MAPE_FLOOR`: intermittent departments have weeks
with zero or near-zero sales (or returns), where |error| / actual is infinite or meaningless
and would swamp the mean. WAPE (sum |error| / sum |actual|) needs no such exclusion and
covers every row, which is why the promotion gate ranks by WAPE.

A baseline is scored only on the holdout rows where it has a forecast: the seasonal naive
needs a year of history, which young series lack. Each baseline also carries the model's
WAPE on exactly its rows (`model_wape`), so that the gate compares like with like.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesops.errors import CheckFailed, DataError

#: MAPE is computed over rows with actual >= MAPE_FLOOR (see the module docstring).
MAPE_FLOOR = 1.0

#: baseline name -> the feature column that is its forecast. All three are past-only
#: features (shift(1) before windows), so they are honest forecasts for the holdout week.
BASELINES: dict[str, str] = {
    "last_week": "sales_lag_1",
    "seasonal_naive": "sales_lag_52",
    "mean_4w": "sales_mean_4",
}

#: the metrics shown side by side in `metrics_rows`, in display order
TABLE_METRICS = ("mape", "wape", "rmse", "r2")


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAPE, WAPE, RMSE and R² of `predicted` against `actual`, plus the row counts used.

    A metric that is undefined for the data (no rows above the MAPE floor, all-zero actuals
    for WAPE, constant actuals for R²) is NaN rather than an arbitrary number.
    """
    actual = np.asarray(actual, dtype=np.float64).ravel()
    predicted = np.asarray(predicted, dtype=np.float64).ravel()
    if actual.shape != predicted.shape:
        raise DataError(f"metrics: {actual.size} actuals but {predicted.size} predictions")
    if actual.size == 0:
        raise DataError("metrics: no rows to evaluate")
    # A NaN would silently turn every metric into NaN (or, if dropped, compare the model and
    # the baselines on different rows), so it is an error that names the culprit.
    for name, values in (("actual", actual), ("predicted", predicted)):
        bad = int((~np.isfinite(values)).sum())
        if bad:
            raise DataError(f"metrics: {bad} non-finite {name} values of {values.size}")

    error = predicted - actual
    abs_error = np.abs(error)
    mape_mask = actual >= MAPE_FLOOR
    mape_rows = int(mape_mask.sum())
    mape = float(np.mean(abs_error[mape_mask] / actual[mape_mask]) * 100) if mape_rows else np.nan
    total = float(np.abs(actual).sum())
    wape = float(abs_error.sum() / total * 100) if total > 0 else np.nan
    rmse = float(np.sqrt(np.mean(error**2)))
    spread = float(((actual - actual.mean()) ** 2).sum())
    r2 = float(1.0 - (error**2).sum() / spread) if spread > 0 else np.nan
    return {
        "mape": mape,
        "wape": wape,
        "rmse": rmse,
        "r2": r2,
        "rows": int(actual.size),
        "mape_rows": mape_rows,
    }


def holdout_metrics(
    frame: pd.DataFrame, predicted: np.ndarray, target: str = "weekly_sales"
) -> tuple[dict[str, float], dict[str, dict]]:
    """The model's metrics on every row of `frame`, and `baseline_metrics` beside it."""
    predicted = np.asarray(predicted, dtype=np.float64).ravel()
    bad = int((~np.isfinite(predicted)).sum())
    if bad:
        # the inputs were checked before training, so this is the model's own failure
        raise CheckFailed(f"training failed: the model produced {bad:,} non-finite forecasts "
                          f"of {predicted.size:,} holdout rows")
    model = regression_metrics(frame[target].to_numpy(), predicted)
    return model, baseline_metrics(frame, predicted, target)


def baseline_metrics(
    frame: pd.DataFrame, predicted: np.ndarray | None = None, target: str = "weekly_sales"
) -> dict[str, dict]:
    """`regression_metrics` of every baseline in `BASELINES` on the rows of `frame` where it
    is defined, with `rows` = how many; with the model's `predicted`, also `model_wape`, the
    model's WAPE on those rows. A baseline defined on no row has rows 0 and None metrics."""
    missing = [c for c in [target, *BASELINES.values()] if c not in frame.columns]
    if missing:
        raise DataError(f"metrics: the holdout frame lacks column(s) {', '.join(missing)}")
    actual = frame[target].to_numpy(dtype=np.float64)
    out: dict[str, dict] = {}
    for name, column in BASELINES.items():
        forecast = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        defined = np.isfinite(forecast)
        if not defined.any():
            out[name] = {"rows": 0, "mape_rows": 0, **dict.fromkeys(TABLE_METRICS)}
            if predicted is not None:
                out[name]["model_wape"] = None
            continue
        out[name] = regression_metrics(actual[defined], forecast[defined])
        if predicted is not None:
            model = regression_metrics(actual[defined], np.asarray(predicted)[defined])
            out[name]["model_wape"] = model["wape"]
    return out


def best_baseline(baselines: dict[str, dict]) -> tuple[str, dict]:
    """The baseline with the lowest WAPE, each on its own rows (None or NaN never wins). A
    summary for benchmarks: the gate compares the model with each baseline on that
    baseline's rows instead (`registry.decide`)."""
    if not baselines:
        raise ValueError("best_baseline: no baselines given")

    def wape(item: tuple[str, dict]) -> float:
        value = item[1]["wape"]
        return np.inf if value is None or np.isnan(value) else value

    return min(baselines.items(), key=wape)


#: the interval's metrics (`training.intervals`): the model's; a baseline has no interval
INTERVAL_METRICS = ("coverage", "pinball")


def metrics_rows(model: dict[str, float], baselines: dict[str, dict],
                 references: dict[str, dict] | None = None) -> list[dict]:
    """One row per forecaster (the model first, then any reference model on every holdout
    row, then the baselines) for a table or JSON: name, rows, the `TABLE_METRICS`, the
    `INTERVAL_METRICS` (None but for the model), and for a baseline the model's WAPE on its
    rows."""
    rows = [{"name": "model", "rows": model["rows"], **{k: model[k] for k in TABLE_METRICS},
             **{k: model.get(k) for k in INTERVAL_METRICS}}]
    for name, m in (references or {}).items():
        rows.append({"name": name, "rows": m["rows"], **{k: m[k] for k in TABLE_METRICS},
                     **dict.fromkeys(INTERVAL_METRICS), "model_wape": model["wape"]})
    for name, m in baselines.items():
        rows.append({"name": name, "rows": m["rows"], **{k: m[k] for k in TABLE_METRICS},
                     **dict.fromkeys(INTERVAL_METRICS), "model_wape": m.get("model_wape")})
    return rows
