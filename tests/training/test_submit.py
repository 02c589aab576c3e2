"""`train submit` end to end on the embedded profile: Feast PIT set, 2-process DDP, MLflow."""

import pytest

from tests.conftest import SMALL

pytestmark = pytest.mark.slow


def test_train_before_features_build_says_what_to_run(cli, workspace):
    result = cli("train", "submit")
    assert result.exit_code == 4
    assert "salesops features build" in result.stderr


def test_nodes_zero_is_a_usage_error(cli, workspace):
    assert cli("train", "submit", "--nodes", "0").exit_code == 2


def test_submit_registers_and_promotes_on_force(cli, workspace, monkeypatch):
    monkeypatch.setenv("SALESOPS_TRAINING__HOLDOUT_WEEKS", "8")
    assert cli("infra", "up").exit_code == 0
    assert cli("features", "build", *SMALL, "--weeks", "100").exit_code == 0
    result = cli("train", "submit", "--nodes", "2", "--epochs", "3", "--force-promote", "--json")
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["promoted"] and summary["version"] == "1" and summary["world_size"] == 2
    names = [row["name"] for row in summary["metrics"]]
    assert names == ["model", "last_week", "seasonal_naive", "mean_4w"]
    assert 1 <= summary["epochs_run"] <= 3

    import mlflow

    from salesops.config import load_settings
    from salesops.training.tracking import connect

    connect(load_settings())
    model = mlflow.pyfunc.load_model("models:/salesops-demand@champion")
    assert model.metadata.signature is not None

    listed = cli("models", "list", "--json").json()
    assert listed[0]["version"] == "1" and "champion" in listed[0]["aliases"]
