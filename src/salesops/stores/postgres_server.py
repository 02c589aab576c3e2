"""The `postgres` profile's server: one URL in, checks that say exactly what is wrong, and
the schemas salesops uses (the tables are `postgres_tables`).

Credentials: the password comes from `feature_store.postgres_url` (set it in the
environment as `SALESOPS_FEATURE_STORE__POSTGRES_URL` to keep it out of files), else libpq's
`PGPASSWORD`, else the file `feature_store.postgres_password_file`. It is never printed:
errors name the host, port, database and user only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from salesops.config import Settings
from salesops.errors import ConfigError, ServiceUnavailable

CONNECT_TIMEOUT_S = 5
#: the comment on the schemas `infra up` creates; `infra down` drops only schemas bearing it
OWNER_MARK = "created by salesops infra up"


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
    """Where a build writes its online rows before they switch in (see
    `postgres_tables.switch_tables`)."""
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
def connect(target: PgTarget, autocommit: bool = False,
            application_name: str | None = None) -> Iterator:
    """A psycopg connection; connection failures become one precise line. The
    `application_name` shows in `pg_stat_activity` (the build lock's holder says who it is)."""
    import psycopg

    extra = {"application_name": application_name} if application_name else {}
    try:
        conn = psycopg.connect(**target.conninfo(), autocommit=autocommit, **extra)
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
