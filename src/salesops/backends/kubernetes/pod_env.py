"""The settings a pod runs with, as `SALESOPS_<SECTION>__<KEY>` environment variables.

A pod gets the user's settings with the cluster's addresses swapped in: the workspace is the
pod's own folder, the feature store is the `postgres` profile on the in-cluster Postgres and
MLflow is the in-cluster server. The database password never appears in a manifest: the
first variable comes from the Secret and the database URL refers to it as `$(VAR)`, which
the kubelet expands when it starts the container.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from salesops.backends.kubernetes import names
from salesops.config import Settings, settings_payload

#: sections that say where work runs, meaningless inside the pod
NOT_FORWARDED = ("backend", "kubernetes")


def pod_settings(settings: Settings) -> Settings:
    """The settings as a pod sees them (pure: a copy with the cluster's addresses)."""
    namespace = settings.kubernetes.namespace
    url = names.postgres_url(namespace, f"$({names.PASSWORD_ENV})")
    return settings.model_copy(update={
        "project": settings.project.model_copy(update={"workspace": Path(names.POD_WORKSPACE)}),
        "feature_store": settings.feature_store.model_copy(
            update={"profile": "postgres", "online": "default", "postgres_url": SecretStr(url),
                    "redis_url": None}),
        "mlflow": settings.mlflow.model_copy(update={"tracking_uri": names.mlflow_url(namespace)}),
    })


def env_vars(settings: Settings) -> list[dict[str, Any]]:
    """`[{name, value}]` for a container; the password comes first (later ones refer to it)."""
    payload = settings_payload(pod_settings(settings))
    env: list[dict[str, Any]] = [password_env()]
    for section, values in payload.items():
        if section in NOT_FORWARDED:
            continue
        for key, value in values.items():
            if value is not None:
                env.append({"name": f"SALESOPS_{section.upper()}__{key.upper()}",
                            "value": _text(value)})
    return env


def password_env() -> dict[str, Any]:
    return {"name": names.PASSWORD_ENV,
            "valueFrom": {"secretKeyRef": {"name": names.DB_SECRET, "key": "password"}}}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)  # pydantic-settings parses complex values as JSON
    return str(value)
