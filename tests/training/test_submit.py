"""`train submit` end to end on the embedded profile: Feast PIT set, 2-process DDP, MLflow."""

import numpy as np
import pytest

from tests.conftest import SMALL

pytestmark = pytest.mark.slow


def test_train_before_features_build_says_what_to_run(cli, workspace):
    result = cli("train", "submit")
    assert result.exit_code == 4
    assert "salesops features build" in result.stderr


def test_unreachable_tracking_server_fails_before_training(cli, workspace, monkeypatch):
    assert cli("infra", "up").exit_code == 0
    assert cli("features", "build", *SMALL).exit_code == 0
    monkeypatch.setenv("SALESOPS_MLFLOW__TRACKING_URI", "http://127.0.0.1:9")
    result = cli("train", "submit", "--epochs", "1")
    assert result.exit_code == 5
    assert "http://127.0.0.1:9 does not answer" in result.stderr
    assert "train_loss" not in result.stderr


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
    # rank 0's seconds per phase: where a run's time went besides the epochs
    assert {"training_set", "share_rows", "train", "holdout", "gate", "log_run",
            "log_model"} == set(summary["timings"])

    import mlflow

    from salesops.config import load_settings
    from salesops.training import registry
    from salesops.training.tracking import Tracking

    Tracking.open(load_settings(), read_only=False)
    model = mlflow.pyfunc.load_model("models:/salesops-demand@champion")
    assert model.metadata.signature is not None

    listed = cli("models", "list", "--json").json()
    assert listed[0]["version"] == "1" and "champion" in listed[0]["aliases"]

    # The gate refuses a model that cannot beat the best baseline by 99 %: exit 1, and the
    # new version is only the challenger.
    monkeypatch.setenv("SALESOPS_TRAINING__PROMOTE_MARGIN", "0.99")
    refused = cli("train", "submit", "--epochs", "2", "--json")
    assert refused.exit_code == 1
    assert not refused.json()["promoted"] and "margin" in refused.json()["reason"]
    assert "stays challenger" in refused.stderr
    aliases = {row["version"]: row["aliases"] for row in cli("models", "list", "--json").json()}
    assert aliases == {"1": ["champion"], "2": ["challenger"]}

    # An operator promotes v2; rollback gives the champion back to v1.
    assert cli("models", "promote", "2").exit_code == 0
    assert registry.champion_version("salesops-demand") == "2"
    rolled = cli("models", "rollback", "--json")
    assert rolled.exit_code == 0 and rolled.json() == {"from": "2", "champion": "1"}
    assert registry.champion_version("salesops-demand") == "1"
    assert cli("models", "rollback").exit_code == 1  # no earlier champion than v1


def test_training_set_is_split_by_time(cli, workspace, monkeypatch):
    from salesops.config import load_settings
    from salesops.features.schema import YEAR_FEATURES
    from salesops.training.dataset import VALIDATION_WEEKS, load_training_set

    assert cli("infra", "up").exit_code == 0
    assert cli("features", "build", *SMALL).exit_code == 0
    monkeypatch.setenv("SALESOPS_TRAINING__HOLDOUT_WEEKS", "8")
    training_set = load_training_set(load_settings())
    train, holdout = training_set.train_keys, training_set.holdout
    # every holdout week comes after every training week; 8 weeks of every series
    assert train["event_timestamp"].max() < holdout["event_timestamp"].min()
    assert holdout["event_timestamp"].nunique() == 8 and len(holdout) == 8 * 12
    arrays = training_set.arrays()
    assert len(arrays["val"]) == VALIDATION_WEEKS * 12
    assert len(arrays["train"]) + len(arrays["val"]) == len(train) == training_set.train_rows
    # the early-stopping rows are the last weeks before the holdout, the fitted ones before
    fit_weeks = train["event_timestamp"].iloc[:len(arrays["train"])]
    val_weeks = train["event_timestamp"].iloc[len(arrays["train"]):]
    assert fit_weeks.max() < val_weeks.min() and val_weeks.nunique() == VALIDATION_WEEKS
    # default history_weeks: the first year is trained on, without the year features
    assert train["event_timestamp"].nunique() == 90 - 8 - 8
    assert not set(YEAR_FEATURES) & set(training_set.features)

    monkeypatch.setenv("SALESOPS_TRAINING__HISTORY_WEEKS", "56")
    with_year = load_training_set(load_settings())
    assert set(YEAR_FEATURES) <= set(with_year.features)
    assert with_year.train_keys["event_timestamp"].nunique() == 90 - 56 - 8
    assert np.isfinite(with_year.train_inputs.x).all()
    assert not with_year.holdout[with_year.features].isna().any().any()


