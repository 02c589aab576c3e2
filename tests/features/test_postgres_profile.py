"""The `postgres` profile (and the Redis online store) against the machine's real servers.

Each test gets its own database (dropped afterwards) and its own Feast project name, which
prefixes its Redis keys (deleted afterwards). Where a server does not answer, the tests skip
with the reason; under CI=true that is a failure instead, because CI has both servers.
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import pandas as pd
import pytest

from salesops.workspace import Workspace

from tests.conftest import SMALL
from tests.helpers import free_port

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = ("127.0.0.1", 6379)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytestmark = pytest.mark.slow


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the server must be there)")
    pytest.skip(reason)


def _admin():
    import psycopg

    try:
        return psycopg.connect(**PG, dbname="postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _unavailable(f"no PostgreSQL at {PG['host']}:{PG['port']}: {str(exc).strip()[:80]}")


@pytest.fixture
def database():
    """A fresh database for one test, dropped afterwards."""
    name = f"salesops_test_{uuid.uuid4().hex[:10]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_project():
    """A Feast project name unique to the test: its Redis keys end with it; deleted after."""
    import redis

    client = redis.Redis(*REDIS, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        _unavailable(f"no Redis at {REDIS[0]}:{REDIS[1]}: {exc}")
    project = f"so_{uuid.uuid4().hex[:10]}"
    try:
        yield project
    finally:
        keys = list(client.scan_iter(match=f"*{project}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def _use_postgres(monkeypatch, database: str) -> None:
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__PROFILE", "postgres")
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__POSTGRES_URL",
                       f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{database}")


def _online_rows(entities: list[tuple[int, int]]) -> pd.DataFrame:
    """What the model server would read: the inference features of `entities`."""
    from salesops.config import load_settings
    from salesops.features import feast_ops

    workspace = Workspace(load_settings().workspace)
    store = feast_ops.open_store(workspace)
    with feast_ops.quiet_feast(workspace):
        answer = store.get_online_features(
            features=store.get_feature_service("inference_features"),
            entity_rows=[{"store": s, "dept": d} for s, d in entities]).to_df()
    return answer.sort_values(["store", "dept"]).reset_index(drop=True)


ENTITIES = [(s, d) for s in (1, 2, 3) for d in (1, 2, 3, 4)]


def _lifecycle(cli) -> pd.DataFrame:
    """features build -> train submit -> serve deploy -> predict; returns the online rows."""
    assert cli("infra", "up").exit_code == 0
    built = cli("features", "build", *SMALL, "--json")
    assert built.exit_code == 0, built.stderr
    trained = cli("train", "submit", "--epochs", "2", "--force-promote", "--json")
    assert trained.exit_code == 0, trained.stderr
    assert trained.json()["version"] == "1"
    try:
        assert cli("serve", "deploy").exit_code == 0
        answer = cli("predict", "--store", "1", "--dept", "3", "--store", "3", "--dept", "4",
                     "--json")
        assert answer.exit_code == 0, answer.stderr
        forecasts = [p["forecast"] for p in answer.json()["predictions"]]
        assert len(forecasts) == 2 and all(np.isfinite(forecasts)) and min(forecasts) >= 0
        assert answer.json()["model_version"] == "1"
    finally:
        cli("serve", "stop")
    return _online_rows(ENTITIES)


def test_lifecycle_on_postgres_then_with_redis_matches_the_embedded_profile(
        cli, workspace, tmp_path, monkeypatch, database, redis_project):
    monkeypatch.setenv("SALESOPS_SERVING__PORT", str(free_port()))
    monkeypatch.setenv("SALESOPS_TRAINING__HOLDOUT_WEEKS", "8")
    embedded = _lifecycle(cli)

    _use_postgres(monkeypatch, database)
    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(tmp_path / "pg"))
    on_postgres = _lifecycle(cli)
    pd.testing.assert_frame_equal(on_postgres, embedded, check_dtype=False)

    # the MLflow tracking store is on the same server, in its own schema
    import psycopg

    with psycopg.connect(**PG, dbname=database) as conn:
        tables = dict(conn.execute(
            "SELECT table_schema, count(*) FROM information_schema.tables "
            "WHERE table_schema LIKE 'salesops%' GROUP BY 1").fetchall())
    assert {"salesops", "salesops_mlflow"} <= set(tables)

    monkeypatch.setenv("SALESOPS_FEATURE_STORE__ONLINE", "redis")
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__REDIS_URL", f"redis://{REDIS[0]}:{REDIS[1]}/0")
    monkeypatch.setenv("SALESOPS_PROJECT__NAME", redis_project)
    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(tmp_path / "pg_redis"))
    # a fresh registry and tracking store beside the first ones, in their own schemas
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__POSTGRES_SCHEMA", "salesops_redis")
    with_redis = _lifecycle(cli)
    pd.testing.assert_frame_equal(with_redis, embedded, check_dtype=False)


def test_postgres_training_set_keeps_colliding_entity_keys_apart(cli, workspace, monkeypatch,
                                                                  database):
    """(store 1, dept 11) and (store 11, dept 1): Feast's concatenated row id would merge them."""
    from salesops.config import load_settings
    from salesops.training.dataset import load_training_set

    _use_postgres(monkeypatch, database)
    assert cli("infra", "up").exit_code == 0
    assert cli("features", "build", "--stores", "11", "--depts", "11", "--weeks", "80").exit_code == 0
    training_set = load_training_set(load_settings())
    keys = ["store", "dept", "event_timestamp"]
    frame = pd.concat([training_set.train_keys.assign(weekly_sales=training_set.y_train),
                       training_set.holdout[[*keys, "weekly_sales"]]], ignore_index=True)
    assert not frame.duplicated(keys).any()
    assert len(frame) == 11 * 11 * (80 - 8)
    target = pd.read_parquet(Workspace(workspace).offline_data / "sales_target.parquet")
    merged = frame.merge(target, on=keys, suffixes=("", "_stored"))
    np.testing.assert_allclose(merged["weekly_sales"], merged["weekly_sales_stored"])


