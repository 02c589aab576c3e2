"""Where data lives. One class per offline store (`embedded`: parquet + DuckDB, `postgres`,
`ray`: embedded's parquet read by Feast's Ray store)
and per online store (`sqlite`, `postgres`, `redis`), behind the interfaces of `base`.

This module is the one place that maps the configured profile to those classes (a type
string to a class path, as Feast maps store types), importing the chosen one lazily: a
command that never touches a server loads no driver. `feature_store.online = "default"`
means the profile's own online store. The model servers' prediction log lives with the
profile's offline data (`PREDICTION_LOGS`). Adding a profile is one class and one entry
in each map here.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from salesops.config import Settings

if TYPE_CHECKING:
    from salesops.stores.base import OfflineStore, OnlineStore
    from salesops.stores.prediction_log import PredictionStore

#: feature_store.profile -> "module:Class"
OFFLINE_STORES: dict[str, str] = {
    "embedded": "salesops.stores.embedded:EmbeddedOffline",
    "postgres": "salesops.stores.postgres:PostgresOffline",
    "ray": "salesops.stores.ray:RayOffline",
}
#: online store type -> "module:Class"
ONLINE_STORES: dict[str, str] = {
    "sqlite": "salesops.stores.embedded:SqliteOnline",
    "postgres": "salesops.stores.postgres:PostgresOnline",
    "redis": "salesops.stores.redis:RedisOnline",
}
#: Feast's `online_store.type` -> the online store type whose class renders it ("sqlite":
#: Feast's own SQLite store, in the files of workspaces made before the batched one)
FEAST_ONLINE_TYPES: dict[str, str] = {
    "salesops.stores.sqlite_online.BatchSqliteOnlineStore": "sqlite", "sqlite": "sqlite",
    "postgres": "postgres", "redis": "redis"}
#: feature_store.profile -> "module:Class" of where the model servers log predictions
PREDICTION_LOGS: dict[str, str] = {
    "embedded": "salesops.stores.prediction_log:ParquetPredictions",
    "postgres": "salesops.stores.postgres_log:PostgresPredictions",
    "ray": "salesops.stores.prediction_log:ParquetPredictions",
}
#: the online store of `feature_store.online = "default"`, per profile
DEFAULT_ONLINE: dict[str, str] = {"embedded": "sqlite", "postgres": "postgres", "ray": "sqlite"}
#: Feast's `offline_store.type` -> the profile whose class renders it
#: ("duckdb": Feast's own store, in the files of workspaces made before the ASOF store)
FEAST_OFFLINE_TYPES: dict[str, str] = {
    "salesops.stores.asof_offline.AsofDuckDBOfflineStore": "embedded", "duckdb": "embedded",
    "postgres": "postgres", "ray": "ray"}


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


def offline_store(settings: Settings) -> OfflineStore:
    return _load(OFFLINE_STORES[settings.feature_store.profile])(settings)


def prediction_store(settings: Settings) -> PredictionStore:
    """Where the model servers write the prediction log and `drift` reads it."""
    return _load(PREDICTION_LOGS[settings.feature_store.profile])(settings)


def online_type(settings: Settings) -> str:
    fs = settings.feature_store
    return DEFAULT_ONLINE[fs.profile] if fs.online == "default" else fs.online


def online_store(settings: Settings) -> OnlineStore:
    return _load(ONLINE_STORES[online_type(settings)])(settings)


def offline_class(feast_type: str) -> type:
    """The class behind a rendered feature_store.yaml's `offline_store.type` (a pod's file
    may name another profile than its settings: the cluster's is always `postgres`)."""
    return _load(OFFLINE_STORES[FEAST_OFFLINE_TYPES[feast_type]])


def online_class(feast_type: str) -> type:
    """The class behind a rendered feature_store.yaml's `online_store.type`."""
    return _load(ONLINE_STORES[FEAST_ONLINE_TYPES[feast_type]])
