"""Builds into one Postgres schema from different workspaces (a CronJob's append, a
`features build` Job, a laptop: each has its own workspace, so its own flock) run one at a
time: the second is refused at once and the first's build is what the server ends up with.
"""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from tests.conftest import SMALL
from tests.faults.test_build_faults import salesops
from tests.features.test_postgres_profile import PG, _use_postgres, database  # noqa: F401
from tests.helpers import salesops_env

pytestmark = pytest.mark.slow

#: `salesops features build` that stops at the checkpoint after `feast apply` (its tables
#: staged, its online rows not written yet) until its stdin gets a line
_PAUSED_BUILD = """
import sys
from salesops.cli import main
from salesops.features import build

def pause(name):
    if name == "build.after_apply":
        print("paused", flush=True)
        sys.stdin.readline()

build.checkpoint = pause
main(["-q", "features", "build", *sys.argv[1:]])
"""


def _server_build(database: str) -> dict[str, str]:
    """The server's current build: each table's content hashed, and the manifest."""
    with psycopg.connect(**PG, dbname=database) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'salesops' "
            "AND tablename NOT LIKE '%%\\_\\_staging' ORDER BY 1")]
        return {table: conn.execute(
            f'SELECT md5(string_agg(t::text, \',\' ORDER BY t::text)) FROM salesops."{table}" t'
            if table != "build_manifest" else
            "SELECT manifest::text FROM salesops.build_manifest").fetchone()[0]
            for table in tables}


def _seed(database: str) -> int:
    with psycopg.connect(**PG, dbname=database) as conn:
        return conn.execute("SELECT manifest->'params'->>'seed' FROM salesops.build_manifest"
                            ).fetchone()[0]


def test_a_build_from_another_workspace_is_refused_while_one_runs(
        workspace, tmp_path, monkeypatch, database):  # noqa: F811
    _use_postgres(monkeypatch, database)
    for args in (["infra", "up"], ["features", "build", *SMALL, "--seed", "1"]):
        assert salesops(workspace, *args).returncode == 0
    before = _server_build(database)

    first = subprocess.Popen([sys.executable, "-c", _PAUSED_BUILD, *SMALL, "--seed", "7"],
                             env=salesops_env(workspace), cwd=workspace.parent, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert first.stdout.readline().strip() == "paused", first.stderr.read()
        other = tmp_path / "pod"  # another workspace, empty but for `infra up`
        assert salesops(other, "infra", "up").returncode == 0
        second = salesops(other, "features", "build", *SMALL, "--seed", "3")
        assert second.returncode == 75, second.stderr
        line = second.stderr.strip()
        assert "another features build is running on this Postgres (schema salesops" in line
        assert f"pid {first.pid} on " in line and "since " in line, line
        assert len(line.splitlines()) == 1
        assert _server_build(database) == before  # the server's build is untouched
        first.stdin.write("\n")
        first.stdin.flush()
        assert first.wait(timeout=180) == 0, first.stderr.read()
    finally:
        first.kill()
        first.wait()
    assert _seed(database) == "7"  # the first build switched in whole
    assert _server_build(database) != before
    # the lock went with the first build's connection: the other workspace builds now
    assert salesops(other, "features", "build", "--append-weeks", "1").returncode == 0


def test_a_killed_builds_lock_is_not_stale_and_a_lost_lock_switches_nothing(
        workspace, monkeypatch, database):  # noqa: F811
    from salesops.config import load_settings
    from salesops.errors import ServiceUnavailable
    from salesops.stores import offline_store
    from salesops.stores.postgres_lock import lock_key
    from salesops.stores.postgres_tables import read_manifest, switch_tables

    _use_postgres(monkeypatch, database)
    assert salesops(workspace, "infra", "up").returncode == 0
    code = ("import os, signal\nfrom salesops.config import load_settings\n"
            "from salesops.stores import offline_store\n"
            "with offline_store(load_settings()).build_lock('holder'):\n"
            "    os.kill(os.getpid(), signal.SIGKILL)")
    killed = subprocess.run([sys.executable, "-c", code], env=salesops_env(workspace),
                            cwd=workspace.parent, timeout=60)
    assert killed.returncode == -9
    store = offline_store(load_settings())
    with store.build_lock("test"):  # not refused: the lock died with its connection
        with psycopg.connect(**PG, dbname=database, autocommit=True) as admin:
            # this test's database only: a parallel worker's test may hold a "test" lock too
            holder = admin.execute("SELECT pid FROM pg_stat_activity WHERE application_name "
                                   "LIKE 'test, pid %%' AND datname = %s",
                                   (database,)).fetchone()[0]
            # terminating is asynchronous: wait (up to 10 s) until the backend has exited
            assert admin.execute("SELECT pg_terminate_backend(%s, 10000)",
                                 (holder,)).fetchone()[0]
            # another build takes the lock the dead connection released
            assert admin.execute("SELECT pg_try_advisory_lock(%s)",
                                 (lock_key("salesops"),)).fetchone()[0]
            with pytest.raises(ServiceUnavailable, match="lost its lock"):
                switch_tables(store.target, [], {"source": "nobody"})
    assert read_manifest(store.target) is None  # nothing was switched


def test_the_holder_named_is_in_this_database(database):  # noqa: F811
    """An advisory lock belongs to one database: the same schema's build lock held in
    another database on the server is not this database's holder (it was named as one)."""
    import uuid

    from salesops.stores.postgres_lock import _holder, lock_key

    other = f"salesops_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**PG, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{other}"')
    try:
        with psycopg.connect(**PG, dbname=other, autocommit=True,
                             application_name="a build in another database") as there, \
                psycopg.connect(**PG, dbname=database, autocommit=True) as here:
            assert there.execute("SELECT pg_try_advisory_lock(%s)",
                                 (lock_key("salesops"),)).fetchone()[0]
            assert _holder(here, lock_key("salesops")) == "it has just finished"
    finally:
        with psycopg.connect(**PG, dbname="postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
