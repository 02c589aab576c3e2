"""`predict --input FILE --output FILE`: offline scoring of entity keys or feature rows."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops.features.schema import YEAR_FEATURES

pytestmark = pytest.mark.slow

KEYS = [{"store": 1, "dept": 4}, {"store": 2, "dept": 3}, {"store": 3, "dept": 2}]


@pytest.fixture
def online_rows(serving_env):
    """The online feature rows of KEYS as Feast serves them, and the champion pyfunc."""
    import mlflow

    from salesops.config import load_settings
    from salesops.features.feast_ops import open_store
    from salesops.training.tracking import Tracking
    from salesops.workspace import Workspace

    settings = load_settings()
    Tracking.open(settings, read_only=False)
    model = mlflow.pyfunc.load_model("models:/salesops-demand@champion")
    store = open_store(Workspace(settings.workspace))
    rows = store.get_online_features(features=store.get_feature_service("inference_features"),
                                     entity_rows=KEYS).to_df()
    return rows, model


def pyfunc_predict(model, rows: pd.DataFrame, output: str = "forecast") -> np.ndarray:
    schema = model.metadata.get_input_schema()
    return model.predict(rows[schema.input_names()].astype(
        {name: kind.to_numpy() for name, kind in schema.input_types_dict().items()}))[output]


def test_entity_file_gets_online_features_and_forecasts(online_rows, cli, tmp_path):
    rows, model = online_rows
    source = tmp_path / "keys.csv"
    keys = pd.DataFrame(KEYS).assign(note=["a", "b", "c"])
    keys.to_csv(source, index=False)
    result = cli("predict", "--input", str(source), "--output", str(tmp_path / "out.parquet"),
                 "--json")
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["mode"] == "entities" and summary["rows"] == 3
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out.columns.tolist() == ["store", "dept", "note", "week", "forecast", "p10", "p50",
                                    "p90", "model_version", "refused"]
    assert out["refused"].isna().all() and summary["refused"] == 0
    for name in ("forecast", "p10", "p50", "p90"):
        np.testing.assert_allclose(out[name], pyfunc_predict(model, rows, name), rtol=0)
    assert str(out["week"].iloc[0]) == "2024-09-27" and out["model_version"].iloc[0] == "1"


def test_feature_rows_are_scored_as_they_are(online_rows, cli, tmp_path):
    rows, model = online_rows
    source = tmp_path / "features.parquet"
    rows.to_parquet(source)  # every feature column, in Feast's order and types
    result = cli("predict", "--input", str(source), "--output", str(tmp_path / "out.csv"), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["mode"] == "features"
    scored = pd.read_csv(tmp_path / "out.csv")  # CSV may round the last bit
    np.testing.assert_allclose(scored["forecast"], pyfunc_predict(model, rows), rtol=1e-12)


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"store": [1], "dept": [99]}), "store=1, dept=99 is unknown"),
    (pd.DataFrame({"store": [1.5], "dept": [1]}), "column store: every value must be an integer"),
    (pd.DataFrame({"shop": [1]}), "needs the columns store and dept"),
])
def test_bad_files_are_data_errors(serving_env, cli, tmp_path, frame, message):
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    result = cli("predict", "--input", str(source), "--output", str(tmp_path / "out.csv"))
    assert result.exit_code == 3 and message in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_file_option_errors(cli, tmp_path):
    assert cli("predict", "--input", str(tmp_path / "a.csv")).exit_code == 2
    wrong = cli("predict", "--input", str(tmp_path / "a.txt"), "--output", str(tmp_path / "b.csv"))
    assert wrong.exit_code == 2 and "use a .csv or .parquet file" in wrong.stderr


def test_feature_rows_without_the_year_features_suit_a_model_that_does_not_read_them(
        online_rows, cli, tmp_path):
    """The default model (history_weeks 8) has no year inputs: a file without them is complete."""
    rows, model = online_rows
    assert not set(YEAR_FEATURES) & set(model.metadata.get_input_schema().input_names())
    source = tmp_path / "features.csv"
    rows.drop(columns=YEAR_FEATURES).to_csv(source, index=False)
    result = cli("predict", "--input", str(source), "--output", str(tmp_path / "out.csv"), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["mode"] == "features"
    np.testing.assert_allclose(pd.read_csv(tmp_path / "out.csv")["forecast"],
                               pyfunc_predict(model, rows), rtol=1e-12)


def test_a_small_run_reports_its_time_not_zero_rows_per_second(serving_env, tmp_path):
    """In a fresh process (the first one pays the imports): the scoring is timed apart from
    loading, so 3 rows never show as "0 rows/s"."""
    source = tmp_path / "keys.csv"
    pd.DataFrame(KEYS).to_csv(source, index=False)
    out = subprocess.run([sys.executable, "-m", "salesops", "predict", "--input", str(source),
                          "--output", str(tmp_path / "out.csv")], capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr
    assert " 0 rows/s" not in out.stdout
    assert re.search(r"3 rows scored \(entities\) with salesops-demand v1 in [\d.]+ (ms|s)"
                     r"( \([\d.,]+ rows/s\))?, after [\d.]+ s loading -> ", out.stdout), out.stdout


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_exit_2_naming_the_output(serving_env, cli, tmp_path):
    source = tmp_path / "keys.csv"
    pd.DataFrame(KEYS).to_csv(source, index=False)
    target = tmp_path / "out.csv"
    target.symlink_to("/dev/full")
    result = cli("predict", "--input", str(source), "--output", str(target))
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot write {target}: No space left on device\n"


def test_an_entity_file_may_name_the_week_only_if_it_is_the_one_forecast(serving_env, cli,
                                                                         tmp_path):
    source = tmp_path / "keys.csv"
    pd.DataFrame(KEYS).assign(Week=["2024-09-27"] * 3).to_csv(source, index=False)
    same = cli("predict", "--input", str(source), "--output", str(tmp_path / "out.csv"))
    assert same.exit_code == 0, same.stderr
    assert pd.read_csv(tmp_path / "out.csv")["week"].tolist() == ["2024-09-27"] * 3
    pd.DataFrame(KEYS).assign(week=["2024-09-27", "2024-09-20", ""]).to_csv(source, index=False)
    other = cli("predict", "--input", str(source), "--output", str(tmp_path / "other.csv"))
    assert other.exit_code == 3
    assert ("1 row(s) ask for a week that is not the one forecast (first: row 2 asks for "
            "2024-09-20, the feature store forecasts 2024-09-27)") in other.stderr
    assert not (tmp_path / "other.csv").exists()
