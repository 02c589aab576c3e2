import math

import numpy as np
import pandas as pd
import pytest

from salesops.errors import CheckFailed, DataError
from salesops.training.metrics import (
    BASELINES,
    MAPE_FLOOR,
    baseline_metrics,
    best_baseline,
    holdout_metrics,
    metrics_rows,
    regression_metrics,
)


def test_each_metric_by_hand():
    actual = np.array([100.0, 200.0, 300.0, 400.0])
    predicted = np.array([110.0, 180.0, 300.0, 440.0])
    m = regression_metrics(actual, predicted)
    # errors: +10, -20, 0, +40
    assert m["mape"] == pytest.approx((0.10 + 0.10 + 0.0 + 0.10) / 4 * 100)
    assert m["wape"] == pytest.approx(70 / 1000 * 100)
    assert m["rmse"] == pytest.approx(math.sqrt((100 + 400 + 0 + 1600) / 4))
    # mean 250: total sum of squares 22500 + 2500 + 2500 + 22500
    assert m["r2"] == pytest.approx(1 - 2100 / 50000)
    assert (m["rows"], m["mape_rows"]) == (4, 4)


def test_perfect_forecast():
    actual = np.array([3.0, 5.0, 8.0])
    m = regression_metrics(actual, actual.copy())
    assert (m["mape"], m["wape"], m["rmse"], m["r2"]) == (0.0, 0.0, 0.0, 1.0)


def test_mape_excludes_near_zero_actuals_but_wape_does_not():
    actual = np.array([0.0, 0.5, 100.0, 200.0])
    predicted = np.array([10.0, 10.0, 150.0, 200.0])
    m = regression_metrics(actual, predicted)
    assert MAPE_FLOOR > 0.5
    assert m["mape_rows"] == 2 and m["rows"] == 4
    assert m["mape"] == pytest.approx((0.5 + 0.0) / 2 * 100)
    assert m["wape"] == pytest.approx((10 + 9.5 + 50 + 0) / 300.5 * 100)
    assert math.isfinite(m["mape"])


def test_undefined_metrics_are_nan_not_numbers():
    m = regression_metrics(np.zeros(3), np.ones(3))
    assert math.isnan(m["mape"]) and math.isnan(m["wape"]) and math.isnan(m["r2"])
    assert m["rmse"] == pytest.approx(1.0)


def test_bad_input_is_a_data_error():
    with pytest.raises(DataError, match="non-finite predicted"):
        regression_metrics(np.ones(3), np.array([1.0, np.nan, 1.0]))
    with pytest.raises(DataError, match="3 actuals but 2 predictions"):
        regression_metrics(np.ones(3), np.ones(2))


def _holdout() -> pd.DataFrame:
    return pd.DataFrame({
        "weekly_sales": [100.0, 200.0],
        "sales_lag_1": [90.0, 220.0],  # errors 10, 20 -> WAPE 10 %
        "sales_lag_52": [100.0, 200.0],  # perfect -> WAPE 0 %
        "sales_mean_4": [50.0, 100.0],  # errors 50, 100 -> WAPE 50 %
        "other": [0.0, 0.0],
    })


def test_baseline_metrics_use_their_columns():
    frame = _holdout()
    baselines = baseline_metrics(frame)
    assert set(baselines) == set(BASELINES) == {"last_week", "seasonal_naive", "mean_4w"}
    assert baselines["last_week"]["wape"] == pytest.approx(10.0)
    assert baselines["seasonal_naive"]["wape"] == pytest.approx(0.0)
    assert baselines["mean_4w"]["wape"] == pytest.approx(50.0)
    assert baselines["mean_4w"]["mape"] == pytest.approx(50.0)


def test_baseline_metrics_name_a_missing_column():
    with pytest.raises(DataError, match="sales_lag_52"):
        baseline_metrics(_holdout().drop(columns="sales_lag_52"))


def test_best_baseline_is_lowest_wape():
    baselines = {
        "a": {"wape": 12.0, "mape": 1.0},
        "b": {"wape": 8.0, "mape": 99.0},
        "c": {"wape": float("nan"), "mape": 0.0},
        "d": {"wape": None, "mape": None},  # defined on no row
    }
    name, metrics = best_baseline(baselines)
    assert name == "b" and metrics["wape"] == 8.0
    assert best_baseline(baseline_metrics(_holdout()))[0] == "seasonal_naive"


