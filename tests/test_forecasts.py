"""A logged model's output read one way everywhere (`salesops.forecasts`), old or new."""

import numpy as np
import pandas as pd

from salesops.forecasts import QUANTILE_COLUMNS, Forecasts, point_forecast, read_output


def test_a_frame_with_quantiles():
    frame = pd.DataFrame({"forecast": [2.0, 5.0], "p10": [1.0, 4.0], "p50": [2.0, 5.0],
                          "p90": [3.0, 7.0]})
    out = read_output(frame)
    np.testing.assert_array_equal(out.forecast, [2.0, 5.0])
    np.testing.assert_array_equal(out.quantiles, [[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]])
    assert list(out.columns()) == ["forecast", *QUANTILE_COLUMNS]
    assert out.take([1]).columns()["p90"].tolist() == [7.0]


def test_a_model_saved_before_the_quantile_heads_answers_its_forecast_alone():
    for output in (np.array([2.0, 5.0]), np.array([[2.0], [5.0]]),
                   pd.DataFrame({"forecast": [2.0, 5.0]}), pd.Series([2.0, 5.0])):
        out = read_output(output)
        np.testing.assert_array_equal(out.forecast, [2.0, 5.0])
        assert out.quantiles is None and list(out.columns()) == ["forecast"]
    np.testing.assert_array_equal(point_forecast(np.array([1.5])), [1.5])


def test_equals_compares_every_column():
    a = Forecasts(np.array([1.0]), np.array([[0.5, 1.0, 2.0]]))
    assert a.equals(Forecasts(np.array([1.0]), np.array([[0.5, 1.0, 2.0]])))
    assert not a.equals(Forecasts(np.array([1.0]), np.array([[0.5, 1.0, 2.5]])))
    assert not a.equals(Forecasts(np.array([1.0]), None))
