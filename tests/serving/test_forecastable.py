"""Which series are forecast, from a build's manifest and series table (no Feast needed)."""

import json

import pandas as pd
import pytest

from salesops.config import load_settings
from salesops.errors import PreconditionError
from salesops.stores.generation import ensure_current
from salesops.serving.forecastable import read_forecastable, refused
from salesops.workspace import Workspace

NEXT_WEEK = "2024-09-27T00:00:00+00:00"
#: the series table `features build` would write: (store, dept, first, last, weeks, status)
SERIES = [
    (1, 1, "2023-01-06", "2024-09-20", 90, "current"),
    (1, 2, "2023-06-02", "2024-09-20", 69, "current"),
    (2, 1, "2023-01-06", "2024-03-15", 63, "ended"),
    (2, 2, "2024-08-16", "2024-09-20", 6, "short"),
]


def write_build(root, series=SERIES, policies=True) -> Workspace:
    workspace = Workspace(root)
    manifest = {"next_week": NEXT_WEEK}
    if policies:
        manifest["policies"] = {"ended_after_weeks": 4}
    ensure_current(workspace)
    workspace.build_manifest.write_text(json.dumps(manifest))
    frame = pd.DataFrame(series, columns=["store", "dept", "first_week", "last_week", "weeks",
                                          "status"])
    for column in ("first_week", "last_week"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    workspace.offline_data.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(workspace.offline_data / "series.parquet")
    return workspace


def test_current_series_are_forecast_the_others_refused_with_why(workspace):
    built = read_forecastable(load_settings(), write_build(workspace))
    assert str(built.week) == "2024-09-27T00:00:00"
    assert list(zip(built.stores.tolist(), built.depts.tolist())) == [(1, 1), (1, 2)]
    assert built.refusals == {
        (2, 1): "store=2, dept=1 has ended: its last sales week is 2024-03-15; series without "
                "sales in the last 4 weeks are not forecast (data.ended_after_weeks)",
        (2, 2): "store=2, dept=2 has only 6 weeks of history; a forecast needs 8",
    }


def test_ended_without_the_policy_in_the_manifest_names_no_number(workspace):
    built = read_forecastable(load_settings(), write_build(workspace, policies=False))
    assert "series without sales in the data's last weeks are not forecast" in built.refusals[
        (2, 1)]


def test_before_any_build_nothing_is_forecast(workspace):
    assert read_forecastable(load_settings(), Workspace(workspace)) is None


def test_a_build_without_a_series_table_says_to_rebuild(workspace):
    ws = write_build(workspace)
    (ws.offline_data / "series.parquet").unlink()
    with pytest.raises(PreconditionError) as error:
        read_forecastable(load_settings(), ws)
    assert "rerun `salesops features build`" in error.value.one_line()


def test_a_series_table_of_another_build_is_refused(workspace):
    # read between a build's new tables and its manifest: the current series end elsewhere
    moved = [(1, 1, "2023-01-06", "2024-09-27", 91, "current")]
    with pytest.raises(PreconditionError) as error:
        read_forecastable(load_settings(), write_build(workspace, series=moved))
    assert "different builds" in error.value.message


def test_refusal_message_names_three_then_counts():
    refusals = {(2, 1): "store=2, dept=1 has ended: …"}
    assert refused([(2, 1)], refusals) == "store=2, dept=1 has ended: …"
    assert refused([(5, 5)], refusals) == (
        "store=5, dept=5 is unknown: the last `salesops features build` has no such series")
    many = refused([(2, 1), (2, 1), (5, 1), (5, 2), (5, 3), (5, 4)], refusals)
    assert many.startswith("store=2, dept=1 has ended: …; store=5, dept=1 is unknown")
    assert many.count("store=") == 3 and many.endswith(" (+2 more)")