def test_returns_count_at_their_size_in_wape_and_are_left_out_of_mape():
    # a week of returns (negative sales) is a real actual: its miss counts in WAPE, which
    # divides by the sum of |actual|; MAPE skips it (below the floor)
    actual = np.array([-50.0, 100.0])
    m = regression_metrics(actual, np.array([0.0, 100.0]))
    assert m["wape"] == pytest.approx(50 / 150 * 100)
    assert m["mape_rows"] == 1 and m["mape"] == 0.0


def _young_series_holdout() -> pd.DataFrame:
    """Four rows; the last two belong to a series younger than a year (no lag 52)."""
    return pd.DataFrame({
        "weekly_sales": [100.0, 200.0, 100.0, 300.0],
        "sales_lag_1": [90.0, 220.0, 100.0, 300.0],
        "sales_lag_52": [100.0, 180.0, np.nan, np.nan],  # errors 0, 20 on its two rows
        "sales_mean_4": [100.0, 200.0, 100.0, 300.0],
    })


def test_a_baseline_is_scored_only_on_the_rows_where_it_is_defined():
    predicted = np.array([110.0, 200.0, 100.0, 300.0])  # the model misses only row 0, by 10
    baselines = baseline_metrics(_young_series_holdout(), predicted)
    seasonal = baselines["seasonal_naive"]
    assert seasonal["rows"] == 2
    assert seasonal["wape"] == pytest.approx(20 / 300 * 100)
    # the model on the same two rows, not on all four
    assert seasonal["model_wape"] == pytest.approx(10 / 300 * 100)
    assert baselines["last_week"]["rows"] == 4
    assert baselines["last_week"]["model_wape"] == pytest.approx(10 / 700 * 100)


def test_a_baseline_defined_on_no_row_has_rows_0_and_no_metrics():
    frame = _young_series_holdout().assign(sales_lag_52=np.nan)
    seasonal = baseline_metrics(frame, frame["weekly_sales"].to_numpy())["seasonal_naive"]
    assert seasonal["rows"] == 0
    assert all(seasonal[k] is None for k in ("mape", "wape", "rmse", "r2", "model_wape"))


def test_holdout_metrics_score_the_model_on_every_row():
    frame = _young_series_holdout()
    model, baselines = holdout_metrics(frame, np.array([110.0, 200.0, 100.0, 300.0]))
    assert model["rows"] == 4 and model["wape"] == pytest.approx(10 / 700 * 100)
    assert [baselines[name]["rows"] for name in BASELINES] == [4, 2, 4]


def test_non_finite_model_forecasts_are_a_training_failure_not_bad_data():
    frame = _young_series_holdout()
    with pytest.raises(CheckFailed, match="the model produced 2 non-finite forecasts") as err:
        holdout_metrics(frame, np.array([np.nan, 1.0, np.inf, 1.0]))
    assert err.value.exit_code == 1 and "predicted" not in err.value.message


def test_metrics_rows_put_the_model_first_and_say_how_many_rows_each_is_scored_on():
    frame = _young_series_holdout()
    model, baselines = holdout_metrics(frame, np.array([110.0, 200.0, 100.0, 300.0]))
    model.update(coverage=75.0, pinball=12.5)  # the interval's (`training.intervals`)
    reference = regression_metrics(frame["weekly_sales"].to_numpy(),
                                   np.array([100.0, 210.0, 90.0, 310.0]))
    rows = metrics_rows(model, baselines, {"lightgbm": reference})
    assert [r["name"] for r in rows] == ["model", "lightgbm", "last_week",
                                         "seasonal_naive", "mean_4w"]
    assert set(rows[0]) == {"name", "rows", "mape", "wape", "rmse", "r2", "coverage",
                            "pinball"}
    assert rows[0]["wape"] == model["wape"] and rows[0]["rows"] == 4
    assert (rows[0]["coverage"], rows[0]["pinball"]) == (75.0, 12.5)
    # the reference is scored on every row, as the model: its model_wape is the model's
    assert rows[1]["wape"] == reference["wape"] and rows[1]["model_wape"] == model["wape"]
    assert rows[1]["coverage"] is None
    seasonal = rows[3]
    assert set(seasonal) == {"name", "rows", "mape", "wape", "model_wape", "rmse", "r2",
                             "coverage", "pinball"}
    assert seasonal["coverage"] is None
    assert seasonal["rows"] == 2
    assert seasonal["model_wape"] == pytest.approx(10 / 300 * 100)
