"""The prediction log: buffered appends become one write per flush, to the profile's store:
parquet parts in the workspace (embedded), a table on the Postgres server (postgres)."""

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from salesops.config import load_settings
from salesops.forecasts import Forecasts
from salesops.stores import offline_store, prediction_store
from salesops.stores.postgres_log import PostgresPredictions
from salesops.stores.prediction_log import (
    ParquetPredictions,
    PredictionLog,
    read_prediction_log,
)
from salesops.workspace import Workspace

from tests.features.test_postgres_profile import PG, database  # noqa: F401  (a fixture)

FEATURES = ["sales_lag_1", "week_of_year"]
DTYPES = {"sales_lag_1": np.dtype("float64"), "week_of_year": np.dtype("int64")}


def settings(workspace, database=None):
    overrides = {"project": {"workspace": str(workspace)}}
    if database is not None:
        overrides["feature_store"] = {
            "profile": "postgres",
            "postgres_url": f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{database}"}
    return load_settings(overrides=overrides)


def append(log: PredictionLog, store: int, forecast: float, lag: float = 120.5) -> None:
    log.append(np.array([store]), np.array([3]), np.array(["2024-09-27"], "M8[s]"),
               np.array([[lag, 39.0]]), Forecasts(np.array([forecast]), None))


def test_the_profile_chooses_where_the_log_goes(tmp_path):
    assert type(prediction_store(settings(tmp_path))) is ParquetPredictions
    assert type(prediction_store(settings(tmp_path, "any"))) is PostgresPredictions


def test_rows_are_written_on_close_with_their_features_and_version(tmp_path):
    workspace = Workspace(tmp_path)
    log = PredictionLog(ParquetPredictions(settings(tmp_path)), "m", "7", FEATURES, DTYPES,
                        flush_s=60)
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
    log = PredictionLog(ParquetPredictions(settings(tmp_path)), "m", "1", FEATURES, DTYPES,
                        flush_s=0.05)
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


def on_postgres(tmp_path, database):
    """The postgres profile's settings, with the schemas `infra up` makes."""
    chosen = settings(tmp_path, database)
    offline_store(chosen).prepare()
    return chosen


def _rows_per_transaction(database: str) -> list[int]:
    """Rows of the log table by the transaction that inserted them (`xmin`), in order."""
    import psycopg

    with psycopg.connect(**PG, dbname=database) as conn:
        return [n for _, n in conn.execute(
            "SELECT xmin::text::bigint AS tx, count(*) FROM salesops.prediction_log "
            "GROUP BY tx ORDER BY tx").fetchall()]


@pytest.mark.slow
def test_on_postgres_one_flush_is_one_write_of_all_its_requests(tmp_path, database):  # noqa: F811
    store = prediction_store(on_postgres(tmp_path, database))
    log = PredictionLog(store, "m", "1", FEATURES, DTYPES, flush_s=600)
    for i in range(100):  # 100 requests, one flush
        append(log, i, float(i))
    assert log.flush() == 100
    for i in range(100, 150):
        append(log, i, float(i))
    log.close()  # the rest, in a second flush
    assert _rows_per_transaction(database) == [100, 50]
    assert store.read()["store"].tolist() == list(range(150))


@pytest.mark.slow
def test_on_postgres_the_log_reads_back_exactly_by_model_and_time(tmp_path, database):  # noqa: F811
    store = prediction_store(on_postgres(tmp_path, database))
    first = PredictionLog(store, "m", "1", FEATURES, DTYPES, flush_s=600)
    append(first, 1, 10.25, lag=1 / 3)
    first.close()
    middle = datetime.now(UTC)
    # a version with other inputs: the table gets a column for the new one
    second = PredictionLog(prediction_store(on_postgres(tmp_path, database)), "m", "2",
                           [*FEATURES, "cpi"], {**DTYPES, "cpi": np.dtype("float64")},
                           flush_s=600)
    second.append(np.array([2]), np.array([4]), np.array(["2024-10-04"], "M8[s]"),
                  np.array([[5.0, 40.0, 211.5]]), Forecasts(np.array([20.5]), None))
    second.close()

    v1 = store.read(model=("m", "1"))
    assert v1[["store", "dept", "prediction", "model_name", "model_version"]].values.tolist() \
        == [[1, 3, 10.25, "m", "1"]]
    assert v1["sales_lag_1"].iloc[0] == 1 / 3  # every digit of a float
    assert "cpi" not in v1  # not an input of v1
    assert str(v1["week"].iloc[0]) == "2024-09-27 00:00:00+00:00"
    assert v1["served_at"].iloc[0] < middle <= store.read(model=("m", "2"))["served_at"].iloc[0]
    assert store.read(model=("m", "2"))["cpi"].tolist() == [211.5]
    assert store.read(since=middle)["model_version"].tolist() == ["2"]
    assert store.read()["store"].tolist() == [1, 2]

    # a model with quantiles logs its interval, which `drift` scores; the table grows
    # the two columns on its first write
    third = PredictionLog(prediction_store(on_postgres(tmp_path, database)), "m", "3",
                          FEATURES, DTYPES, flush_s=600)
    third.append(np.array([3]), np.array([1]), np.array(["2024-10-04"], "M8[s]"),
                 np.array([[6.0, 40.0]]), Forecasts(np.array([30.0]), np.array([[25.0, 30.0,
                                                                                 36.5]])))
    third.close()
    v3 = store.read(model=("m", "3"))
    assert v3[["prediction", "prediction_p10", "prediction_p90"]].values.tolist() == [
        [30.0, 25.0, 36.5]]


@pytest.mark.slow
def test_on_postgres_reading_before_any_server_wrote_is_empty(tmp_path, database):  # noqa: F811
    assert prediction_store(on_postgres(tmp_path, database)).read().empty
