"""The `postgres` profile's tables: a build's offline tables and its manifest row, loaded and
read with COPY.

Offline tables are replaced atomically: each view is loaded into a staging table with COPY,
then one transaction drops the old tables, renames the staging ones into place and rewrites
the manifest row, so a build that fails or is killed half-way leaves every reader (Feast, a
training run) on the previous complete tables and their manifest.

The model servers' prediction log is a table here too (`PREDICTION_LOG_TABLE`): each flush
of a server's buffer is one COPY in one transaction.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping

import pandas as pd

from salesops.stores.postgres_server import PgTarget, connect

#: one row: the manifest of the last complete `features build` (written last, like the file)
MANIFEST_TABLE = "build_manifest"


def clear_staged_online(target: PgTarget) -> None:
    """Empty the online staging schema (a killed build's rows), which the build's Feast
    online store then fills; `switch_tables` puts it in place with the offline tables."""
    from psycopg import sql

    with connect(target) as conn:
        for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                     (target.online_staging_schema,)).fetchall():
            conn.execute(sql.SQL("DROP TABLE {}").format(
                sql.Identifier(target.online_staging_schema, table)))
        conn.commit()


def stage_table(target: PgTarget, name: str, frame: pd.DataFrame, append: bool) -> None:
    """Load `frame` into `<schema>.<name>__staging`: a new table (a killed build's is
    dropped), or more rows of it (`append`: a build's later part). One transaction."""
    from psycopg import sql

    staging = sql.Identifier(target.schema, f"{name}__staging")
    with connect(target) as conn:
        if not append:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(staging))
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(staging, _columns(frame)))
        _copy(conn, staging, frame)
        conn.commit()


def switch_tables(target: PgTarget, names: Iterable[str], manifest: Mapping[str, object]) -> None:
    """One transaction: the staged offline tables and online tables replace the current ones
    and the manifest row is rewritten, so every reader sees the old build or the new one,
    whole (Postgres DDL is transactional)."""
    from psycopg import sql

    from salesops.stores.postgres_lock import check_held

    with connect(target) as conn, conn.transaction():
        check_held(conn, target)  # no other build can have staged since this one did
        for name in names:
            table = sql.Identifier(target.schema, name)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
            conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(target.schema, f"{name}__staging"), sql.Identifier(name)))
        online = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                              (target.online_staging_schema,)).fetchall()
        for (name,) in online:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                sql.Identifier(target.schema, name)))
            conn.execute(sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                sql.Identifier(target.online_staging_schema, name),
                sql.Identifier(target.schema)))
        _write_manifest(conn, target, manifest)


def _columns(frame: pd.DataFrame):
    from psycopg import sql

    return sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(column),
                                                      sql.SQL(_sql_type(dtype)))
                              for column, dtype in frame.dtypes.items())


def _sql_type(dtype) -> str:
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "TIMESTAMPTZ"
    if pd.api.types.is_integer_dtype(dtype):
        return "BIGINT"
    if pd.api.types.is_float_dtype(dtype):
        return "DOUBLE PRECISION"
    return "TEXT"


#: rows rendered to CSV at a time when loading: bounds the text held in memory
COPY_CHUNK_ROWS = 200_000
#: how COPY renders timestamps: feature weeks are whole seconds; a served time is not
WEEK_FORMAT, MICROSECOND_FORMAT = "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f%z"


def _copy(conn, table, frame: pd.DataFrame, date_format: str = WEEK_FORMAT) -> None:
    """COPY in CSV form, a chunk of rows at a time; pandas formats the rows (NaN -> NULL)."""
    from psycopg import sql

    columns = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(table, columns)
    with conn.cursor().copy(statement) as copy:
        for start in range(0, len(frame), COPY_CHUNK_ROWS):
            chunk = frame.iloc[start : start + COPY_CHUNK_ROWS]
            copy.write(chunk.to_csv(index=False, header=False, na_rep="",
                                    date_format=date_format))


def read_table(target: PgTarget, name: str, columns: list[str]) -> pd.DataFrame:
    """Columns of a table, through COPY TO STDOUT and pandas' CSV reader (no Python rows)."""
    from psycopg import sql

    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.Identifier(target.schema, name))
    return _copy_out(target, query, ["event_timestamp"])


def _copy_out(target: PgTarget, query, timestamps: list[str]) -> pd.DataFrame:
    """The rows of `query` through COPY TO STDOUT and pandas' CSV reader; `timestamps`:
    the columns to parse as UTC times."""
    from psycopg import sql

    statement = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(query)
    buffer = io.BytesIO()
    with connect(target) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        with conn.cursor().copy(statement) as copy:
            for data in copy:
                buffer.write(data)
    buffer.seek(0)
    frame = pd.read_csv(buffer)
    for column in timestamps:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601").astype(
                "datetime64[us, UTC]")
    return frame


