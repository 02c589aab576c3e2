"""MLflow connection: where runs and the registry live, and one clear line, within seconds,
when that store cannot be used.

MLflow's own retries are long: a database it cannot open is retried for ~100 s (ten
attempts, exponential back-off, not configurable) before a raw driver error, and an HTTP
server that answers 5xx for ~4 minutes. So the store is probed first, once, with a short
timeout (a database connection, or the server's /health), and MLflow's HTTP retries are
capped (`HTTP_DEFAULTS`, unless set in the environment). A store that does not answer is
exit 5; one that answers but refuses (no such database, user, password; not an MLflow
server) is exit 2. Messages name the store with its credentials masked.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from salesops.config import Settings
from salesops.errors import ConfigError, PreconditionError, ServiceUnavailable
from salesops.masking import mask_url
from salesops.workspace import Workspace

#: seconds to wait for a tracking server or database to answer the probe
PROBE_TIMEOUT_S = 5
#: MLflow's HTTP client: 2 retries 1 s and 2 s apart, 20 s per request (MLflow: 7 retries
#: with back-off factor 2, 120 s timeout)
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
#: a driver's words for "the server answered and refused": a setting to fix, not to retry
_REFUSALS = ("does not exist", "password authentication failed", "no password supplied",
             "no pg_hba.conf entry", "access denied", "unknown database", "ssl")
#: a table every MLflow registry database has once MLflow has used it
_REGISTRY_TABLE = "registered_models"


def tracking_uri(settings: Settings) -> str:
    """`mlflow.tracking_uri`; else, on the `postgres` profile, the same server (schema
    `<postgres_schema>_mlflow`); else a SQLite store in the workspace."""
    if settings.mlflow.tracking_uri:
        return settings.mlflow.tracking_uri
    from salesops.stores import offline_store

    return offline_store(settings).tracking_uri(Workspace(settings.workspace))


def describe(uri: str) -> str:
    """What a message says for a store: a SQLite file's path; else the URI without its
    query (connection options), credentials masked."""
    parts = urlsplit(uri)
    if parts.scheme == "sqlite":
        return parts.path[1:]  # sqlite:///relative.db, sqlite:////absolute.db
    return mask_url(urlunsplit(parts._replace(query="", fragment="")))


def check_reachable(settings: Settings) -> None:
    """Fail fast, before any training, when the tracking store cannot be used."""
    _probe(tracking_uri(settings), settings, read_only=False)


def warm_up(settings: Settings) -> None:
    """MLflow imported and its store opened read-only, ahead of a registration: the
    launching process of `train submit` does it while rank 0 builds the training set (one
    core idle then), and `publish` finds both done (2.5 s at 1M rows). Read-only, so it
    never creates the experiment that rank 0 may be creating."""
    Tracking.open(settings, read_only=True)


@dataclass(frozen=True)
class Tracking:
    """MLflow, opened: the store, the experiment, and what messages call it. Each open probes
    the store once (seconds at most, see `_probe`), so a store that went away is named then.

    Opening points MLflow (tracking and registry) at the store, so `mlflow.pyfunc`, runs and
    `registry` read and write there. Read-only (`models list`, drift, serving) never creates
    the store's database, its tables or the experiment: without a registry it raises
    PreconditionError naming where it looked.
    """

    uri: str
    experiment_id: str | None  # None: read-only, and the experiment does not exist
    read_only: bool

    @classmethod
    def open(cls, settings: Settings, *, read_only: bool) -> Tracking:
        _quiet_mlflow()
        import mlflow
        from mlflow.exceptions import MlflowException

        uri = tracking_uri(settings)
        _probe(uri, settings, read_only)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            experiment = mlflow.get_experiment_by_name(settings.mlflow.experiment)
        except MlflowException as exc:
            raise _api_failed(uri, str(exc)) from None
        if experiment is not None:
            return cls(uri, experiment.experiment_id, read_only)
        if read_only:
            return cls(uri, None, read_only)
        artifacts = Workspace(settings.workspace).root / "mlartifacts"
        # a database-backed store keeps artifacts in the workspace; a tracking server, its own
        location = None if _is_http(uri) else artifacts.as_uri()
        return cls(uri, mlflow.create_experiment(settings.mlflow.experiment,
                                                 artifact_location=location), read_only)

    @property
    def where(self) -> str:
        return describe(self.uri)


def not_found(exc: Exception) -> bool:
    """Whether an MLflow error says that what was asked for does not exist (a registered
    model, a version, an alias), rather than that the store failed to answer."""
    code = getattr(exc, "error_code", None)
    # a missing alias is INVALID_PARAMETER_VALUE "Registered model alias … not found."
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc))


def no_such_version(exc: Exception) -> bool:
    """Whether an MLflow error of a version lookup means there is no such version: not
    found, or a version that is not a number (INVALID_PARAMETER_VALUE)."""
    return getattr(exc, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST",
                                                "INVALID_PARAMETER_VALUE")


def store_failed(exc: Exception) -> Exception:
    """Any other MLflow error of a registry call, as the error a command exits with."""
    import mlflow

    return _api_failed(mlflow.get_registry_uri(), str(exc))


def _quiet_mlflow() -> None:
    # MLflow's INFO lines (database migrations on first use) and SQLAlchemy's deprecation
    # notices from inside MLflow are noise on a command line; warnings and errors still show
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", message=".*``noload`` loader strategy is deprecated")


def _is_http(uri: str) -> bool:
    return urlsplit(uri).scheme in ("http", "https")


def _probe(uri: str, settings: Settings, read_only: bool) -> None:
    scheme = urlsplit(uri).scheme
    if scheme in ("http", "https"):
        _check_server(uri)
    elif scheme == "sqlite":
        path = Path(describe(uri))
        # an existing file without MLflow's tables counts as none: MLflow would create them
        if read_only and not (path.is_file() and _database_has_registry(uri)):
            raise PreconditionError(f"no MLflow tracking store in {path.parent} (no "
                                    f"{path.name}): no model was trained with this workspace",
                                    hint="run `salesops train submit` first, or point "
                                    "project.workspace at the workspace that has one")
    elif scheme:
        if not _database_has_registry(uri) and read_only:
            raise PreconditionError(f"the MLflow tracking store {describe(uri)} holds no "
                                    "registry: no model was trained with it",
                                    hint="run `salesops train submit` first")


def _database_has_registry(uri: str) -> bool:
    """Connect once, with a timeout; whether MLflow's tables are there."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    connect_args = {"connect_timeout": PROBE_TIMEOUT_S} if uri.startswith(
        ("postgres", "mysql")) else {}
    try:
        engine = sqlalchemy.create_engine(uri, poolclass=NullPool, connect_args=connect_args)
    except (sqlalchemy.exc.ArgumentError, ImportError, ValueError) as exc:
        raise ConfigError(f"MLflow tracking store {describe(uri)}: {exc}",
                          hint="fix mlflow.tracking_uri") from None
    try:
        with engine.connect() as conn:
            return sqlalchemy.inspect(conn).has_table(_REGISTRY_TABLE)
    except sqlalchemy.exc.DBAPIError as exc:
        raise _refused(uri, str(exc.orig or exc)) from None
    except sqlalchemy.exc.SQLAlchemyError:
        return False  # connected, but cannot look (e.g. the search_path schema is missing)
    finally:
        engine.dispose()


