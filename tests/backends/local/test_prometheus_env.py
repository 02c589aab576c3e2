"""Which Prometheus multi-process variables a child process keeps: Feast's temporary
directory is dropped, a directory the user chose stays (the servers that depend on it are
in tests/serving/test_isolation.py)."""

from __future__ import annotations

import os

import pytest

from salesops.backends.local.prometheus_env import (
    check_multiproc_dir,
    drop_feast_variables,
    without_feast_variables,
)
from salesops.errors import ConfigError

FEAST = "/tmp/feast_metrics_abc123"


def test_feasts_directory_is_dropped_and_the_rest_kept():
    environ = {"PROMETHEUS_MULTIPROCESS_DIR": FEAST, "PROMETHEUS_MULTIPROC_DIR": FEAST,
               "prometheus_multiproc_dir": FEAST + "/", "HOME": "/root"}
    assert without_feast_variables(environ) == {"HOME": "/root"}


def test_a_users_directory_stays_beside_the_one_feast_added():
    """The user set prometheus_client's name; Feast then set its own to a new directory."""
    environ = {"PROMETHEUS_MULTIPROC_DIR": "/srv/metrics", "PROMETHEUS_MULTIPROCESS_DIR": FEAST}
    assert without_feast_variables(environ) == {"PROMETHEUS_MULTIPROC_DIR": "/srv/metrics"}


def test_drop_changes_this_process(monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", FEAST)
    monkeypatch.setenv("PROMETHEUS_MULTIPROCESS_DIR", "/srv/metrics")
    assert drop_feast_variables() == ["PROMETHEUS_MULTIPROC_DIR"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert os.environ["PROMETHEUS_MULTIPROCESS_DIR"] == "/srv/metrics"


def test_a_users_directory_must_exist(tmp_path):
    check_multiproc_dir({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    check_multiproc_dir({"PROMETHEUS_MULTIPROCESS_DIR": "/nowhere"})  # Feast's name only
    with pytest.raises(ConfigError, match=r"PROMETHEUS_MULTIPROC_DIR=/nowhere is not a dir"):
        check_multiproc_dir({"PROMETHEUS_MULTIPROC_DIR": "/nowhere"})
