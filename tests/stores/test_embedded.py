"""The `embedded` profile's stores: the workspace's files, no server."""

from __future__ import annotations

import json

import pandas as pd
import yaml

from salesops.config import load_settings
from salesops.stores import generation
from salesops.stores.embedded import EmbeddedOffline, SqliteOnline
from salesops.stores.feast_yaml import render_feature_store_yaml, view_sources
from salesops.workspace import Workspace


def _stores(workspace):
    settings = load_settings()
    return EmbeddedOffline(settings), SqliteOnline(settings), Workspace(workspace)


def test_tables_and_manifest_come_from_the_current_generation(workspace):
    offline, _, ws = _stores(workspace)
    generation.ensure_current(ws)
    assert offline.read_table(ws, "sales_target", ["store"]) is None
    assert offline.read_manifest(ws) is None
    frame = pd.DataFrame({"store": [1, 2], "dept": [3, 4], "weekly_sales": [1.0, 2.0]})
    ws.offline_data.mkdir(parents=True)
    frame.to_parquet(ws.offline_data / "sales_target.parquet", index=False)
    ws.build_manifest.write_text(json.dumps({"fingerprint": "abc"}))
    pd.testing.assert_frame_equal(offline.read_table(ws, "sales_target", ["store", "dept"]),
                                  frame[["store", "dept"]])
    assert offline.read_manifest(ws) == {"fingerprint": "abc"}


def test_staging_and_switching_leave_it_to_the_generation(workspace):
    offline, _, ws = _stores(workspace)
    offline.begin_stage()
    offline.stage("x", pd.DataFrame({"a": [1]}), append=False)
    offline.stage("x", pd.DataFrame({"a": [2]}), append=True)
    offline.switch(["x"], {"fingerprint": "f"})
    assert not ws.root.exists()  # nothing written: the build writes the generation's files
    assert offline.prepare() == [] and offline.teardown(print) == []


def test_feature_store_yaml_uses_the_workspace_files(workspace):
    offline, online, ws = _stores(workspace)
    config = yaml.safe_load(render_feature_store_yaml(load_settings(), ws))
    assert config["registry"] == {"registry_type": "sql",
                                  "path": f"sqlite:///{ws.registry_db}", "cache_ttl_seconds": 60}
    # Feast's DuckDB store with the ASOF join (stores/asof_offline.py), named by class
    assert config["offline_store"] == {
        "type": "salesops.stores.asof_offline.AsofDuckDBOfflineStore"}
    # Feast's SQLite store with batched writes (stores/sqlite_online.py), named by class
    assert config["online_store"] == {"type": "salesops.stores.sqlite_online.BatchSqliteOnlineStore",
                                      "path": str(ws.online_db)}
    assert offline.tracking_uri(ws) == f"sqlite:///{ws.root}/mlflow.db"
    assert view_sources(load_settings(), ws, ["dept_weekly"]) == {
        "dept_weekly": {"type": "file", "path": str(ws.offline_data / "dept_weekly.parquet")}}


def test_a_staged_generation_gets_its_own_sqlite_file(workspace):
    _, online, ws = _stores(workspace)
    generation.ensure_current(ws)
    with generation.staged(ws) as staged:
        section = online.staged_section(online.online_section(ws), staged)
        assert section == {"type": "salesops.stores.sqlite_online.BatchSqliteOnlineStore",
                           "path": str(staged.online_db.absolute())}


def test_status_lines_before_a_build(workspace):
    offline, online, ws = _stores(workspace)
    lines = [(s.name, s.kind, s.state) for s in [*offline.status(ws), *online.status(ws)]]
    assert lines == [("registry", "sqlite", "missing"),
                     ("offline store", "parquet + duckdb", "missing"),
                     ("online store", "sqlite", "missing")]