def _refused(uri: str, text: str) -> Exception:
    """A store's error as exit 2 (it answered and refused) or exit 5 (it did not answer)."""
    where = describe(uri)
    reason = _reason(text)
    if any(word in text.lower() for word in _REFUSALS):
        return ConfigError(f"MLflow tracking store {where} refuses: {reason}",
                           hint="fix mlflow.tracking_uri (or feature_store.postgres_url on "
                           "the postgres profile)")
    return ServiceUnavailable(f"MLflow tracking store {where} does not answer: {reason}",
                              hint="start it, or fix mlflow.tracking_uri")


def _api_failed(uri: str, text: str) -> Exception:
    """An MLflow API call that failed after the store answered the probe."""
    where = describe(uri)
    if re.search(r"\b(404|405)\b", text):
        return ConfigError(f"{where} is not an MLflow tracking server, or not at that path: "
                           f"{_reason(text)}", hint="fix mlflow.tracking_uri")
    return ServiceUnavailable(f"MLflow tracking store {where} fails: {_reason(text)}",
                              hint="check the tracking server and its database")


def _reason(text: str) -> str:
    """The line of a driver's error that says what happened (libpq's after "FATAL:")."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    fatal = next((line for line in lines if "FATAL:" in line), None)
    if fatal is not None:
        return mask_url(fatal.split("FATAL:", 1)[1].strip())
    return mask_url(lines[0] if lines else text)


def _check_server(uri: str) -> None:
    import urllib.error
    import urllib.request

    where = describe(uri)
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise ServiceUnavailable(f"MLflow tracking server {where} answers /health with "
                                     f"{exc.code} {exc.reason}",
                                     hint="check the server's log") from None
        raise ConfigError(f"{where} answers /health with {exc.code} {exc.reason}: not an "
                          "MLflow tracking server, or not at that path",
                          hint="fix mlflow.tracking_uri") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceUnavailable(f"MLflow tracking server {where} does not answer: {reason}",
                                 hint="start it or fix mlflow.tracking_uri") from None
