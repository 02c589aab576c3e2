"""`drift` scores the served P10-P90 interval on arrived actuals (`monitoring.served`)."""

import numpy as np
import pytest
import pandas as pd

from salesops.monitoring.served import _coverage


def test_coverage_counts_actuals_inside_the_served_interval():
    served = pd.DataFrame({"prediction_p10": [1.0, 1.0, 1.0, np.nan],
                           "prediction_p90": [3.0, 3.0, 3.0, np.nan]})
    # inside, on the bound (inside), above; the last row was served by an older model
    assert _coverage(served, np.array([2.0, 3.0, 4.0, 2.0])) == pytest.approx(200.0 / 3)


def test_a_log_without_the_interval_has_no_coverage():
    assert _coverage(pd.DataFrame({"prediction": [1.0]}), np.array([1.0])) is None
    nothing = pd.DataFrame({"prediction_p10": [np.nan], "prediction_p90": [np.nan]})
    assert _coverage(nothing, np.array([1.0])) is None
