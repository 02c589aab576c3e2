"""features build end to end with real Feast: offline parquet, sqlite registry, sqlite online."""

import json
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from salesops.data.synthetic import generate
from salesops.features.schema import MIN_HISTORY_WEEKS
from salesops.workspace import LOCK_NAME, Workspace
from tests.conftest import SMALL
from tests.data.test_walmart_csv import write_kaggle

pytestmark = pytest.mark.slow


@pytest.fixture
def built(cli, workspace):
    assert cli("infra", "up").exit_code == 0
    result = cli("features", "build", *SMALL, "--json")
    assert result.exit_code == 0, result.stderr
    return result.json()


def _store(workspace: Path):
    from feast import FeatureStore

    return FeatureStore(repo_path=str(workspace / "feature_repo"))


def _offline(workspace: Path, view: str) -> pd.DataFrame:
    return pd.read_parquet(Workspace(workspace).offline_data / f"{view}.parquet")


def test_build_summary(built):
    assert built["rows"] == 3 * 4 * 90
    assert built["online_entities"] == 12
    assert built["feature_rows"]["dept_weekly"] == 12 * (90 - MIN_HISTORY_WEEKS + 1)
    assert built["feature_rows"]["sales_target"] == 12 * (90 - MIN_HISTORY_WEEKS)


def test_online_row_is_the_next_week_row(built, workspace):
    store = _store(workspace)
    service = store.get_feature_service("inference_features")
    online = store.get_online_features(features=service,
                                       entity_rows=[{"store": 1, "dept": 3}]).to_df()
    dept = _offline(workspace, "dept_weekly")
    expected = dept[(dept.store == 1) & (dept.dept == 3)].sort_values("event_timestamp").iloc[-1]
    assert expected["event_timestamp"].date().isoformat() == built["next_week"]
    for column in ("sales_lag_1", "sales_lag_52", "sales_mean_8", "sales_yoy_ratio"):
        assert online.loc[0, column] == pytest.approx(expected[column])
    assert "weekly_sales" not in online.columns


def test_inference_service_has_no_target(built, workspace):
    store = _store(workspace)
    inference = store.get_feature_service("inference_features")
    names = {f.name for p in inference.feature_view_projections for f in p.features}
    assert "weekly_sales" not in names and "sales_lag_1" in names
    training = store.get_feature_service("training_features")
    assert len(training.feature_view_projections) == 3
    assert {p.name for p in training.feature_view_projections} == {
        "dept_weekly", "store_weekly", "sales_target"}


def test_point_in_time_retrieval_returns_values_known_then(built, workspace):
    store = _store(workspace)
    dept = _offline(workspace, "dept_weekly")
    series = dept[(dept.store == 2) & (dept.dept == 1)].sort_values("event_timestamp")
    week_a, week_b = series["event_timestamp"].iloc[3], series["event_timestamp"].iloc[10]
    entity_df = pd.DataFrame({
        "store": [2, 2, 2],
        "dept": [1, 1, 1],
        # exactly on a week, three days into a week (still that week's row), and on week b
        "event_timestamp": [week_a, week_a + timedelta(days=3), week_b],
    })
    got = store.get_historical_features(
        entity_df=entity_df, features=["dept_weekly:sales_lag_1", "sales_target:weekly_sales"]
    ).to_df().sort_values("event_timestamp").reset_index(drop=True)
    row_a = series.set_index("event_timestamp").loc[week_a]
    row_b = series.set_index("event_timestamp").loc[week_b]
    assert list(got["sales_lag_1"]) == pytest.approx(
        [row_a["sales_lag_1"], row_a["sales_lag_1"], row_b["sales_lag_1"]])
    target = _offline(workspace, "sales_target")
    target = target[(target.store == 2) & (target.dept == 1)].set_index("event_timestamp")
    assert got.loc[2, "weekly_sales"] == pytest.approx(target.loc[week_b, "weekly_sales"])


def test_rebuild_is_idempotent(built, cli, workspace):
    again = cli("features", "build", *SMALL, "--json").json()
    assert again["fingerprint"] == built["fingerprint"]
    assert again["online_entities"] == built["online_entities"]