def test_infra_up_says_precisely_what_is_wrong(cli, workspace, monkeypatch, database):
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__PROFILE", "postgres")

    def up_with(url: str):
        monkeypatch.setenv("SALESOPS_FEATURE_STORE__POSTGRES_URL", url)
        return cli("infra", "up")

    result = up_with(f"postgresql://postgres@127.0.0.1:{free_port()}/{database}")
    assert result.exit_code == 5 and "does not answer" in result.stderr
    result = up_with("postgresql://postgres:s3cret@127.0.0.1:5432/salesops_no_such_db")
    assert result.exit_code == 2
    assert "has no database 'salesops_no_such_db'" in result.stderr and "createdb" in result.stderr
    assert "s3cret" not in result.stderr
    assert not workspace.exists()  # nothing half-made

    # a user without CREATE on the database
    role = f"so_limited_{uuid.uuid4().hex[:6]}"
    with _admin() as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'REVOKE CREATE ON DATABASE "{database}" FROM PUBLIC')
    try:
        result = up_with(f"postgresql://{role}@127.0.0.1:5432/{database}")
        assert result.exit_code == 2
        assert f"user '{role}' may not create schema 'salesops'" in result.stderr
        assert "GRANT CREATE ON DATABASE" in result.stderr
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')
            admin.execute(f'CREATE DATABASE "{database}"')

    monkeypatch.setenv("SALESOPS_FEATURE_STORE__POSTGRES_URL",
                       f"postgresql://postgres:s3cret@127.0.0.1:5432/{database}")
    shown = cli("config", "show")
    assert shown.exit_code == 0 and "s3cret" not in shown.stdout + shown.stderr


def test_a_build_that_fails_midway_leaves_the_previous_tables(cli, workspace, monkeypatch,
                                                              database):
    import psycopg

    from salesops.stores import postgres_tables as postgres

    _use_postgres(monkeypatch, database)
    assert cli("infra", "up").exit_code == 0
    assert cli("features", "build", *SMALL).exit_code == 0

    def counts():
        with psycopg.connect(**PG, dbname=database) as conn:
            return [conn.execute(f"SELECT count(*), max(event_timestamp) FROM salesops.{t}")
                    .fetchone() for t in ("dept_weekly", "store_weekly", "sales_target")]

    before = counts()
    real_copy = postgres._copy
    calls = []

    def failing_copy(conn, table, frame):
        calls.append(table)
        if len(calls) == 2:  # the second view's staging load breaks
            raise OSError("connection lost")
        real_copy(conn, table, frame)

    monkeypatch.setattr(postgres, "_copy", failing_copy)
    failed = cli("features", "build", *SMALL, "--append-weeks", "2")
    assert failed.exit_code != 0
    assert counts() == before  # readers still see the complete previous tables

    monkeypatch.setattr(postgres, "_copy", real_copy)
    again = cli("features", "build", *SMALL, "--json")
    assert again.exit_code == 0, again.stderr
    assert counts() == before  # same data again: same tables


