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


def _edge_store(tmp_path: Path, name: str, key_type, created: bool) -> tuple[FeatureStore, Path]:
    """A Feast repo on Feast's own SQLite store with a view of every scalar type the
    column-wise writer packs itself or hands to Feast per distinct value."""
    from feast.types import Bool, Float32, Int32, UnixTimestamp

    repo = tmp_path / name
    repo.mkdir()
    data = tmp_path / f"{name}.parquet"
    _edge_rows(key_type is String).iloc[:1].to_parquet(data)
    online = repo / "online.db"
    (repo / "feature_store.yaml").write_text(yaml.safe_dump({
        "project": "batched", "provider": "local", "entity_key_serialization_version": 3,
        "registry": {"registry_type": "sql", "path": f"sqlite:///{repo}/registry.db"},
        "online_store": {"type": "sqlite", "path": str(online)},
        "offline_store": {"type": "duckdb"}}))
    store = FeatureStore(repo_path=str(repo))
    shop, item = Entity(name="shop", join_keys=["shop"]), Entity(name="item", join_keys=["item"])
    view = FeatureView(
        name="weekly", entities=[shop, item], ttl=timedelta(days=14),
        schema=[Field(name="shop", dtype=key_type), Field(name="item", dtype=Int32),
                Field(name="sales", dtype=Float64), Field(name="ratio", dtype=Float32),
                Field(name="units", dtype=Int64), Field(name="small", dtype=Int32),
                Field(name="label", dtype=String), Field(name="open", dtype=Bool),
                Field(name="seen", dtype=UnixTimestamp)],
        source=FileSource(path=str(data), timestamp_field="event_timestamp",
                          created_timestamp_column="created" if created else ""))
    store.apply([shop, item, view])
    return store, online


def _edge_rows(string_keys: bool) -> pd.DataFrame:
    import numpy as np

    sales = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-300, 1.5e300, 0.1, -7.25, 123456.789,
             np.nan, 2.0]
    count = len(sales)
    frame = pd.DataFrame({
        "shop": ([f"shop-{i % 3}é" for i in range(count)] if string_keys
                 else np.array([i % 3 for i in range(count)], dtype="int64") - 1),
        "item": np.array([i // 3 - 2 for i in range(count)], dtype="int32"),
        "event_timestamp": [START + pd.Timedelta(hours=7 * i) for i in range(count)],
        "created": [START + pd.Timedelta(days=1, seconds=i) for i in range(count)],
        "sales": sales,
        "ratio": np.array([0.1, np.nan, 3.4e38, -1e-45, 0.0, -0.0, 1 / 3, 2.5, 7.0, 8.0, 9.0,
                           np.inf], dtype="float32"),
        "units": np.array([0, -1, 2**63 - 1, -2**63, 1, 1, 300, 127, 128, -129, 5, 5],
                          dtype="int64"),
        "small": np.array([0, -1, 2**31 - 1, -2**31, 1, 2, 3, 4, 5, 6, 7, 8], dtype="int32"),
        "label": ["", None, "a", "ünïcode ✓", "a", "b", None, "x" * 300, "c", "d", "e", ""],
        "open": [True, False] * (count // 2),
        "seen": [START + pd.Timedelta(days=i) for i in range(count)],
    })
    # a repeated entity: the later row wins in Feast's write, so must it here
    frame.loc[count - 1, ["shop", "item"]] = frame.loc[0, ["shop", "item"]].to_numpy()
    return frame


@pytest.mark.parametrize("statements", ["per_entity", "per_value"])
@pytest.mark.parametrize("key_type, created, categories", [
    (Int64, False, False), (String, True, False), (Int64, False, True)])
def test_the_column_wise_write_is_feasts_write_byte_for_byte(tmp_path, monkeypatch, key_type,
                                                             created, categories, statements):
    """Both ways of handing the rows to SQLite: one row per entity crossed with the feature
    names inside SQLite, and, for a view with more features than a statement binds, one
    upsert per (entity, feature)."""
    from salesops.stores import sqlite_online
    from salesops.stores.sqlite_online import BatchSqliteOnlineStore

    if statements == "per_value":
        monkeypatch.setattr(sqlite_online, "_MAX_VARIABLES", 3 + 2 * 7 - 1)

    frame = _edge_rows(key_type is String)
    if key_type is Int64:
        frame["shop"] = frame["shop"].astype("int64")
    if categories:  # pandas categoricals with nulls: Arrow dictionaries, read as Feast reads
        frame["label"] = frame["label"].astype("category")
        units = (frame["units"] % 1000).astype("Int64")  # Feast reads int categories as floats
        frame["units"] = units.mask(frame.index == 4).astype("category")
    feast_store, feast_online = _edge_store(tmp_path, "feast", key_type, created)
    feast_store.write_to_online_store("weekly", frame)
    ours_store, ours_online = _edge_store(tmp_path, "ours", key_type, created)
    BatchSqliteOnlineStore().write_frame(
        ours_store.config, ours_store.get_feature_view("weekly"), frame)
    feast_rows, ours_rows = _table(feast_online), _table(ours_online)
    assert len(feast_rows) == 7 * 11  # 11 distinct entities, 7 features
    assert ours_rows == feast_rows


def test_the_column_wise_write_skips_what_feast_skips(tmp_path):
    from salesops.stores.sqlite_online import BatchSqliteOnlineStore

    store, online = _edge_store(tmp_path, "ours", Int64, False)
    frame = _edge_rows(False)
    features = ["sales", "ratio", "units", "small", "label", "open", "seen"]
    nothing = frame.astype({name: object for name in features})
    nothing.loc[:, features] = None
    for empty in (frame.iloc[:0], nothing):
        BatchSqliteOnlineStore().write_frame(store.config, store.get_feature_view("weekly"),
                                             empty)
        assert _table(online) == []
