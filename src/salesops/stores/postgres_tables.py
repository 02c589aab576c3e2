"""The `postgres` profile's tables: a build's offline tables and its manifest row, loaded and
read with COPY.

Offline tables are replaced atomically: each view is loaded into a staging table with COPY,
then one transaction drops the old tables, renames the staging ones into place and rewrites
the manifest row, so a build that fails or is killed half-way leaves every reader (Feast, a
training run) on the previous complete tables and their manifest.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping

import pandas as pd

from salesops.stores.postgres_server import PgTarget, connect

#: one row: the manifest of the last complete `features build` (written last, like the file)
MANIFEST_TABLE = "build_manifest"


def stage_tables(target: PgTarget, frames: Mapping[str, pd.DataFrame]) -> None:
    """Load every frame into `<schema>.<name>__staging`, and empty the online staging schema
    (a killed build's rows), which the build's Feast online store then fills; `switch_tables`
    puts both in place."""
    from psycopg import sql

    with connect(target) as conn:
        for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                     (target.online_staging_schema,)).fetchall():
            conn.execute(sql.SQL("DROP TABLE {}").format(
                sql.Identifier(target.online_staging_schema, table)))
        conn.commit()
        for name, frame in frames.items():
            staging = sql.Identifier(target.schema, f"{name}__staging")
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(staging))
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(staging, _columns(frame)))
            _copy(conn, staging, frame)
            conn.commit()


def switch_tables(target: PgTarget, names: Iterable[str], manifest: Mapping[str, object]) -> None:
    """One transaction: the staged offline tables and online tables replace the current ones
    and the manifest row is rewritten, so every reader sees the old build or the new one,
    whole (Postgres DDL is transactional)."""
    from psycopg import sql

    with connect(target) as conn, conn.transaction():
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

    types = []
    for column, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.DatetimeTZDtype):
            kind = "TIMESTAMPTZ"
        elif pd.api.types.is_integer_dtype(dtype):
            kind = "BIGINT"
        elif pd.api.types.is_float_dtype(dtype):
            kind = "DOUBLE PRECISION"
        else:
            kind = "TEXT"
        types.append(sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(kind)))
    return sql.SQL(", ").join(types)


#: rows rendered to CSV at a time when loading: bounds the text held in memory
COPY_CHUNK_ROWS = 200_000


def _copy(conn, table, frame: pd.DataFrame) -> None:
    """COPY in CSV form, a chunk of rows at a time; pandas formats the rows (NaN -> NULL)."""
    from psycopg import sql

    columns = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(table, columns)
    with conn.cursor().copy(statement) as copy:
        for start in range(0, len(frame), COPY_CHUNK_ROWS):
            chunk = frame.iloc[start : start + COPY_CHUNK_ROWS]
            copy.write(chunk.to_csv(index=False, header=False, na_rep="",
                                    date_format="%Y-%m-%d %H:%M:%S%z"))


def read_table(target: PgTarget, name: str, columns: list[str]) -> pd.DataFrame:
    """Columns of a table, through COPY TO STDOUT and pandas' CSV reader (no Python rows)."""
    from psycopg import sql

    query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT WITH (FORMAT csv, HEADER)").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.Identifier(target.schema, name))
    buffer = io.BytesIO()
    with connect(target) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        with conn.cursor().copy(query) as copy:
            for data in copy:
                buffer.write(data)
    buffer.seek(0)
    frame = pd.read_csv(buffer)
    if "event_timestamp" in frame:
        frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True).astype(
            "datetime64[us, UTC]")
    return frame


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
