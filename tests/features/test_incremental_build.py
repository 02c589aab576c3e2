"""`features build` redoes only the Feast work that changed: `feast apply` when the
definitions (or the registry) changed, the online rows when they differ from the current
generation's; otherwise the current online store is copied forward and Feast is not
imported. Real salesops processes, real Feast, real SQLite registry and online store."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from salesops.workspace import Workspace
from tests.conftest import SMALL
from tests.faults.test_build_faults import state
from tests.helpers import run_salesops, salesops_env

pytestmark = pytest.mark.slow


def build(workspace: Path, *args: str, fault: str | None = None) -> dict:
    result = run_salesops(workspace, "features", "build", *SMALL, *args, "--json",
                          fault=fault, timeout=300)
    if fault:
        assert result.returncode != 0
        return {}
    assert result.returncode == 0, result.stderr
    return {**json.loads(result.stdout), "stderr": result.stderr}


def fresh(tmp_path: Path, name: str) -> Path:
    workspace = tmp_path / name
    assert run_salesops(workspace, "infra", "up").returncode == 0
    return workspace


def test_an_unchanged_rebuild_skips_apply_copies_online_and_imports_no_feast(tmp_path):
    workspace = fresh(tmp_path, "ws")
    first = build(workspace)
    assert first["feast"]["apply"].startswith("ran") and first["feast"]["online"] == "written"
    before = state(workspace)
    # the whole command in one process, with a check that Feast was never imported
    script = ("import sys\nfrom salesops.cli import main\ntry:\n    main(sys.argv[1:])\n"
              "except SystemExit as e:\n    assert not e.code, e.code\n"
              "assert 'feast' not in sys.modules, 'feast imported'\n")
    again = subprocess.run([sys.executable, "-c", script, "-q", "features", "build", *SMALL],
                           env=salesops_env(workspace), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    after = state(workspace)
    assert after["generation"] != before["generation"]
    assert after["online"] == before["online"]
    third = build(workspace)
    assert third["feast"]["apply"].startswith("skipped") and third["feast"]["online"] == "copied"
    assert "feast apply skipped" in third["stderr"]


@pytest.mark.parametrize("change", ["ttl", "registry_deleted", "applied_elsewhere"])
def test_apply_runs_when_the_definitions_or_the_registry_changed(tmp_path, change):
    workspace = fresh(tmp_path, "ws")
    build(workspace)
    ws = Workspace(workspace)
    if change == "ttl":
        settings = json.loads(ws.repo_settings.read_text())
        settings["ttl_days"] += 1
        ws.repo_settings.write_text(json.dumps(settings))
        reason = "definitions changed"
    elif change == "registry_deleted":
        ws.registry_db.unlink()
        reason = "no registry yet"
    else:  # another `feast apply` moves Feast's own timestamp
        with sqlite3.connect(ws.registry_db) as conn:
            conn.execute("update feast_metadata set metadata_value = metadata_value || '1' "
                         "where metadata_key = 'last_updated_timestamp'")
        reason = "registry changed since the last apply"
    again = build(workspace)
    assert again["feast"]["apply"].startswith("ran")
    assert reason in again["stderr"]
    assert build(workspace)["feast"]["apply"].startswith("skipped")


def test_changed_and_removed_series_online_equal_a_full_rewrite(tmp_path):
    workspace = fresh(tmp_path, "ws")
    build(workspace, "--seed", "1")
    # other values for every series, and one dept fewer: its series must leave the store
    changed = build(workspace, "--seed", "2", "--depts", "3")
    assert changed["feast"]["online"] == "written"
    reference = fresh(tmp_path, "reference")
    build(reference, "--seed", "2", "--depts", "3")
    incremental, full = state(workspace)["online"], state(reference)["online"]
    assert incremental == full
    entities = {key for rows in full.values() for key, *_ in rows}
    assert len(entities) == 3 * 3 + 3  # (store, dept) series and stores


def test_a_build_killed_after_copying_forward_leaves_the_current_online_store(tmp_path):
    workspace = fresh(tmp_path, "ws")
    build(workspace)
    before = state(workspace)
    build(workspace, fault="build.before_switch")
    assert state(workspace) == before
    assert build(workspace)["feast"]["online"] == "copied"
    assert state(workspace)["online"] == before["online"]
