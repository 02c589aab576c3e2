"""`features build` engineers and writes a few stores at a time on a writer thread (issue 16:
at 100M rows no table fits in memory whole). A build in parts writes what a build in one
part writes (files, online rows, fingerprint, report); a part that fails validation, or a
write that fails on the writer thread, fails the build with its one-line error and leaves
the previous build whole, with no staged generation left behind. Real Feast; the postgres
case against the machine's server (skipped without one, a failure under CI=true)."""

from __future__ import annotations

import errno
import hashlib
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from salesops.features import build as build_module
from salesops.features import engineering
from salesops.features.table_files import TableFiles
from salesops.workspace import Workspace
from tests.conftest import SMALL
from tests.faults.test_build_faults import state
from tests.features.test_postgres_profile import PG, _use_postgres, database  # noqa: F401

pytestmark = pytest.mark.slow

#: SMALL's stores have 4 x 90 = 360 sales rows: each store is a part alone
ONE_STORE = 300
TABLES = ["data/dept_weekly", "data/store_weekly", "data/sales_target", "data/series",
          "raw/sales", "raw/features", "raw/stores"]


def _built(cli, *args: str) -> dict:
    result = cli("features", "build", *SMALL, *args, "--json")
    assert result.exit_code == 0, result.stderr
    return result.json()


def _tables(workspace: Path) -> dict[str, pd.DataFrame]:
    current = Workspace(workspace).current.resolve()
    return {name: pd.read_parquet(current / f"{name}.parquet") for name in TABLES}


def _online(workspace: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(f"file:{Workspace(workspace).online_db}?mode=ro", uri=True) as conn:
        names = [row[0] for row in conn.execute(
            "select name from sqlite_master where type = 'table' order by name")]
        return {name: conn.execute(f'select * from "{name}" order by 1, 2').fetchall()
                for name in names}


def _staging_left(workspace: Path) -> list[str]:
    return [p.name for p in Workspace(workspace).generations.iterdir()
            if p.name.startswith(".")]


def test_a_build_in_parts_writes_what_a_build_in_one_part_writes(cli, workspace, tmp_path,
                                                                   monkeypatch):
    assert cli("infra", "up").exit_code == 0
    whole = _built(cli, "--realism", "retail")

    parts_ws = tmp_path / "parts"
    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(parts_ws))
    monkeypatch.setattr(build_module, "PART_ROWS", ONE_STORE)
    handed = []
    add = TableFiles.add
    monkeypatch.setattr(TableFiles, "add", lambda self, tables: (
        handed.append(len(next(iter(tables.values())))), add(self, tables))[1])
    assert cli("infra", "up").exit_code == 0
    parts = _built(cli, "--realism", "retail")

    assert len(handed) == 3 + 1  # a part per store, then the series table
    for name, frame in _tables(workspace).items():
        pd.testing.assert_frame_equal(_tables(parts_ws)[name], frame, check_exact=True,
                                      obj=name)
    assert _online(parts_ws) == _online(workspace)
    for key in ("fingerprint", "feature_rows", "online_entities", "data_report", "next_week"):
        assert parts[key] == whole[key], key
    # the value the whole frames gave before builds went in parts: a champion's lineage tag
    # stays current for unchanged data
    digest = hashlib.sha256()
    for name in ("dept_weekly", "sales_target", "store_weekly"):
        digest.update(name.encode())
        digest.update(pd.util.hash_pandas_object(_tables(parts_ws)[f"data/{name}"],
                                                 index=False).to_numpy().tobytes())
    assert parts["fingerprint"] == digest.hexdigest()[:16]


def test_parts_failing_validation_are_all_named_and_leave_the_previous_build(
        cli, workspace, monkeypatch):
    assert cli("infra", "up").exit_code == 0
    _built(cli)
    before = state(workspace)
    monkeypatch.setattr(build_module, "PART_ROWS", ONE_STORE)
    real = engineering.build_features

    def broken_stores(part, weeks=None):
        frames = real(part, weeks)
        if part.sales["store"].iloc[0] == 2:  # the second part: one is written by now
            frames.dept_weekly.loc[5, "sales_std_4"] = -1.0
        if part.sales["store"].iloc[0] == 3:
            frames.store_weekly.loc[2, "month"] = 13
        return frames

    monkeypatch.setattr(engineering, "build_features", broken_stores)
    failed = cli("features", "build", *SMALL, "--seed", "5")
    assert failed.exit_code == 3, failed.stderr
    assert "feature validation failed" in failed.stderr
    # every part's problems, as a build of the whole data at once names them
    assert "store=2" in failed.stderr and "sales_std_4" in failed.stderr
    assert "store=3" in failed.stderr and "month" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) <= 2, failed.stderr
    assert state(workspace) == before
    assert _staging_left(workspace) == []


def test_a_write_failing_on_the_writer_thread_fails_the_build_and_keeps_the_last(
        cli, workspace, monkeypatch):
    assert cli("infra", "up").exit_code == 0
    _built(cli)
    before = state(workspace)
    monkeypatch.setattr(build_module, "PART_ROWS", ONE_STORE)
    real, calls = TableFiles._append, []

    def disk_full(self, path, frame):
        calls.append(path.name)
        if len(calls) == 5:  # the second part's second table
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(self, path, frame)

    monkeypatch.setattr(TableFiles, "_append", disk_full)
    failed = cli("features", "build", *SMALL, "--seed", "5")
    assert failed.exit_code == 2, failed.stderr
    assert "No space left on device" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert state(workspace) == before
    assert _staging_left(workspace) == []


def test_a_build_in_parts_on_postgres_stages_every_part(cli, workspace, monkeypatch, database):
    import psycopg

    _use_postgres(monkeypatch, database)
    monkeypatch.setattr(build_module, "PART_ROWS", ONE_STORE)
    assert cli("infra", "up").exit_code == 0
    _built(cli, "--realism", "retail")
    files = _tables(workspace)
    with psycopg.connect(**PG, dbname=database) as conn:
        for view in ("dept_weekly", "store_weekly", "sales_target", "series"):
            served = conn.execute(f"SELECT count(*), count(DISTINCT store), sum(store)::bigint "
                                  f"FROM salesops.{view}").fetchone()
            frame = files[f"data/{view}"]
            assert served == (len(frame), frame["store"].nunique(), int(frame["store"].sum())), view
