"""The `postgres` profile's server: one URL in, checks that say exactly what is wrong, the
schemas salesops uses, and the offline tables Feast reads.

Credentials: the password comes from `feature_store.postgres_url` (set it in the
environment as `SALESOPS_FEATURE_STORE__POSTGRES_URL` to keep it out of files), else libpq's
`PGPASSWORD`, else the file `feature_store.postgres_password_file`. It is never printed:
errors name the host, port, database and user only.

Offline tables are replaced atomically: each view is loaded into a staging table with COPY,
then one transaction drops the old tables, renames the staging ones into place and rewrites
the manifest row, so a build that fails or is killed half-way leaves every reader (Feast, a
training run) on the previous complete tables and their manifest.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import pandas as pd

from salesops.config import Settings
from salesops.errors import ConfigError, ServiceUnavailable

CONNECT_TIMEOUT_S = 5
#: the comment on the schemas `infra up` creates; `infra down` drops only schemas bearing it
OWNER_MARK = "created by salesops infra up"
#: one row: the manifest of the last complete `features build` (written last, like the file)
MANIFEST_TABLE = "build_manifest"


@dataclass(frozen=True)
class PgTarget:
    host: str
    port: int
    database: str
    user: str
    password: str
    sslmode: str
    schema: str

    @property
    def online_staging_schema(self) -> str:
        return online_staging_schema(self.schema)

    @property
    def mlflow_schema(self) -> str:
        """Where MLflow keeps its tables on the same server, beside the feature store's."""
        return f"{self.schema}_mlflow"

    @property
    def where(self) -> str:
        """Host, port, database and user: what an error may say (never the password)."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    def conninfo(self) -> dict[str, object]:
        return {"host": self.host, "port": self.port, "dbname": self.database,
                "user": self.user, "password": self.password, "sslmode": self.sslmode,
                "connect_timeout": CONNECT_TIMEOUT_S}

    def sqlalchemy_url(self, schema: str) -> str:
        """A SQLAlchemy URL (psycopg 3) whose connections use `schema` first."""
        auth = quote(self.user, safe="") + (
            ":" + _quote_password(self.password) if self.password else "")
        options = quote(f"-csearch_path={schema}", safe="")
        return (f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{self.database}"
                f"?sslmode={self.sslmode}&options={options}")


def online_staging_schema(schema: str) -> str:
    """Where a build writes its online rows before they switch in (see `switch_tables`)."""
    return f"{schema}_online_staging"


def pg_target(settings: Settings) -> PgTarget:
    fs = settings.feature_store
    if fs.postgres_url is None:
        raise ConfigError("feature_store.postgres_url is required with profile = \"postgres\"",
                          hint="e.g. SALESOPS_FEATURE_STORE__POSTGRES_URL="
                          "postgresql://USER:PASSWORD@HOST:5432/DATABASE")
    url = fs.postgres_url.get_secret_value()
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres") or not parts.hostname:
        raise ConfigError("feature_store.postgres_url must look like "
                          "postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ConfigError("feature_store.postgres_url names no database (…/DATABASE at the end)")
    try:
        port = parts.port or 5432
    except ValueError:
        raise ConfigError("feature_store.postgres_url has an invalid port") from None
    return PgTarget(host=parts.hostname, port=port, database=database,
                    user=unquote(parts.username or "postgres"),
                    password=_password(parts.password, fs.postgres_password_file),
                    sslmode=fs.postgres_sslmode, schema=fs.postgres_schema)


def _password(from_url: str | None, file) -> str:
    if from_url:
        return unquote(from_url)
    if os.environ.get("PGPASSWORD"):
        return os.environ["PGPASSWORD"]
    if file is not None:
        try:
            return file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"feature_store.postgres_password_file {file}: "
                              f"{exc.strerror or exc}") from None
    return ""


def _quote_password(password: str) -> str:
    # `${VAR}` stays readable: Feast expands environment variables in feature_store.yaml,
    # which is how a pod gets the password from its Secret without it being in the file.
    if password.startswith("${") and password.endswith("}"):
        return password
    return quote(password, safe="")


@contextmanager
def connect(target: PgTarget, autocommit: bool = False) -> Iterator:
    """A psycopg connection; connection failures become one precise line."""
    import psycopg

    try:
        conn = psycopg.connect(**target.conninfo(), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise _explain(target, exc) from None
    try:
        yield conn
    finally:
        conn.close()


def _explain(target: PgTarget, exc: Exception) -> Exception:
    text = str(exc)
    at = f"PostgreSQL at {target.host}:{target.port}"
    if "password authentication failed" in text or "no password supplied" in text:
        return ConfigError(f"{at} refused the password of user {target.user!r}",
                           hint="fix the password in feature_store.postgres_url, PGPASSWORD "
                           "or feature_store.postgres_password_file")
    if f'database "{target.database}" does not exist' in text:
        return ConfigError(f"{at} has no database {target.database!r}",
                           hint=f"create it: createdb -h {target.host} -p {target.port} "
                           f"-U {target.user} {target.database}")
    if f'role "{target.user}" does not exist' in text:
        return ConfigError(f"{at} has no user {target.user!r}")
    if "SSL" in text or "ssl" in text:
        return ConfigError(f"{at}: TLS negotiation failed with sslmode={target.sslmode}: "
                           f"{_first_line(text)}",
                           hint="a local server without TLS needs "
                           "feature_store.postgres_sslmode = \"disable\"")
    return ServiceUnavailable(f"{at} does not answer: {_first_line(text)}",
                              hint="start the server or fix feature_store.postgres_url")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def prepare(target: PgTarget) -> list[str]:
    """Check the server and create the schemas salesops needs; returns their names."""
    import psycopg
    from psycopg import sql

    schemas = [target.schema, target.online_staging_schema, target.mlflow_schema]
    with connect(target, autocommit=True) as conn:
        for schema in schemas:
            exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                                  (schema,)).fetchone()
            try:
                if not exists:
                    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                    # the mark `infra down` looks for: it drops only what salesops created
                    conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                        sql.Identifier(schema), sql.Literal(OWNER_MARK)))
            except psycopg.errors.InsufficientPrivilege:
                raise ConfigError(
                    f"user {target.user!r} may not create schema {schema!r} in database "
                    f"{target.database!r}",
                    hint=f"GRANT CREATE ON DATABASE {target.database} TO {target.user}, or "
                    f"create the schema as its owner") from None
            usable = conn.execute(
                "SELECT has_schema_privilege(%s, 'CREATE') AND has_schema_privilege(%s, "
                "'USAGE')", (schema, schema)).fetchone()[0]
            if not usable:
                raise ConfigError(f"user {target.user!r} lacks CREATE or USAGE on schema "
                                  f"{schema!r}",
                                  hint=f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {target.user}")
    return schemas


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


def drop_schemas(target: PgTarget) -> list[str]:
    """Remove the schemas salesops created on the server (`infra down`); a schema that was
    there before `infra up` (no mark) is left alone. Returns the dropped ones."""
    from psycopg import sql

    dropped = []
    with connect(target, autocommit=True) as conn:
        for schema in (target.schema, target.online_staging_schema, target.mlflow_schema):
            row = conn.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace "
                               "WHERE nspname = %s", (schema,)).fetchone()
            if row is not None and row[0] == OWNER_MARK:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
                dropped.append(schema)
    return dropped
