"""MLflow connection: where runs and the registry live, and a clear error when unreachable."""

from __future__ import annotations

import os
import warnings
from urllib.parse import urlsplit

from salesops.config import Settings
from salesops.errors import ServiceUnavailable
from salesops.masking import mask_url
from salesops.workspace import Workspace


def tracking_uri(settings: Settings) -> str:
    """`mlflow.tracking_uri`; else, on the `postgres` profile, the same server (schema
    `<postgres_schema>_mlflow`); else a SQLite store in the workspace."""
    if settings.mlflow.tracking_uri:
        return settings.mlflow.tracking_uri
    if settings.feature_store.profile == "postgres":
        from salesops.features.postgres import pg_target

        target = pg_target(settings)
        return target.sqlalchemy_url(target.mlflow_schema)
    return f"sqlite:///{Workspace(settings.workspace).root}/mlflow.db"


def check_reachable(settings: Settings) -> None:
    """Fail fast, before any training, when a tracking server is configured but silent."""
    uri = tracking_uri(settings)
    if urlsplit(uri).scheme in ("http", "https"):
        _check_reachable(uri)


def connect(settings: Settings):
    """Point MLflow at the tracking store and return the experiment id (created if needed)."""
    # MLflow's INFO lines (database migrations on first use) and SQLAlchemy's deprecation
    # notices from inside MLflow are noise on a command line; warnings and errors still show
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    warnings.filterwarnings("ignore", message=".*``noload`` loader strategy is deprecated")
    import mlflow

    check_reachable(settings)
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.get_experiment_by_name(settings.mlflow.experiment)
    if experiment is not None:
        return experiment.experiment_id
    artifacts = Workspace(settings.workspace).root / "mlartifacts"
    # a database-backed store keeps artifacts in the workspace; a tracking server, its own
    location = None if urlsplit(uri).scheme in ("http", "https") else artifacts.as_uri()
    return mlflow.create_experiment(settings.mlflow.experiment, artifact_location=location)


def _check_reachable(uri: str) -> None:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).close()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceUnavailable(f"MLflow tracking server {mask_url(uri)} does not answer: "
                                 f"{reason}",
                                 hint="start it or fix mlflow.tracking_uri") from None
