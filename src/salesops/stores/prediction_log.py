"""The prediction log: every served forecast with its features, for `drift` to read.

A request appends references to its arrays to an in-memory buffer (a few microseconds); a
background thread writes the buffer as one parquet part file every `serving.log_flush_s`
seconds, sooner when it holds `FLUSH_ROWS` rows, and once more when the server stops. Part
files are written under a temporary name and renamed, so a reader never sees half a file.

Columns: store, dept, week (the week forecast), the model's feature columns, prediction,
model_name, model_version, served_at (UTC).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from salesops.workspace import Workspace

FLUSH_ROWS = 20_000
PART_GLOB = "part-*.parquet"
log = logging.getLogger("salesops.serving")


@dataclass(frozen=True)
class _Batch:
    stores: np.ndarray
    depts: np.ndarray
    weeks: np.ndarray
    features: np.ndarray
    predictions: np.ndarray
    served_at: np.datetime64


class PredictionLog:
    def __init__(self, workspace: Workspace, model_name: str, model_version: str,
                 features: list[str], dtypes: dict[str, np.dtype], flush_s: float) -> None:
        self.folder = workspace.predictions
        self.model_name, self.model_version = model_name, model_version
        self.features, self.dtypes = features, dtypes
        self.flush_s = flush_s
        self._buffer: list[_Batch] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._parts = 0
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def append(self, stores, depts, weeks, features, predictions) -> None:
        batch = _Batch(stores, depts, weeks, features, predictions,
                       np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us"))
        with self._lock:
            self._buffer.append(batch)
            self._rows += len(stores)
            full = self._rows >= FLUSH_ROWS
        if full:
            self._wake.set()

    def close(self) -> None:
        """Stop the writer and write what is left."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()

    def flush(self) -> int:
        with self._lock:
            batches, self._buffer, self._rows = self._buffer, [], 0
        if not batches:
            return 0
        frame = self._frame(batches)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._parts += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"part-{stamp}-{os.getpid()}-{self._parts:06d}.parquet"
        tmp = path.with_name(f".{path.name}.tmp")
        frame.to_parquet(tmp, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
        os.replace(tmp, path)
        return len(frame)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # a full disk must not stop the server
                log.error("prediction log: could not write %s: %s", self.folder, exc)

    def _frame(self, batches: list[_Batch]) -> pd.DataFrame:
        features = np.concatenate([b.features for b in batches])
        columns = {
            "store": np.concatenate([b.stores for b in batches]),
            "dept": np.concatenate([b.depts for b in batches]),
            "week": pd.to_datetime(np.concatenate([b.weeks for b in batches])).tz_localize(UTC),
        }
        for i, name in enumerate(self.features):
            columns[name] = features[:, i].astype(self.dtypes[name], copy=False)
        columns["prediction"] = np.concatenate([b.predictions for b in batches])
        frame = pd.DataFrame(columns)
        frame["model_name"] = self.model_name
        frame["model_version"] = self.model_version
        served = np.concatenate([np.full(len(b.stores), b.served_at) for b in batches])
        frame["served_at"] = pd.to_datetime(served).tz_localize(UTC)
        return frame


def read_prediction_log(workspace: Workspace, since: datetime | None = None) -> pd.DataFrame:
    """Every logged prediction (served at or after `since`, when given), oldest first."""
    parts = sorted(workspace.predictions.glob(PART_GLOB))
    if not parts:
        return pd.DataFrame(columns=["store", "dept", "week", "prediction", "model_name",
                                     "model_version", "served_at"])
    filters = None
    if since is not None:
        since = pd.Timestamp(since)
        since = since.tz_localize(UTC) if since.tzinfo is None else since.tz_convert(UTC)
        filters = [("served_at", ">=", since)]
    # file by file: parts written by different model versions may hold different features
    frame = pd.concat([pd.read_parquet(part, filters=filters) for part in parts],
                      ignore_index=True)
    return frame.sort_values("served_at", kind="stable").reset_index(drop=True)
