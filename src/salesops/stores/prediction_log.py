"""The prediction log: every served forecast with its features, for `drift` to read.

A request appends references to its arrays to an in-memory buffer (a few microseconds); a
background thread hands the buffer, as one frame, to the profile's log store every
`serving.log_flush_s` seconds, sooner when it holds `FLUSH_ROWS` rows, and once more when
the server stops: one write per flush, never one per request. Where the rows go is the
stores factory's choice (`stores.prediction_log`): parquet part files in the workspace on
the embedded profile (`ParquetPredictions`, here), a table on the Postgres server on the
postgres profile (`postgres_log`), where every predictor pod of a cluster writes and a
`drift` run anywhere reads.

Columns: store, dept, week (the week forecast), the model's feature columns, prediction,
model_name, model_version, served_at (UTC); and `prediction_p10`, `prediction_p90` (the
interval, for `drift`'s coverage) from a model with quantiles.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import pandas as pd

from salesops.config import Settings
from salesops.forecasts import Forecasts
from salesops.workspace import Workspace

FLUSH_ROWS = 20_000
PART_GLOB = "part-*.parquet"
#: the interval's columns, logged by a model with quantiles (store and read as features are)
INTERVAL_COLUMNS = ("prediction_p10", "prediction_p90")
#: the columns every log store returns, besides the model's features
BASE_COLUMNS = ["store", "dept", "week", "prediction", "model_name", "model_version",
                "served_at"]
log = logging.getLogger("salesops.serving")


class PredictionStore(Protocol):
    """Where a profile keeps the log: one `write` per flush, `read` for `drift`."""

    #: what an error message calls it (a folder, a server's table)
    where: str

    def write(self, frame: pd.DataFrame) -> None:
        """Append one flush's rows, as one write."""

    def read(self, since: datetime | None = None,
             model: tuple[str, str] | None = None) -> pd.DataFrame:
        """Logged rows served at or after `since` (by `model`: name, version), oldest
        first."""

    def close(self) -> None:
        """Release what `write` holds open (a connection)."""


@dataclass(frozen=True)
class _Batch:
    stores: np.ndarray
    depts: np.ndarray
    weeks: np.ndarray
    features: np.ndarray
    predictions: Forecasts
    served_at: np.datetime64


class PredictionLog:
    def __init__(self, store: PredictionStore, model_name: str, model_version: str,
                 features: list[str], dtypes: dict[str, np.dtype], flush_s: float) -> None:
        self.store = store
        self.model_name, self.model_version = model_name, model_version
        self.features, self.dtypes = features, dtypes
        self.flush_s = flush_s
        self._buffer: list[_Batch] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def append(self, stores, depts, weeks, features, predictions: Forecasts) -> None:
        batch = _Batch(stores, depts, weeks, features, predictions,
                       np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us"))
        with self._lock:
            self._buffer.append(batch)
            self._rows += len(stores)
            full = self._rows >= FLUSH_ROWS
        if full:
            self._wake.set()

    def close(self) -> None:
        """Stop the writer, write what is left, release the store."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=30)
        try:
            self.flush()
        finally:
            self.store.close()

    def flush(self) -> int:
        with self._lock:
            batches, self._buffer, self._rows = self._buffer, [], 0
        if not batches:
            return 0
        frame = self._frame(batches)
        self.store.write(frame)
        return len(frame)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # a full disk or a lost server must not stop serving
                log.error("prediction log: could not write to %s: %s", self.store.where, exc)

    def _frame(self, batches: list[_Batch]) -> pd.DataFrame:
        features = np.concatenate([b.features for b in batches])
        columns = {
            "store": np.concatenate([b.stores for b in batches]),
            "dept": np.concatenate([b.depts for b in batches]),
            "week": pd.to_datetime(np.concatenate([b.weeks for b in batches])).tz_localize(UTC),
        }
        for i, name in enumerate(self.features):
            columns[name] = features[:, i].astype(self.dtypes[name], copy=False)
        columns["prediction"] = np.concatenate([b.predictions.forecast for b in batches])
        if all(b.predictions.quantiles is not None for b in batches):
            interval = np.concatenate([b.predictions.quantiles[:, [0, -1]] for b in batches])
            columns.update(zip(INTERVAL_COLUMNS, interval.T))
        frame = pd.DataFrame(columns)
        frame["model_name"] = self.model_name
        frame["model_version"] = self.model_version
        served = np.concatenate([np.full(len(b.stores), b.served_at) for b in batches])
        frame["served_at"] = pd.to_datetime(served).tz_localize(UTC)
        return frame


class ParquetPredictions:
    """The embedded profile's log: one parquet part file per flush in the workspace, written
    under a temporary name and renamed, so a reader never sees half a file."""

    def __init__(self, settings: Settings) -> None:
        self.workspace = Workspace(settings.workspace)
        self.folder = self.workspace.predictions
        self.where = str(self.folder)
        self._parts = 0

    def write(self, frame: pd.DataFrame) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._parts += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"part-{stamp}-{os.getpid()}-{self._parts:06d}.parquet"
        tmp = path.with_name(f".{path.name}.tmp")
        frame.to_parquet(tmp, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
        os.replace(tmp, path)

    def read(self, since: datetime | None = None,
             model: tuple[str, str] | None = None) -> pd.DataFrame:
        frame = read_prediction_log(self.workspace, since)
        if model is not None:
            keep = (frame["model_name"] == model[0]) & (
                frame["model_version"].astype(str) == model[1])
            frame = frame[keep].reset_index(drop=True)
        return frame

    def close(self) -> None:
        """Nothing held open between part files."""


def utc(moment: datetime) -> pd.Timestamp:
    """`moment` as a UTC timestamp (a naive one is taken as UTC)."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def read_prediction_log(workspace: Workspace, since: datetime | None = None) -> pd.DataFrame:
    """Every prediction logged in `workspace`'s part files (served at or after `since`, when
    given), oldest first."""
    parts = sorted(workspace.predictions.glob(PART_GLOB))
    if not parts:
        return pd.DataFrame(columns=BASE_COLUMNS)
    filters = None if since is None else [("served_at", ">=", utc(since))]
    # file by file: parts written by different model versions may hold different features
    frame = pd.concat([pd.read_parquet(part, filters=filters) for part in parts],
                      ignore_index=True)
    return frame.sort_values("served_at", kind="stable").reset_index(drop=True)
