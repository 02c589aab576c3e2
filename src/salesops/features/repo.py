"""The workspace's Feast repo: our definitions plus the rendered `feature_store.yaml`.

Rendering is pure (settings in, text out); `write_repo` puts the files in place and is
idempotent. Absolute paths are used for the registry and online store so that the repo
works from any current directory (Feast resolves only offline file sources against the
repo path for retrieval, and against the current directory when materializing).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import yaml

from salesops.config import Settings
from salesops.features.schema import DEPT_FEATURES, STORE_FEATURES, STORE_INT_FEATURES, VIEWS
from salesops.workspace import Workspace, atomic_write_text


def definitions_file() -> Path:
    """Packaged copy of feature_repo/features.py (wheel), else the source tree's (editable)."""
    packaged = resources.files("salesops").joinpath("_feature_repo", "features.py")
    if packaged.is_file():
        return Path(str(packaged))
    source_tree = Path(__file__).resolve().parents[3] / "feature_repo" / "features.py"
    if source_tree.is_file():
        return source_tree
    raise FileNotFoundError("feature_repo/features.py is missing from the installation")


def render_feature_store_yaml(settings: Settings, workspace: Workspace) -> str:
    """The profile's stores; on `postgres` the registry, offline and online stores are one
    server's schema (`feature_store.postgres_schema`), and `online = "redis"` moves only the
    online store. The file holds the password, so it is written readable by its owner only
    (a pod's copy holds `${ENV}` references that Feast expands instead)."""
    fs = settings.feature_store
    config: dict = {"project": settings.project.name, "provider": "local"}
    if fs.profile == "postgres":
        from salesops.features.postgres import pg_target

        target = pg_target(settings)
        config["registry"] = {
            "registry_type": "sql",
            "path": target.sqlalchemy_url(target.schema),
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
        }
        server = {"host": target.host, "port": target.port, "database": target.database,
                  "db_schema": target.schema, "user": target.user,
                  "password": target.password, "sslmode": target.sslmode}
        config["offline_store"] = {"type": "postgres", **server}
        config["online_store"] = {"type": "postgres", **server}
    else:
        config["registry"] = {
            "registry_type": "sql",
            "path": f"sqlite:///{workspace.registry_db}",
            "cache_ttl_seconds": 60,
        }
        config["offline_store"] = {"type": "duckdb"}
        config["online_store"] = {"type": "sqlite", "path": str(workspace.online_db)}
    if fs.online == "redis":
        from salesops.features.redis_store import connection_string

        config["online_store"] = {"type": "redis",
                                  "connection_string": connection_string(settings)}
    config["entity_key_serialization_version"] = 3
    return "# rendered by `salesops infra up`; edit salesops.toml instead\n" + yaml.safe_dump(
        config, sort_keys=False
    )


def render_repo_settings(settings: Settings, workspace: Workspace) -> str:
    if settings.feature_store.profile == "postgres":
        schema = settings.feature_store.postgres_schema
        sources = {view: {"type": "postgres", "table": f"{schema}.{view}"} for view in VIEWS}
    else:
        # absolute: Feast resolves relative file sources against the repo for retrieval but
        # against the current directory when materializing
        sources = {view: {"type": "file", "path": str(workspace.offline_data / f"{view}.parquet")}
                   for view in VIEWS}
    return json.dumps(
        {
            "ttl_days": settings.feature_store.ttl_days,
            "sources": sources,
            "features": {"dept_weekly": DEPT_FEATURES, "store_weekly": STORE_FEATURES},
            "int_features": STORE_INT_FEATURES,
        },
        indent=2,
    ) + "\n"


def write_repo(settings: Settings, workspace: Workspace) -> dict[str, bool]:
    """Put the three repo files in place; the value says whether each one changed."""
    from salesops.features.generation import ensure_current

    ensure_current(workspace)
    return {
        "features.py": atomic_write_text(
            workspace.feature_repo / "features.py", definitions_file().read_text()
        ),
        "feature_store.yaml": atomic_write_text(
            workspace.feature_store_yaml, render_feature_store_yaml(settings, workspace)
        ),
        "salesops_repo.json": atomic_write_text(
            workspace.repo_settings, render_repo_settings(settings, workspace)
        ),
    }
