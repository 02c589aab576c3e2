"""`salesops drift` end to end: real feature store, MLflow registry and model server."""

from __future__ import annotations

import pytest

from tests.monitoring.conftest import DATA

pytestmark = pytest.mark.slow


def _drift(cli, *args):
    result = cli("drift", "--json", *args)
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, result.json()


def test_fresh_weeks_from_the_same_generator_are_no_drift(cli, drift_ws):
    assert cli("features", "build", "--append-weeks", "8").exit_code == 0
    code, report = _drift(cli)
    assert (code, report["drift"], report["drifted_features"]) == (0, False, [])
    assert report["model"]["version"] == "1"
    counted = [f for f in report["features"] if f["role"] == "verdict"]
    assert counted and all(f["status"] == "ok" for f in counted)
    # calendar features are not compared; the macro series are shown, not counted
    names = {f["feature"]: f["role"] for f in report["features"]}
    assert "week_of_year" not in names and names["cpi"] == "monitored"


@pytest.mark.parametrize("seed", [7, 11])
def test_no_false_alarm_over_seeds(cli, drift_ws, seed):
    """Other data sets from the generator; the reference window is given by date."""
    assert cli("features", "build", *DATA, "--seed", str(seed)).exit_code == 0
    assert cli("features", "build", "--append-weeks", "8").exit_code == 0
    code, report = _drift(cli, "--reference-from", "2023-01-01", "--reference-to", "2024-03-01")
    assert (code, report["drifted_features"]) == (0, []), report["features"]


def test_temperature_shift_is_named(cli, drift_ws, monkeypatch):
    assert cli("features", "build", "--append-weeks", "8", "--shift",
               "temperature=+15").exit_code == 0
    code, report = _drift(cli)
    assert report["drifted_features"] == ["temperature"]
    # one feature of 17: below the dataset share (30 %), so no dataset drift ...
    assert (code, report["dataset_drift"]) == (0, False)
    # ... unless the configured share says one is enough
    monkeypatch.setenv("SALESOPS_DRIFT__SHARE_THRESHOLD", "0.05")
    assert cli("drift").exit_code == 1


def test_demand_shift_drifts_sales_features_and_the_error_on_actuals(cli, drift_ws, tmp_path,
                                                                     monkeypatch):
    # `pipeline run --monitor` serves the champion (the rest is up to date) and ends with
    # drift: none yet. Then every series' next week is asked for, so actuals arrive later.
    for key, value in {"STORES": "10", "DEPTS": "5", "WEEKS": "90"}.items():
        monkeypatch.setenv(f"SALESOPS_DATA__{key}", value)
    try:
        run = cli("pipeline", "run", "--monitor", "--json")
        assert run.exit_code == 0, run.stderr
        steps = {step["name"]: step for step in run.json()["steps"]}
        assert steps["train submit"]["state"] == "skipped"
        assert steps["drift"]["state"] == "done" and run.json()["drift"]["drift"] is False
        entities = [arg for s in range(1, 11) for d in range(1, 6)
                    for arg in ("--store", str(s), "--dept", str(d))]
        assert cli("predict", *entities).exit_code == 0
    finally:
        assert cli("serve", "stop").exit_code == 0
    assert cli("features", "build", "--append-weeks", "8", "--shift",
               "demand=0.6").exit_code == 0
    page = tmp_path / "drift.html"
    code, report = _drift(cli, "--report", str(page))
    assert code == 1 and report["dataset_drift"]
    assert {"sales_lag_1", "sales_mean_4"} <= set(report["drifted_features"])
    assert "temperature" not in report["drifted_features"]
    # the served week now has actual sales, 40 % below what was forecast
    actuals = report["actuals"]
    assert actuals["rows"] == 50 and actuals["degraded"]
    assert actuals["wape"] > 1.5 * actuals["holdout_wape"]
    # and far fewer of them inside the served P10-P90 interval than its calibrated 80 %
    assert actuals["coverage"] < 65.0 and actuals["coverage_low"]
    # predictions were served before the shift: they are no drift
    assert report["predictions"]["served"] == 50 and not report["predictions"]["drifted"]
    html = page.read_text()
    assert "Drift found" in html and "sales_lag_1" in html
    assert html.count("data:image/png;base64,") == len(report["drifted_features"])
    assert "http" not in html.replace("http-equiv", "")  # nothing fetched: readable offline


def test_retrain_registers_a_version_and_the_gate_decides(cli, drift_ws, monkeypatch):
    monkeypatch.setenv("SALESOPS_TRAINING__EPOCHS", "2")
    assert cli("features", "build", "--append-weeks", "8", "--shift",
               "demand=0.6").exit_code == 0
    code, report = _drift(cli, "--retrain")
    assert code == 1
    retrain = report["retrain"]
    assert retrain["version"] == "2" and isinstance(retrain["promoted"], bool)
    assert retrain["reason"]
    versions = cli("models", "list", "--json").json()
    assert [v["version"] for v in versions] == ["1", "2"]
    champion = next(v["version"] for v in versions if "champion" in v["aliases"])
    assert champion == ("2" if retrain["promoted"] else "1")


def test_no_drift_means_no_retraining(cli, drift_ws):
    code, report = _drift(cli, "--retrain")
    assert (code, report["retrain"]) == (0, None)


def test_too_little_data_is_a_clear_message(cli, drift_ws, monkeypatch):
    monkeypatch.setenv("SALESOPS_DRIFT__MIN_ROWS", "100")
    result = cli("-q", "drift", "--current-weeks", "1")  # 50 series-weeks
    assert result.exit_code == 3
    assert "too little data for a verdict: the current window" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_bad_dates_are_usage_errors(cli, drift_ws):
    assert cli("drift", "--current-from", "yesterday").exit_code == 2
    result = cli("drift", "--reference-from", "2024-05-01", "--reference-to", "2024-01-01")
    assert result.exit_code == 2 and "is after" in result.stderr


def test_without_a_model_or_features_says_what_to_run(cli, workspace):
    assert cli("infra", "up").exit_code == 0
    result = cli("drift")
    assert result.exit_code == 4 and "salesops features build" in result.stderr
