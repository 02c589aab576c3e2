"""The whole lifecycle on a retailer's files: Walmart-layout CSVs with every quirk real data
has (returns, missing weeks, late, ended and short series, unrecorded markdowns, CPI and
unemployment missing at the end, CR-only line endings), through the default policies:
features build --source csv -> train submit --nodes 2 -> serve deploy -> predict -> drift."""

from __future__ import annotations

import pandas as pd
import pytest

from salesops.data.retail import retail_quirks
from salesops.data.synthetic import generate
from salesops.data.walmart_csv import write_walmart_csv
from salesops.workspace import Workspace
from tests.helpers import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def retail_csv(tmp_path, workspace, monkeypatch):
    for key, value in {"SERVING__PORT": str(free_port()), "SERVING__LOG_FLUSH_S": "0.2",
                       "DRIFT__MIN_ROWS": "50"}.items():
        monkeypatch.setenv(f"SALESOPS_{key}", value)
    raw = retail_quirks(generate(stores=8, depts=10, weeks=100, seed=3), seed=3)
    return write_walmart_csv(raw, tmp_path / "walmart", cr_only=("features.csv",))


def test_lifecycle_on_quirky_walmart_files(cli, retail_csv, workspace):
    assert cli("infra", "up").exit_code == 0
    built = cli("features", "build", "--source", "csv", "--path", str(retail_csv), "--json")
    assert built.exit_code == 0, built.stderr
    report = built.json()["data_report"]
    found = {q["name"] for q in report["quirks"] if q["count"]}
    assert {"negative_weeks", "zero_weeks", "missing_weeks", "missing_final_weeks",
            "late_start_series", "ended_series", "short_series", "markdown_not_recorded",
            "markdown_gaps", "covariate_gaps", "line_endings"} <= found
    assert all(q["policy"] for q in report["quirks"]
               if q["name"] in ("negative_weeks", "missing_weeks", "ended_series",
                                "markdown_not_recorded"))

    try:
        trained = cli("train", "submit", "--nodes", "2", "--epochs", "3", "--force-promote",
                      "--json")
        assert trained.exit_code == 0, trained.stderr
        rows = {row["name"]: row for row in trained.json()["metrics"]}
        # each baseline is scored on the rows where it is defined, and says how many
        assert rows["seasonal_naive"]["rows"] < rows["model"]["rows"]
        assert all(row["rows"] > 0 for row in rows.values())

        assert cli("serve", "deploy").exit_code == 0
        series = pd.read_parquet(Workspace(workspace).offline_data / "series.parquet")
        next_week = built.json()["next_week"]
        first_week = series["first_week"].min()
        current = series[series["status"] == "current"]
        late = current[current["first_week"] > first_week].iloc[0]
        regular = current[current["first_week"] == first_week].iloc[0]
        answered = cli("predict", "--store", str(late.store), "--dept", str(late.dept),
                       "--store", str(regular.store), "--dept", str(regular.dept), "--json")
        assert answered.exit_code == 0, answered.stderr
        assert [p["week"] for p in answered.json()["predictions"]] == [next_week, next_week]

        ended = series[series["status"] == "ended"].iloc[0]
        refused = cli("predict", "--store", str(ended.store), "--dept", str(ended.dept))
        assert refused.exit_code == 3
        assert f"store={ended.store}, dept={ended.dept} has ended" in refused.stderr

        drift = cli("drift", "--json")
        assert drift.exit_code in (0, 1), drift.stderr  # a verdict either way, not an error
        assert drift.json()["reference"]["rows"] > 0
    finally:
        cli("serve", "stop")
