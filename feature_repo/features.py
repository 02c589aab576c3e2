"""Feast definitions for salesops: entities, weekly feature views and two feature services.

`salesops infra up` copies this file into the workspace's feature repo and writes, beside
it, `feature_store.yaml` for the active profile and `salesops_repo.json`, which says where
each view's rows live (parquet files for the embedded profile, tables for Postgres) and the
views' TTL. Feast's own CLI works on that folder: `feast -c <workspace>/feature_repo plan`.

Leakage: `inference_features` reads only past-derived sales features and covariates known
ahead of the week; the target (`sales_target.weekly_sales`) is only in `training_features`,
and its view is kept out of the online store.
"""

import json
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

_SETTINGS = json.loads((Path(__file__).parent / "salesops_repo.json").read_text())
_TTL = timedelta(days=_SETTINGS["ttl_days"])

store = Entity(name="store", join_keys=["store"], value_type=ValueType.INT64,
               description="A retail store")
dept = Entity(name="dept", join_keys=["dept"], value_type=ValueType.INT64,
              description="A department within a store")


def _source(view: str):
    spec = _SETTINGS["sources"][view]
    if spec["type"] == "postgres":
        from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
            PostgreSQLSource,
        )

        return PostgreSQLSource(name=f"{view}_source", table=spec["table"],
                                timestamp_field="event_timestamp")
    return FileSource(name=f"{view}_source", path=spec["path"], timestamp_field="event_timestamp")


def _fields(names, dtype):
    return [Field(name=name, dtype=dtype) for name in names]


dept_weekly = FeatureView(
    name="dept_weekly",
    entities=[store, dept],
    ttl=_TTL,
    schema=_fields(_SETTINGS["features"]["dept_weekly"], Float64),
    source=_source("dept_weekly"),
    online=True,
    description="Sales history of a (store, dept) before the week: lags, shifted windows.",
)

_store_ints = set(_SETTINGS["int_features"])
store_weekly = FeatureView(
    name="store_weekly",
    entities=[store],
    ttl=_TTL,
    schema=[
        Field(name=name, dtype=Int64 if name in _store_ints else Float64)
        for name in _SETTINGS["features"]["store_weekly"]
    ],
    source=_source("store_weekly"),
    online=True,
    description="Calendar, holidays, markdowns, weather, economy and store attributes.",
)

sales_target = FeatureView(
    name="sales_target",
    entities=[store, dept],
    ttl=_TTL,
    schema=[Field(name="weekly_sales", dtype=Float64)],
    source=_source("sales_target"),
    online=False,  # the target is never served
    description="The training target: sales of the (store, dept) in the week.",
)

training_features = FeatureService(
    name="training_features",
    features=[dept_weekly, store_weekly, sales_target],
    description="Model inputs plus the target, for point-in-time training sets.",
)

inference_features = FeatureService(
    name="inference_features",
    features=[dept_weekly, store_weekly],
    description="Model inputs only; what the model server reads online.",
)
