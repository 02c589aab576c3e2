"""MLflow through `Tracking`: a read-only open creates nothing, and only "not found" means
"no champion" or "no such version"; any other MLflow error is the store failing (exit 5)."""

from __future__ import annotations

import sqlite3

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
)

from salesops.config import load_settings
from salesops.errors import PreconditionError, ServiceUnavailable, UsageError
from salesops.training import registry
from salesops.training.tracking import Tracking


class Failing:
    """An MlflowClient whose every call raises `error`."""

    def __init__(self, error: MlflowException) -> None:
        self.error = error

    def __getattr__(self, name):
        def call(*args, **kwargs):
            raise self.error
        return call


def failing(monkeypatch, message: str, code: int) -> None:
    monkeypatch.setattr(registry, "client", lambda: Failing(MlflowException(message, code)))


def test_a_read_only_open_of_an_empty_store_file_creates_no_tables(workspace):
    """`models list` in a workspace whose mlflow.db is empty must not migrate it."""
    workspace.mkdir()
    (workspace / "mlflow.db").touch()
    with pytest.raises(PreconditionError, match=str(workspace)):
        Tracking.open(load_settings(), read_only=True)
    with sqlite3.connect(workspace / "mlflow.db") as conn:
        assert conn.execute("select count(*) from sqlite_master").fetchone() == (0,)


def test_a_read_only_open_without_a_store_names_where_it_looked(workspace):
    with pytest.raises(PreconditionError, match="no MLflow tracking store in .*ws"):
        Tracking.open(load_settings(), read_only=True)
    assert not (workspace / "mlflow.db").exists()


def test_a_missing_alias_or_model_is_no_champion(monkeypatch):
    failing(monkeypatch, "Registered model alias champion not found.", INVALID_PARAMETER_VALUE)
    assert registry.champion_version("m") is None
    failing(monkeypatch, "Registered Model with name=m not found", RESOURCE_DOES_NOT_EXIST)
    assert registry.champion_version("m") is None


@pytest.mark.parametrize("code", [INTERNAL_ERROR, PERMISSION_DENIED])
def test_a_failing_store_is_not_no_champion(monkeypatch, code):
    failing(monkeypatch, "(sqlite3.OperationalError) no such table: model_versions", code)
    with pytest.raises(ServiceUnavailable, match="no such table"):
        registry.champion_version("m")


def test_a_failing_store_is_not_a_missing_model_or_version(monkeypatch):
    failing(monkeypatch, "server error 500", INTERNAL_ERROR)
    for call in (lambda: registry.list_versions("m"), lambda: registry.rollback("m"),
                 lambda: registry.promote("m", "1")):
        with pytest.raises(ServiceUnavailable, match="server error 500"):
            call()


def test_a_missing_model_is_still_a_precondition(monkeypatch):
    failing(monkeypatch, "Registered Model with name=m not found", RESOURCE_DOES_NOT_EXIST)
    with pytest.raises(PreconditionError, match="no registered model 'm'"):
        registry.rollback("m")


def test_serving_a_version_from_a_failing_store_is_not_a_missing_version(monkeypatch, workspace):
    from salesops.serving import scorer

    monkeypatch.setattr(Tracking, "open", classmethod(lambda cls, settings, read_only: None))
    settings = load_settings()
    failing(monkeypatch, "server error 500", INTERNAL_ERROR)
    with pytest.raises(ServiceUnavailable):
        scorer.resolve_version(settings, "3")
    with pytest.raises(ServiceUnavailable):
        scorer.resolve_version(settings)
    failing(monkeypatch, "Model Version (name=m, version=3) not found", RESOURCE_DOES_NOT_EXIST)
    with pytest.raises(UsageError, match="has no version 3"):
        scorer.resolve_version(settings, "3")
    failing(monkeypatch, "Registered model alias champion not found.", INVALID_PARAMETER_VALUE)
    with pytest.raises(PreconditionError, match="no champion version"):
        scorer.resolve_version(settings)