# -- the prediction log -----------------------------------------------------------------
#: one row per served forecast, from every model server of the profile
PREDICTION_LOG_TABLE = "prediction_log"
#: its columns besides the model's features, which get a column (DOUBLE PRECISION) each
#: when a model first logs them: versions may differ in their inputs
LOG_COLUMNS = {"store": "BIGINT", "dept": "BIGINT", "week": "TIMESTAMPTZ",
               "prediction": "DOUBLE PRECISION", "model_name": "TEXT", "model_version": "TEXT",
               "served_at": "TIMESTAMPTZ"}


def ensure_log_table(conn, target: PgTarget, columns: Iterable[str]) -> set[str]:
    """Create the log table and the feature columns it lacks of `columns`; returns all its
    columns. Under a transaction-level advisory lock: predictor pods start together, and
    concurrent `CREATE TABLE IF NOT EXISTS` can still collide in Postgres."""
    from psycopg import sql

    table = sql.Identifier(target.schema, PREDICTION_LOG_TABLE)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                     (f"{target.schema}.{PREDICTION_LOG_TABLE}",))
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(table, sql.SQL(", ")
                     .join(sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
                           for name, kind in LOG_COLUMNS.items())))
        conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (model_name, model_version, "
                             "served_at)").format(
            sql.Identifier(f"{PREDICTION_LOG_TABLE}_served"), table))
        present = _table_columns(conn, target.schema, PREDICTION_LOG_TABLE)
        for name in columns:
            if name not in present:
                conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} DOUBLE PRECISION").format(
                    table, sql.Identifier(name)))
                present.add(name)
    return present


def append_log(conn, target: PgTarget, frame: pd.DataFrame) -> None:
    """One flush of a server's log: one COPY, one transaction (readers see all of it or
    none); `ensure_log_table` made its columns."""
    from psycopg import sql

    with conn.transaction():
        _copy(conn, sql.Identifier(target.schema, PREDICTION_LOG_TABLE), frame,
              MICROSECOND_FORMAT)


def read_log(target: PgTarget, since: pd.Timestamp | None,
             model: tuple[str, str] | None) -> pd.DataFrame | None:
    """Logged rows served at or after `since`, of `model` (name, version) when given, oldest
    first, with the feature columns that hold values; None before the first write."""
    import psycopg
    from psycopg import sql

    where = [sql.SQL("TRUE")]
    if since is not None:
        where.append(sql.SQL("served_at >= {}").format(sql.Literal(since.isoformat())))
    if model is not None:
        where.append(sql.SQL("model_name = {} AND model_version = {}").format(
            sql.Literal(model[0]), sql.Literal(model[1])))
    query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY served_at").format(
        sql.Identifier(target.schema, PREDICTION_LOG_TABLE), sql.SQL(" AND ").join(where))
    try:
        frame = _copy_out(target, query, ["week", "served_at"])
    except psycopg.errors.UndefinedTable:
        return None
    features = [c for c in frame.columns if c not in LOG_COLUMNS]
    frame = frame.drop(columns=[c for c in features if frame[c].isna().all()])
    return frame.astype({"model_name": str, "model_version": str})


def _table_columns(conn, schema: str, table: str) -> set[str]:
    return {row[0] for row in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND "
        "table_name = %s", (schema, table)).fetchall()}


def _write_manifest(conn, target: PgTarget, manifest: Mapping[str, object]) -> None:
    """The build manifest on the server too: pods and teammates have no workspace file."""
    import json

    from psycopg import sql

    table = sql.Identifier(target.schema, MANIFEST_TABLE)
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id INT PRIMARY KEY, manifest JSONB "
                         "NOT NULL, written_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                 .format(table))
    conn.execute(sql.SQL("INSERT INTO {} (id, manifest) VALUES (1, %s) ON CONFLICT (id) DO "
                         "UPDATE SET manifest = EXCLUDED.manifest, written_at = now()")
                 .format(table), (json.dumps(manifest),))


def read_manifest(target: PgTarget) -> dict | None:
    """The last complete build's manifest, None before the first build."""
    import psycopg
    from psycopg import sql

    with connect(target) as conn:
        try:
            row = conn.execute(sql.SQL("SELECT manifest FROM {} WHERE id = 1").format(
                sql.Identifier(target.schema, MANIFEST_TABLE))).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return row[0] if row else None
