"""Names, labels and addresses shared by the builders, so that every object agrees on them."""

from __future__ import annotations

APP = "salesops"
MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
#: what salesops' own objects carry; `infra down` deletes only objects with it
MANAGED_BY = {MANAGED_BY_KEY: "salesops"}
#: the managed-by value of a Helm release's objects (charts/salesops: same names, not ours)
HELM = "Helm"
SERVICE_ACCOUNT = "salesops"
DB_SECRET = "salesops-db"
DATA_PVC = "salesops-data"
POSTGRES = "salesops-postgres"
MLFLOW = "salesops-mlflow"
FEATURE_STORE_CONFIG = "salesops-feature-store"
INFERENCE_SERVICE = "salesops"
POSTGRES_PORT = 5432
MLFLOW_PORT = 5000
PREDICTOR_PORT = 8080
DB_NAME = "salesops"
DB_USER = "salesops"
#: the env var that carries the database password into every pod (from the Secret)
PASSWORD_ENV = "SALESOPS_PG_PASSWORD"
#: the workspace inside a pod (an emptyDir; the feature_store.yaml is mounted into it)
POD_WORKSPACE = "/var/lib/salesops/workspace"
#: Feast needs its repo files in one folder; the ConfigMap file is mounted there
POD_FEATURE_REPO = POD_WORKSPACE + "/feature_repo"
HEALTH_PATH = "/v2/health/ready"


def labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component,
            **MANAGED_BY}


def selector(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}


def postgres_host(namespace: str) -> str:
    return f"{POSTGRES}.{namespace}.svc"


def mlflow_url(namespace: str) -> str:
    return f"http://{MLFLOW}.{namespace}.svc:{MLFLOW_PORT}"


def postgres_url(namespace: str, password: str) -> str:
    """A database URL; `password` is a reference (`${VAR}` or `$(VAR)`), never the value."""
    return (f"postgresql://{DB_USER}:{password}@{postgres_host(namespace)}:{POSTGRES_PORT}/"
            f"{DB_NAME}")
