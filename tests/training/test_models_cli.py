"""`models list | promote | rollback` on a real MLflow registry (SQLite in the workspace):
reading creates nothing, writing holds the workspace lock, a missing version is a usage
error, and a promotion or rollback killed between its two writes leaves a champion whose
history is right."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.features.test_postgres_profile import _use_postgres, database  # noqa: F401
from tests.helpers import holding_lock, only_env, registry_versions
from tests.helpers import run_salesops as salesops

NAME = "salesops-demand"
pytestmark = pytest.mark.slow  # MLflow's first use of a SQLite store: ~5-15 s


def _registry(workspace: Path, versions: int) -> None:
    """A workspace whose registry has `versions` versions (no artifacts: only the registry
    is read here) and v1 as champion."""
    assert salesops(workspace, "-q", "infra", "up").returncode == 0
    with only_env(workspace.parent, {"SALESOPS_PROJECT__WORKSPACE": str(workspace)}):
        from salesops.config import load_settings
        from salesops.training import registry
        from salesops.training.tracking import Tracking

        Tracking.open(load_settings(), read_only=False)
        client = registry.client()
        client.create_registered_model(NAME)
        for _ in range(versions):
            client.create_model_version(NAME, source=str(workspace / "mlartifacts" / "none"))
        registry.promote(NAME, "1")


def _champion(workspace: Path) -> str:
    return next(v for v, aliases in registry_versions(workspace).items() if "champion" in aliases)


def result_json(result):
    import json

    return json.loads(result.stdout)


@pytest.fixture
def three_versions(tmp_path) -> Path:
    workspace = tmp_path / "ws"
    _registry(workspace, 3)
    return workspace


def test_reading_an_empty_folder_creates_nothing_and_names_the_path(cli, tmp_path, monkeypatch):
    for command in (["models", "list"], ["models", "rollback"], ["models", "promote", "1"]):
        result = cli(*command)
        assert result.exit_code == 4, (command, result.stderr)
        assert f"no MLflow tracking store in {tmp_path / '.salesops'}" in result.stderr
    assert list(tmp_path.iterdir()) == []  # not even the workspace folder
    # ... so the folder is still free for a workspace
    assert cli("infra", "up").exit_code == 0


def test_a_workspace_without_a_registry_stays_without_one(cli, workspace):
    assert cli("infra", "up").exit_code == 0
    before = sorted(p.name for p in workspace.iterdir())
    result = cli("models", "list")
    assert result.exit_code == 4 and str(workspace) in result.stderr
    assert sorted(p.name for p in workspace.iterdir()) == before


def test_promoting_a_version_that_does_not_exist_is_a_usage_error(three_versions):
    result = salesops(three_versions, "models", "promote", "99")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("error: model 'salesops-demand' has no version '99' "
                                     "(its versions: 1, 2, 3)")
    assert _champion(three_versions) == "1"


def test_promote_and_rollback_wait_for_the_lock_list_does_not(three_versions):
    with holding_lock(three_versions, "test holder"):
        for command in (["models", "promote", "2"], ["models", "rollback"]):
            busy = salesops(three_versions, *command)
            assert busy.returncode == 75, busy.stderr
            assert "`test holder`" in busy.stderr
        listed = salesops(three_versions, "models", "list", "--json")  # while it is held
        assert listed.returncode == 0, listed.stderr
        assert [r["version"] for r in result_json(listed) if "champion" in r["aliases"]] == ["1"]
    assert salesops(three_versions, "models", "promote", "2").returncode == 0


def test_a_promotion_killed_between_its_writes_never_happened(three_versions):
    killed = salesops(three_versions, "models", "promote", "2", fault="registry.after_history")
    assert killed.returncode == -9, killed.stderr
    assert _champion(three_versions) == "1"
    # the history written before the kill names v2, but v2 never was champion: nothing to
    # roll back to, and a later promotion rolls back to v1, not to v2
    assert salesops(three_versions, "models", "rollback").returncode == 1
    assert salesops(three_versions, "models", "promote", "3").returncode == 0
    rolled = salesops(three_versions, "models", "rollback", "--json")
    assert result_json(rolled) == {"from": "3", "champion": "1"}


def test_a_rollback_killed_between_its_writes_is_complete(three_versions):
    assert salesops(three_versions, "models", "promote", "2").returncode == 0
    assert salesops(three_versions, "models", "promote", "3").returncode == 0
    killed = salesops(three_versions, "models", "rollback", fault="registry.after_rollback_alias")
    assert killed.returncode == -9, killed.stderr
    assert _champion(three_versions) == "2"
    # the history still ends with v3, past the alias: the next rollback goes 2 -> 1
    rolled = salesops(three_versions, "models", "rollback", "--json")
    assert rolled.returncode == 0 and result_json(rolled) == {"from": "2", "champion": "1"}


def test_a_dead_or_wrong_tracking_store_fails_within_seconds(cli, workspace, monkeypatch):
    """A wrong database is exit 2, a server that does not answer exit 5: both in one line
    naming the store (MLflow alone retries a database for ~100 s, then exit 70)."""
    cases = [("postgresql+psycopg://postgres@127.0.0.1:5432/salesops_no_such_db", 2,
              'database "salesops_no_such_db" does not exist'),
             ("postgresql+psycopg://salesops_no_such_user@127.0.0.1:5432/postgres", 2,
              'role "salesops_no_such_user" does not exist'),
             ("postgresql+psycopg://postgres:pw@127.0.0.1:9/postgres", 5, "does not answer")]
    import mlflow  # noqa: F401 - their first imports (seconds on a busy machine) are not timed
    import psycopg  # noqa: F401
    import sqlalchemy  # noqa: F401

    for uri, code, words in cases:
        monkeypatch.setenv("SALESOPS_MLFLOW__TRACKING_URI", uri)
        for command in (["models", "list"], ["models", "promote", "1"]):
            started = time.monotonic()
            result = cli(*command)
            assert time.monotonic() - started < 10, (uri, command)
            assert result.exit_code == code, (uri, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and words in lines[0], lines
            assert "pw@" not in lines[0] and "127.0.0.1:" in lines[0]
    # the Python API that `serve deploy`, `drift` and `train submit` connect through
    from salesops.config import load_settings
    from salesops.errors import ConfigError
    from salesops.training.tracking import Tracking

    monkeypatch.setenv("SALESOPS_MLFLOW__TRACKING_URI", cases[0][0])
    with pytest.raises(ConfigError, match="salesops_no_such_db"):
        Tracking.open(load_settings(), read_only=False)


def test_postgres_profile_registry_read_without_writing(cli, workspace, monkeypatch,
                                                         database):  # noqa: F811
    """No MLflow tables in the profile's schema: `models list` says so, and creates none;
    a wrong database is exit 2 at once, as `infra up` says it."""
    import psycopg

    _use_postgres(monkeypatch, database)
    assert cli("infra", "up").exit_code == 0
    listed = cli("models", "list")
    assert listed.exit_code == 4, listed.stderr
    assert f"postgres@127.0.0.1:5432/{database} holds no registry" in listed.stderr
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=database) as conn:
        tables = conn.execute("SELECT count(*) FROM information_schema.tables "
                              "WHERE table_schema = 'salesops_mlflow'").fetchone()[0]
    assert tables == 0

    _use_postgres(monkeypatch, f"{database}_missing")
    started = time.monotonic()
    wrong = cli("models", "list")
    assert wrong.exit_code == 2 and time.monotonic() - started < 10
    assert f'database "{database}_missing" does not exist' in wrong.stderr


class _Broken:
    """A tracking "server" on loopback: /health answers `health`, every API call `api`."""

    def __init__(self, health: int, api: int):
        import http.server
        import threading

        codes = {"/health": health}

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                code = codes.get(self.path.split("?")[0], api)
                body = f"<html>{code}</html>".encode()  # what a proxy or another app sends
                self.send_response(code)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("health, api, code", [(200, 500, 5), (200, 404, 2), (404, 404, 2),
                                               (503, 503, 5)])
def test_a_tracking_server_that_fails_or_is_not_mlflow_fails_within_seconds(
        cli, workspace, monkeypatch, health, api, code):
    import mlflow  # noqa: F401 - its first import (seconds on a busy machine) is not timed

    server = _Broken(health, api)
    try:
        monkeypatch.setenv("SALESOPS_MLFLOW__TRACKING_URI", server.url)
        started = time.monotonic()
        result = cli("models", "list")
        assert time.monotonic() - started < 15
    finally:
        server.close()
    assert result.exit_code == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and server.url in lines[0], lines
