"""The prediction log: buffered appends become parquet parts that `read_prediction_log` reads."""

import time
from datetime import UTC, datetime, timedelta

import numpy as np

from salesops.stores.prediction_log import PredictionLog, read_prediction_log
from salesops.workspace import Workspace

FEATURES = ["sales_lag_1", "week_of_year"]
DTYPES = {"sales_lag_1": np.dtype("float64"), "week_of_year": np.dtype("int64")}


def append(log: PredictionLog, store: int, forecast: float) -> None:
    log.append(np.array([store]), np.array([3]), np.array(["2024-09-27"], "M8[s]"),
               np.array([[120.5, 39.0]]), np.array([forecast]))


def test_rows_are_written_on_close_with_their_features_and_version(tmp_path):
    workspace = Workspace(tmp_path)
    log = PredictionLog(workspace, "m", "7", FEATURES, DTYPES, flush_s=60)
    append(log, 1, 10.0)
    append(log, 2, 20.0)
    assert read_prediction_log(workspace).empty  # buffered, not yet written
    log.close()
    frame = read_prediction_log(workspace)
    assert frame[["store", "dept", "prediction", "model_version"]].values.tolist() == [
        [1, 3, 10.0, "7"], [2, 3, 20.0, "7"]]
    assert frame["week_of_year"].dtype == np.int64 and frame["sales_lag_1"].iloc[0] == 120.5
    assert str(frame["week"].iloc[0]) == "2024-09-27 00:00:00+00:00"
    assert frame["served_at"].dt.tz is not None


def test_background_flush_and_since(tmp_path):
    workspace = Workspace(tmp_path)
    log = PredictionLog(workspace, "m", "1", FEATURES, DTYPES, flush_s=0.05)
    append(log, 1, 1.0)
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while read_prediction_log(workspace).empty and datetime.now(UTC) < deadline:
        time.sleep(0.01)
    middle = datetime.now(UTC)
    append(log, 2, 2.0)
    log.close()
    assert len(list(workspace.predictions.glob("part-*.parquet"))) == 2
    assert read_prediction_log(workspace)["store"].tolist() == [1, 2]
    assert read_prediction_log(workspace, since=middle)["store"].tolist() == [2]