def test_a_pod_without_workspace_files_reads_the_build_from_the_server(cli, workspace,
                                                                        monkeypatch, database):
    """A TrainJob or predictor pod has the feature repo but no parquet copy or manifest file."""
    import shutil

    from salesops.config import load_settings
    from salesops.features.feast_ops import open_store
    from salesops.serving.online import OnlineFeatures
    from salesops.training.dataset import load_training_set

    _use_postgres(monkeypatch, database)
    assert cli("infra", "up").exit_code == 0
    built = cli("features", "build", *SMALL, "--json")
    assert built.exit_code == 0
    ws = Workspace(workspace)
    shutil.rmtree(ws.offline_data)
    ws.build_manifest.unlink()

    settings = load_settings()
    training_set = load_training_set(settings)
    assert training_set.fingerprint == built.json()["fingerprint"]
    assert training_set.rows == 12 * (90 - 8)
    online = OnlineFeatures(open_store(ws), ws, ["sales_lag_1"],
                            settings=settings)
    assert online.size == 12


def test_infra_down_drops_only_the_schemas_salesops_created(cli, workspace, monkeypatch,
                                                            database):
    import psycopg

    with psycopg.connect(**PG, dbname=database, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA team_data")
        conn.execute("CREATE TABLE team_data.keep_me (id int)")
    _use_postgres(monkeypatch, database)
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__POSTGRES_SCHEMA", "team_data")
    assert cli("infra", "up").exit_code == 0
    down = cli("infra", "down", "--yes", "--json")
    assert down.exit_code == 0, down.stderr
    with psycopg.connect(**PG, dbname=database) as conn:
        schemas = {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace")}
    assert "team_data" in schemas and "team_data_mlflow" not in schemas

    monkeypatch.setenv("SALESOPS_FEATURE_STORE__POSTGRES_SCHEMA", "public")
    refused = cli("infra", "up")
    assert refused.exit_code == 2 and "postgres_schema" in refused.stderr


@pytest.mark.slow
@pytest.mark.parametrize("point", ["build.inside_online_write"])
def test_a_build_killed_before_its_switch_leaves_the_servers_build_whole(
        workspace, monkeypatch, database, point):
    """The offline tables, the online rows and the manifest on the server switch in one
    transaction: a `kill -9` before it changes none of them."""
    import psycopg

    from tests.faults.test_build_faults import salesops

    _use_postgres(monkeypatch, database)
    for args in (["infra", "up"], ["features", "build", *SMALL, "--seed", "1"]):
        assert salesops(workspace, *args).returncode == 0

    def server_state():
        with psycopg.connect(**PG, dbname=database) as conn:
            tables = [row[0] for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'salesops' "
                "AND tablename NOT LIKE '%%\\_\\_staging' ORDER BY 1")]
            assert "salesops_dept_weekly" in tables  # Feast's online table
            return {table: conn.execute(
                f'SELECT md5(string_agg(t::text, \',\' ORDER BY t::text)) FROM salesops."{table}" t'
                if table != "build_manifest" else
                "SELECT manifest::text FROM salesops.build_manifest").fetchone()[0]
                for table in tables}

    before = server_state()
    killed = salesops(workspace, "features", "build", *SMALL, "--seed", "7", fault=point)
    assert killed.returncode == -9, killed.stderr
    assert server_state() == before
    again = salesops(workspace, "features", "build", *SMALL, "--seed", "7")
    assert again.returncode == 0, again.stderr
    after = server_state()
    assert after["salesops_dept_weekly"] != before["salesops_dept_weekly"]
    assert after["build_manifest"] != before["build_manifest"]


def test_a_pod_without_workspace_files_sees_a_new_build_made_elsewhere(cli, workspace,
                                                                       monkeypatch, database):
    """A predictor pod watched its own workspace's manifest file, which it never has: a
    build made by a feature Job (or a laptop) never reached its online rows."""
    import shutil

    from salesops.config import load_settings
    from salesops.features.feast_ops import open_store
    from salesops.serving.online import OnlineFeatures

    _use_postgres(monkeypatch, database)
    assert cli("infra", "up").exit_code == 0
    assert cli("features", "build", *SMALL).exit_code == 0
    ws = Workspace(workspace)
    pod = Workspace(workspace.parent / "pod")
    shutil.copytree(ws.feature_repo, pod.feature_repo)  # the pod's mounted feature_store.yaml
    settings = load_settings().model_copy(update={"project": load_settings().project.model_copy(
        update={"workspace": pod.root})})
    online = OnlineFeatures(open_store(pod), pod, ["sales_lag_1"], settings=settings)
    before = online.snapshot.stamp
    assert before is not None
    assert cli("features", "build", "--append-weeks", "1").exit_code == 0  # elsewhere
    assert online._stamp() not in (None, before)
