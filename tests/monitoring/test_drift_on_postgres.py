"""`drift` on the postgres profile (the cluster's) from a workspace that holds nothing: a
pod's emptyDir. The feature tables, the manifest, the registry and the prediction log are
on the server, and drift reads them there."""

from __future__ import annotations

import contextlib

import pytest

from tests.features.test_postgres_profile import PG, database
from tests.helpers import free_port, only_env
from tests.monitoring.conftest import DATA, ENV
from tests.serving.conftest import run_cli, run_steps

pytestmark = pytest.mark.slow

ENTITIES = [arg for s in range(1, 11) for d in range(1, 6)
            for arg in ("--store", str(s), "--dept", str(d))]


#: the `database` fixture's own code, for one database the whole module shares
_database = contextlib.contextmanager(database.__wrapped__)


@pytest.fixture(scope="module")
def served_on_postgres(tmp_path_factory):
    """The postgres profile's settings after a build, a champion and a server that answered
    every series' next week (then stopped: its log is flushed). Yields the environment
    without a workspace."""
    root = tmp_path_factory.mktemp("drift_pg")
    with _database() as database:
        env = {**ENV, "SALESOPS_FEATURE_STORE__PROFILE": "postgres",
               "SALESOPS_FEATURE_STORE__POSTGRES_URL":
                   f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{database}",
               "SALESOPS_SERVING__PORT": str(free_port())}
        with only_env(root, {**env, "SALESOPS_PROJECT__WORKSPACE": str(root / "ws")}):
            run_steps(["infra", "up"], ["features", "build", *DATA],
                      ["train", "submit", "--epochs", "2", "--force-promote"],
                      ["serve", "deploy"])
            try:
                run_steps(["predict", *ENTITIES])
            finally:
                assert run_cli("serve", "stop") == 0
        yield env


@pytest.fixture
def pod_workspace(served_on_postgres, tmp_path, monkeypatch):
    """A different, empty workspace on the same server (no `infra up`: a pod has none)."""
    workspace = tmp_path / "pod"
    for name, value in {**served_on_postgres,
                        "SALESOPS_PROJECT__WORKSPACE": str(workspace)}.items():
        monkeypatch.setenv(name, value)
    return workspace


def test_drift_in_an_empty_workspace_reads_the_build_on_the_server(cli, pod_workspace):
    result = cli("drift", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["model"]["version"] == "1" and report["drift"] is False
    assert report["current"]["rows"] == 10 * 5 * 8  # drift.current_weeks of 50 series
    assert [f for f in report["features"] if f["role"] == "verdict" and f["status"] == "ok"]
    assert not (pod_workspace / "offline_data").exists()  # nothing was copied over


def test_drift_sees_what_the_server_served_from_another_workspace(cli, pod_workspace):
    report = cli("drift", "--json").json()
    assert report["predictions"]["served"] == 50  # every series' next week, once
    assert "status" in report["predictions"] and not report["predictions"]["drifted"]
