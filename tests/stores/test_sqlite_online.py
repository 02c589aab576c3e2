"""The batched SQLite online store writes, byte for byte, the rows Feast's own writes, and
Feast reads them back the same: numbers, strings, nulls, an upsert over older rows."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from salesops.stores.sqlite_online import TYPE

feast = pytest.importorskip("feast")
from feast import Entity, FeatureStore, FeatureView, Field, FileSource  # noqa: E402
from feast.types import Float64, Int64, String  # noqa: E402

START = pd.Timestamp("2024-03-01", tz="UTC")


def _store(tmp_path: Path, online_type: str) -> tuple[FeatureStore, Path]:
    repo = tmp_path / online_type.rsplit(".", 1)[-1]
    repo.mkdir()
    data = tmp_path / "rows.parquet"
    _rows(0).to_parquet(data)
    online = repo / "online.db"
    (repo / "feature_store.yaml").write_text(yaml.safe_dump({
        "project": "batched", "provider": "local", "entity_key_serialization_version": 3,
        "registry": {"registry_type": "sql", "path": f"sqlite:///{repo}/registry.db"},
        "online_store": {"type": online_type, "path": str(online)},
        "offline_store": {"type": "duckdb"}}))
    store = FeatureStore(repo_path=str(repo))
    store_key = Entity(name="store", join_keys=["store"])
    dept_key = Entity(name="dept", join_keys=["dept"])
    view = FeatureView(
        name="weekly", entities=[store_key, dept_key], ttl=timedelta(days=14),
        schema=[Field(name="store", dtype=Int64), Field(name="dept", dtype=Int64),
                Field(name="sales", dtype=Float64), Field(name="units", dtype=Int64),
                Field(name="label", dtype=String)],
        source=FileSource(path=str(data), timestamp_field="event_timestamp"))
    store.apply([store_key, dept_key, view])
    return store, online


def _rows(week: int) -> pd.DataFrame:
    rows = [(store, dept, START + pd.Timedelta(weeks=week), 10.5 * store + dept + week,
             store * dept, f"s{store}-d{dept}" if dept != 3 else None)
            for store in (1, 2, 3) for dept in (1, 2, 3)]
    frame = pd.DataFrame(rows, columns=["store", "dept", "event_timestamp", "sales", "units",
                                        "label"])
    frame.loc[frame["store"] == 2, "sales"] = None  # a null feature value
    return frame


def _table(online: Path) -> list[tuple]:
    with sqlite3.connect(online) as conn:
        return conn.execute("SELECT * FROM batched_weekly ORDER BY entity_key, feature_name"
                            ).fetchall()


def test_the_batched_store_writes_and_reads_what_feasts_does(tmp_path):
    written, classes = {}, []
    for kind in ("sqlite", TYPE):
        store, online = _store(tmp_path, kind)
        classes.append(type(store._get_provider().online_store).__name__)
        store.write_to_online_store("weekly", _rows(0))
        # a week later for most series: an upsert over the older rows, and one row untouched
        store.write_to_online_store("weekly", _rows(1).iloc[1:])
        written[kind] = (_table(online), store.get_online_features(
            features=["weekly:sales", "weekly:units", "weekly:label"],
            entity_rows=[{"store": s, "dept": d} for s in (1, 2, 3) for d in (1, 2, 3)],
        ).to_dict())
    assert classes == ["SqliteOnlineStore", "BatchSqliteOnlineStore"]
    (feast_rows, feast_read), (ours_rows, ours_read) = written["sqlite"], written[TYPE]
    assert len(feast_rows) == 27
    assert ours_rows == feast_rows
    assert ours_read == feast_read
