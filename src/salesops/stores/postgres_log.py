"""The postgres profile's prediction log: a table on the profile's server, which every model
server of a cluster (each predictor pod) writes and a `drift` run anywhere reads; a pod's
own filesystem is seen by nobody else.

One connection per server, opened at the first flush and kept; each flush is one COPY in
one transaction (`postgres_tables.append_log`), never a statement per request. A flush that
fails drops that connection (the next flush opens a new one); the buffering and the error
line are `prediction_log.PredictionLog`'s.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from typing import TYPE_CHECKING

from salesops.config import Settings
from salesops.stores import postgres_server as server
from salesops.stores import postgres_tables as tables

if TYPE_CHECKING:
    import pandas as pd


class PostgresPredictions:
    def __init__(self, settings: Settings) -> None:
        self.target = server.pg_target(settings)
        self.where = (f"PostgreSQL {self.target.where}, table "
                      f"{self.target.schema}.{tables.PREDICTION_LOG_TABLE}")
        self._held: ExitStack | None = None
        self._conn = None
        self._columns: set[str] = set()  # the table's columns, once made sure of

    def write(self, frame: pd.DataFrame) -> None:
        try:
            conn = self._connection()
            if not set(frame.columns) <= self._columns:
                self._columns = tables.ensure_log_table(
                    conn, self.target, [c for c in frame.columns if c not in tables.LOG_COLUMNS])
            tables.append_log(conn, self.target, frame)
        except BaseException:
            self.close()  # perhaps a broken connection: the next flush opens a new one
            raise

    def read(self, since: datetime | None = None,
             model: tuple[str, str] | None = None) -> pd.DataFrame:
        import pandas as pd

        from salesops.stores.prediction_log import BASE_COLUMNS, utc

        frame = tables.read_log(self.target, None if since is None else utc(since), model)
        return pd.DataFrame(columns=BASE_COLUMNS) if frame is None else frame

    def close(self) -> None:
        if self._held is not None:
            self._held.close()
        self._held = self._conn = None
        self._columns = set()

    def _connection(self):
        if self._conn is None:
            held = ExitStack()
            self._conn = held.enter_context(server.connect(self.target, autocommit=True))
            self._held = held
        return self._conn
