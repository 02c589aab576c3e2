import numpy as np
import pandas as pd
import pytest

from salesops.errors import DataError
from salesops.training.inputs import CV_CLIP, LEVEL, input_names, model_inputs


def _frame(**overrides):
    row = {"store": 2, "dept": 7, "sales_mean_4": 999.0, "sales_lag_1": 1099.0,
           "sales_mean_8": 0.0, "sales_std_8": 50.0, "sales_yoy_ratio": 9.0,
           "markdown_total": 1500.0, "store_size": 150_000.0, "week_of_year": 40.0,
           "temperature": 61.5}
    row.update(overrides)
    return pd.DataFrame([row])


FEATURES = ["sales_lag_1", "sales_mean_4", "sales_mean_8", "sales_std_8", "sales_yoy_ratio",
            "markdown_total", "store_size", "week_of_year", "temperature"]


def test_sales_features_are_measured_against_the_recent_level():
    inputs = model_inputs(_frame(), FEATURES)
    values = dict(zip(input_names(FEATURES), inputs.x[0].tolist()))
    assert inputs.level[0] == pytest.approx(np.log(1000.0))
    assert values["level"] == pytest.approx(np.log(1000.0))
    assert values["sales_lag_1_vs_level"] == pytest.approx(np.log(1100 / 1000), rel=1e-5)
    assert values["sales_mean_8_vs_level"] == pytest.approx(-np.log(1000.0), rel=1e-5)
    assert values["sales_std_8_cv"] == CV_CLIP  # std / (mean + 1) = 50 at mean 0: clipped
    assert values["sales_yoy_ratio"] == 3.0  # clipped
    assert values["markdown_per_100sqft"] == pytest.approx(np.log1p(1.0))
    assert values["temperature"] == pytest.approx(61.5)
    assert "week_of_year" not in values and LEVEL not in values
    assert inputs.ids.tolist() == [[2, 7]]


def test_negative_sales_count_as_zero():
    inputs = model_inputs(_frame(sales_lag_1=-20.0), FEATURES)
    values = dict(zip(input_names(FEATURES), inputs.x[0].tolist()))
    assert values["sales_lag_1_vs_level"] == pytest.approx(-np.log(1000.0), rel=1e-5)


def test_missing_columns_are_named():
    with pytest.raises(DataError, match="dept, sales_lag_1"):
        model_inputs(_frame().drop(columns=["sales_lag_1", "dept"]), FEATURES)


def test_a_window_of_returns_keeps_its_spread_bounded():
    """[215, 0, -267, 0]: mean -13, std ~200; unclipped the CV was ~200, an input the network
    never saw, and its forecast overflowed to hundreds of millions (retail data)."""
    features = ["sales_mean_4", "sales_std_4"]
    frame = _frame(sales_mean_4=-12.9, sales_std_4=199.7)
    values = dict(zip(input_names(features), model_inputs(frame, features).x[0].tolist()))
    assert values["sales_std_4_cv"] == CV_CLIP
    normal = _frame(sales_mean_4=1000.0, sales_std_4=150.0)
    values = dict(zip(input_names(features), model_inputs(normal, features).x[0].tolist()))
    assert values["sales_std_4_cv"] == pytest.approx(150.0 / 1001.0)