def test_append_weeks_extends_and_materializes_incrementally(built, cli, workspace):
    result = cli("features", "build", "--append-weeks", "3", "--shift", "temperature=25", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["weeks"] == 93
    expected_next = pd.Timestamp(built["next_week"]) + pd.Timedelta(weeks=3)
    assert doc["next_week"] == expected_next.date().isoformat()
    online = _store(workspace).get_online_features(
        features=["store_weekly:temperature", "dept_weekly:sales_lag_1"],
        entity_rows=[{"store": 1, "dept": 3}],
    ).to_df()
    stores = _offline(workspace, "store_weekly")
    newest = stores[(stores.store == 1)].sort_values("event_timestamp").iloc[-1]
    assert newest["event_timestamp"].date() == expected_next.date()
    assert online.loc[0, "temperature"] == pytest.approx(newest["temperature"])


def test_feast_cli_works_on_the_repo(built, workspace):
    feast = Path(sys.executable).parent / "feast"
    repo = str(workspace / "feature_repo")
    views = subprocess.run([str(feast), "-c", repo, "feature-views", "list"],
                           capture_output=True, text=True, timeout=120)
    assert views.returncode == 0, views.stderr
    for view in ("dept_weekly", "store_weekly", "sales_target"):
        assert view in views.stdout
    # (the feature services, read in this process: test_inference_service_has_no_target)
    plan = subprocess.run([str(feast), "-c", repo, "plan"], capture_output=True, text=True,
                          timeout=120)
    assert plan.returncode == 0, plan.stderr


def test_build_before_infra_up_says_what_to_run(cli, workspace):
    result = cli("features", "build", *SMALL)
    assert result.exit_code == 4
    assert "salesops infra up" in result.stderr


def test_bad_csv_fails_cleanly_and_keeps_the_previous_build(built, cli, workspace, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in (workspace / "feature_repo").rglob("*") if p.is_file()}
    folder = write_kaggle(generate(stores=2, depts=2, weeks=90), tmp_path / "walmart")
    frame = pd.read_csv(folder / "features.csv").drop(columns=["Fuel_Price"])
    frame.to_csv(folder / "features.csv", index=False)
    result = cli("features", "build", "--source", "csv", "--path", str(folder))
    assert result.exit_code == 3
    assert "Fuel_Price" in result.stderr and "features.csv" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    after = {p: p.stat().st_mtime_ns for p in (workspace / "feature_repo").rglob("*") if p.is_file()}
    assert after == before

    shutil.rmtree(folder)
    missing = cli("features", "build", "--source", "csv", "--path", str(folder))
    assert missing.exit_code == 3


def test_csv_import_builds(cli, workspace, tmp_path):
    folder = write_kaggle(generate(stores=2, depts=2, weeks=90), tmp_path / "walmart")
    cli("infra", "up")
    result = cli("features", "build", "--source", "csv", "--path", str(folder), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["source"] == "csv"
    # a folder given alone is an import, never ignored for synthetic data
    alone = cli("features", "build", "--path", str(folder), "--json")
    assert alone.exit_code == 0, alone.stderr
    assert alone.json()["source"] == "csv" and alone.json()["stores"] == 2
    both = cli("features", "build", "--source", "synthetic", "--path", str(folder))
    assert both.exit_code == 2 and "--path" in both.stderr


def _snapshot(workspace: Path) -> dict:
    """Every state file and when it was written (the lock file says who ran last: not state)."""
    return {p: p.stat().st_mtime_ns for p in workspace.rglob("*")
            if p.is_file() and "logs" not in p.parts and p.name != LOCK_NAME}


def test_data_too_short_to_train_on_is_refused_before_anything_is_replaced(
        built, cli, workspace, tmp_path):
    before = _snapshot(workspace)
    folder = write_kaggle(generate(stores=2, depts=2, weeks=90), tmp_path / "walmart")
    frame = pd.read_csv(folder / "train.csv")
    last_ten = sorted(frame["Date"].unique())[-10:]
    frame[frame["Date"].isin(last_ten)].to_csv(folder / "train.csv", index=False)
    result = cli("-q", "features", "build", "--source", "csv", "--path", str(folder))
    assert result.exit_code == 3, result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "the data has 10 weeks" in message and "training needs at least 33" in message
    assert _snapshot(workspace) == before


def test_quirky_data_is_reported_and_ended_series_are_not_online(cli, workspace, monkeypatch):
    from salesops.features.schema import DEPT_FEATURES

    # a series without a row in the last week has ended: some end inside the TTL window
    monkeypatch.setenv("SALESOPS_DATA__ENDED_AFTER_WEEKS", "1")
    cli("infra", "up")
    result = cli("features", "build", "--realism", "retail", "--stores", "6", "--depts", "10",
                 "--weeks", "90", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    report = doc["data_report"]
    names = {q["name"] for q in report["quirks"] if q["count"]}
    assert {"negative_weeks", "missing_weeks", "late_start_series", "ended_series",
            "short_series", "markdown_not_recorded", "covariate_gaps"} <= names
    assert report["policies"] == {"missing_weeks": "zero", "negative_sales": "keep",
                                  "missing_markdown": "unknown", "ended_after_weeks": 1}
    manifest = json.loads(Workspace(workspace).build_manifest.read_text())
    assert manifest["data_report"] == report and manifest["policies"] == report["policies"]
    series = _offline(workspace, "series")
    assert doc["online_entities"] == (series["status"] == "current").sum()
    # a series that ended inside the TTL window keeps no row of its last week online
    next_week = pd.Timestamp(doc["next_week"], tz="UTC")
    ended = series[series["status"] == "ended"].sort_values("last_week").iloc[-1]
    assert ended["last_week"] >= next_week - timedelta(days=14)
    online = _store(workspace).get_online_features(
        features=[f"dept_weekly:{name}" for name in DEPT_FEATURES],
        entity_rows=[{"store": int(ended["store"]), "dept": int(ended["dept"])}]).to_dict()
    assert all(online[name] == [None] for name in DEPT_FEATURES)