def test_retail_data_trains_end_to_end(cli, workspace, monkeypatch):
    """Returns, late starts and early ends: series younger than a year have no seasonal-naive
    forecast, so that baseline is scored on fewer rows, and the run records its data."""
    assert cli("infra", "up").exit_code == 0
    assert cli("features", "build", "--realism", "retail", "--stores", "6", "--depts", "8",
               "--weeks", "90").exit_code == 0
    # a champion that reads the year features, which the young series lack
    monkeypatch.setenv("SALESOPS_TRAINING__HISTORY_WEEKS", "56")
    assert cli("train", "submit", "--epochs", "1", "--force-promote").exit_code == 0
    monkeypatch.delenv("SALESOPS_TRAINING__HISTORY_WEEKS")
    # promoted past the gate: two epochs rarely beat the baselines, and the run must end
    result = cli("train", "submit", "--nodes", "2", "--epochs", "2", "--force-promote", "--json")
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    rows = {row["name"]: row for row in summary["metrics"]}
    assert list(rows) == ["model", "last_week", "seasonal_naive", "mean_4w"]
    assert rows["model"]["rows"] == summary["holdout_rows"]
    assert rows["last_week"]["rows"] == summary["holdout_rows"]
    assert 0 < rows["seasonal_naive"]["rows"] < rows["model"]["rows"]
    for name in ("last_week", "seasonal_naive", "mean_4w"):
        assert {"mape", "wape", "rmse", "r2", "model_wape"} <= set(rows[name])

    import mlflow

    from salesops.config import load_settings
    from salesops.training.dataset import load_training_set
    from salesops.training.model import Scalers
    from salesops.training.tracking import Tracking

    settings = load_settings()
    Tracking.open(settings, read_only=False)
    run = mlflow.get_run(summary["run_id"])
    assert run.data.tags["data.negative_sales"] == "keep"
    assert run.data.tags["data.missing_weeks"] == "zero"
    report = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/data_report.json")
    assert report["series"] == 48 and any(q["name"] == "negative_weeks" for q in report["quirks"])
    holdout = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/holdout_metrics.json")
    assert holdout["holdout"] == summary["metrics"]
    assert holdout["gate"]["binding_baseline"] == summary["best_baseline"] in rows
    # the champion was compared on the rows it can forecast
    assert summary["previous_champion"] == "1" and holdout["gate"]["champion_wape"] > 0

    # returns stay in the actuals the metrics read; the model's target floors them at 0
    training_set = load_training_set(settings)
    assert (training_set.y_train < 0).any()
    arrays = training_set.arrays()
    scalers = Scalers.fit(arrays["train"].x, arrays["y_train"])
    assert (arrays["y_train"] < 0).any() and np.isfinite(scalers.encode_y(arrays["y_train"])).all()


def test_reference_lightgbm_is_a_row_of_the_holdout_table_and_logged(cli, workspace):
    """LightGBM on the run's own rows, beside the baselines; the gate does not read it."""
    assert cli("infra", "up").exit_code == 0
    assert cli("features", "build", *SMALL).exit_code == 0
    result = cli("train", "submit", "--epochs", "2", "--no-promote", "--reference", "lightgbm",
                 "--json")
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    names = [row["name"] for row in summary["metrics"]]
    assert names == ["model", "lightgbm", "last_week", "seasonal_naive", "mean_4w"]
    lightgbm = summary["metrics"][1]
    assert lightgbm["rows"] == summary["holdout_rows"] and lightgbm["wape"] > 0
    assert summary["references"] == ["lightgbm"] and "reference" in summary["timings"]
    human = cli("train", "submit", "--epochs", "1", "--no-promote", "--reference", "lightgbm")
    assert "lightgbm: a reference fitted on the same rows and split, not gated" in human.stdout

    import mlflow

    from salesops.config import load_settings
    from salesops.training.tracking import Tracking

    Tracking.open(load_settings(), read_only=False)
    run = mlflow.get_run(summary["run_id"])
    assert run.data.metrics["reference_lightgbm_wape"] == pytest.approx(lightgbm["wape"])
    assert run.data.metrics["holdout_coverage"] == pytest.approx(summary["metrics"][0]["coverage"])


def test_reference_without_lightgbm_is_refused_before_training(cli, workspace, monkeypatch):
    import sys

    assert cli("infra", "up").exit_code == 0
    assert cli("features", "build", *SMALL).exit_code == 0
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # as where the extra is not installed
    result = cli("train", "submit", "--reference", "lightgbm")
    assert result.exit_code == 4
    assert "needs LightGBM" in result.stderr and "salesops[reference]" in result.stderr
    assert "epoch" not in result.stderr
    assert cli("train", "submit", "--reference", "xgboost").exit_code == 2
