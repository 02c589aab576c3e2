"""Retail data through the model server: only the last build's current series are forecast.

One workspace for the module, built in the order that leaves stale rows in Feast's online
store: a clean build of 7 stores (materialized for the week to forecast), a model trained on
it, then a retail build of 6 stores for the same week. Store 7, and the series that the
retail data ends or cuts short, keep their clean rows online; none may be served. The model
is trained on the clean data: serving needs only its feature columns, and this keeps the
module independent of training on retail data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops.workspace import Workspace
from tests.helpers import only_env, wait_for
from tests.serving.conftest import run_cli, run_steps

pytestmark = pytest.mark.slow

SHAPE = ["--depts", "10", "--weeks", "90"]
NEXT_WEEK = pd.Timestamp("2024-09-27", tz="UTC")


@dataclass
class Retail:
    env: dict[str, str]
    settings: object
    series: pd.DataFrame  # the retail build's series table
    picks: dict[str, tuple[int, int]]  # one series of each kind


@pytest.fixture(scope="module")
def retail(tmp_path_factory):
    from salesops.config import load_settings

    root = tmp_path_factory.mktemp("retail")
    env = {"SALESOPS_PROJECT__WORKSPACE": str(root / "ws"),
           "SALESOPS_SERVING__LOG_FLUSH_S": "0.2"}
    with only_env(root, env):
        run_steps(["infra", "up"], ["features", "build", "--stores", "7", *SHAPE],
                  ["train", "submit", "--epochs", "2", "--force-promote"],
                  ["features", "build", "--realism", "retail", "--stores", "6", *SHAPE])
        settings = load_settings()
    series = pd.read_parquet(Workspace(Path(env["SALESOPS_PROJECT__WORKSPACE"])).offline_data
                             / "series.parquet")
    return Retail(env, settings, series, _picks(series))


def _picks(series: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """An ended, a short, a late-starting current and a gapped current series (seed 42
    has each; the assertion says which kind is missing if the generator changes)."""
    from salesops.data.retail import retail_quirks
    from salesops.data.synthetic import generate

    raw = retail_quirks(generate(stores=6, depts=10, weeks=90, seed=42), 42).sales
    spans = raw.groupby(["store", "dept"])["date"].agg(["min", "max", "count"])
    holes = spans[(spans["max"] - spans["min"]) // pd.Timedelta(weeks=1) + 1 > spans["count"]]
    current = series[series["status"] == "current"]
    kinds = {
        "ended": series[series["status"] == "ended"],
        "short": series[series["status"] == "short"],
        "late": current[current["first_week"] > series["first_week"].min()],
        "gapped": current[current.set_index(["store", "dept"]).index.isin(holes.index)],
    }
    assert all(len(rows) for rows in kinds.values()), {k: len(v) for k, v in kinds.items()}
    # a late start and a gap in different series, so each is tested on its own
    late = kinds["late"][~kinds["late"].set_index(["store", "dept"]).index.isin(holes.index)]
    kinds["late"] = late if len(late) else kinds["late"]
    return {kind: (int(rows["store"].iloc[0]), int(rows["dept"].iloc[0]))
            for kind, rows in kinds.items()}


@pytest.fixture(scope="module")
def predictor(retail):
    from salesops.serving.predictor import DemandPredictor

    model = DemandPredictor(retail.settings, "1")
    model.load()
    yield model
    model.stop()


def instances(*keys) -> dict:
    return {"instances": [{"store": store, "dept": dept} for store, dept in keys]}


def refusal(predictor, *keys) -> str:
    from salesops import kserve_import  # noqa: F401
    from kserve.errors import InvalidInput

    with pytest.raises(InvalidInput) as error:
        predictor.predict(instances(*keys))
    return str(error.value)


def test_the_workspace_holds_each_kind_of_series(retail):
    assert set(retail.series["store"]) == {1, 2, 3, 4, 5, 6}
    assert retail.picks["late"] != retail.picks["gapped"]


def test_an_ended_series_is_refused_naming_its_last_week(retail, predictor):
    store, dept = retail.picks["ended"]
    last = retail.series.set_index(["store", "dept"]).loc[(store, dept), "last_week"]
    assert f"store={store}, dept={dept} has ended: its last sales week is " \
           f"{last:%Y-%m-%d}; series without sales in the last 4 weeks are not forecast " \
           "(data.ended_after_weeks)" in refusal(predictor, (store, dept))


def test_a_short_series_is_refused(retail, predictor):
    store, dept = retail.picks["short"]
    weeks = retail.series.set_index(["store", "dept"]).loc[(store, dept), "weeks"]
    assert (f"store={store}, dept={dept} has only {weeks} weeks of history; a forecast "
            "needs 8") in refusal(predictor, (store, dept))


@pytest.mark.parametrize("key", [(99, 1), (1, 99)])
def test_an_unknown_series_is_refused(predictor, key):
    assert refusal(predictor, key) == (f"store={key[0]}, dept={key[1]} is unknown: the last "
                                       "`salesops features build` has no such series")


def test_a_series_only_an_earlier_build_had_is_unknown_and_its_row_is_gone(retail, predictor):
    from salesops.features.feast_ops import open_store

    store = open_store(Workspace(retail.settings.workspace))
    left = store.get_online_features(features=["dept_weekly:sales_lag_1"],
                                     entity_rows=[{"store": 7, "dept": 1}]).to_dict()
    # each build has its own online rows (a generation): the clean build's row left with it
    assert left["sales_lag_1"][0] is None
    assert refusal(predictor, (7, 1), (1, 1)) == (
        "store=7, dept=1 is unknown: the last `salesops features build` has no such series")


def test_late_starting_and_gapped_series_get_their_next_week_row(retail, predictor):
    keys = [retail.picks["late"], retail.picks["gapped"]]
    answer = predictor.predict(instances(*keys))
    assert [p["week"] for p in answer["predictions"]] == ["2024-09-27"] * 2
    assert all(np.isfinite(p["forecast"]) for p in answer["predictions"])
    rows = predictor.online.lookup(*(np.array(column, np.int64) for column in zip(*keys)))
    offline = _offline_next_week(retail.settings, keys)
    np.testing.assert_array_equal(rows.features, offline[predictor.online.features].to_numpy())


def _offline_next_week(settings, keys) -> pd.DataFrame:
    data = Workspace(settings.workspace).offline_data
    dept = pd.read_parquet(data / "dept_weekly.parquet")
    store = pd.read_parquet(data / "store_weekly.parquet")
    rows = pd.DataFrame(keys, columns=["store", "dept"]).merge(
        dept[dept["event_timestamp"] == NEXT_WEEK], how="left", validate="1:1").merge(
        store[store["event_timestamp"] == NEXT_WEEK], on="store", how="left", validate="m:1")
    assert len(rows) == len(keys)
    return rows


def test_predict_file_refuses_the_same_series_row_by_row(retail, cli, tmp_path, monkeypatch):
    for name, value in retail.env.items():
        monkeypatch.setenv(name, value)
    keys = [retail.picks["late"], retail.picks["ended"], (7, 1)]
    source, target = tmp_path / "keys.csv", tmp_path / "out.csv"
    # the header as a retailer's export writes it
    pd.DataFrame(keys, columns=[" Store", "DEPT "]).to_csv(source, index=False)
    partial = cli("--json", "predict", "--input", str(source), "--output", str(target))
    assert partial.exit_code == 0, partial.stderr
    assert partial.json()["refused"] == 2 and "2 of 3 rows not forecast" in partial.stderr
    out = pd.read_csv(target)
    assert out["week"].tolist()[0] == "2024-09-27" and out["week"].isna().tolist()[1:] == [
        True, True]
    assert out["forecast"].notna().tolist() == [True, False, False]
    ended = "store={}, dept={} has ended: its last sales week is".format(*retail.picks["ended"])
    assert out["refused"].isna().iloc[0] and ended in out["refused"].iloc[1]
    assert "store=7, dept=1 is unknown" in out["refused"].iloc[2]

    target.unlink()
    pd.DataFrame(keys[1:], columns=["store", "dept"]).to_csv(source, index=False)
    refused = cli("predict", "--input", str(source), "--output", str(target))
    assert refused.exit_code == 3, refused.stderr
    assert ended in refused.stderr and "store=7, dept=1 is unknown" in refused.stderr
    assert not target.exists()


def test_a_row_of_another_week_is_refused_as_stale(retail, predictor):
    """A current series whose online row is not next week's (a materialization that did not
    finish) is refused, not served as next week's."""
    from salesops.features.feast_ops import open_store
    from salesops.serving.predictor import DemandPredictor

    served = sorted(predictor.online.snapshot.index)
    key = next(k for k in served if k not in retail.picks.values())
    data = Workspace(retail.settings.workspace).offline_data
    dept = pd.read_parquet(data / "dept_weekly.parquet")
    older = dept[(dept["store"] == key[0]) & (dept["dept"] == key[1])
                 & (dept["event_timestamp"] == NEXT_WEEK - pd.Timedelta(weeks=1))]
    assert len(older) == 1
    open_store(Workspace(retail.settings.workspace)).write_to_online_store("dept_weekly", older)

    fresh = DemandPredictor(retail.settings, "1")
    fresh.load()
    try:
        assert refusal(fresh, key) == (
            f"store={key[0]}, dept={key[1]} has a stale online row in dept_weekly (week "
            "2024-09-20, not 2024-09-27); rerun `salesops features build`")
    finally:
        fresh.stop()


def test_a_new_build_reloads_which_series_are_served(retail, predictor, monkeypatch):
    """The running server follows the next build: store 6 left out, the stale row rewritten."""
    for name, value in retail.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(Path(retail.env["SALESOPS_PROJECT__WORKSPACE"]).parent)
    before = predictor.online.snapshot
    assert run_cli("features", "build", "--realism", "retail", "--stores", "5", *SHAPE) == 0
    wait_for(lambda: predictor.online.snapshot is not before, timeout=20)
    assert predictor.online.snapshot is not before, "no reload after `features build`"
    assert "store=6, dept=1 is unknown" in refusal(predictor, (6, 1))
    assert predictor.predict(instances((1, 1)))["predictions"][0]["week"] == "2024-09-27"
    # the reloaded snapshot's forecasts are pyfunc's on its new rows
    assert_forecasts_are_pyfuncs(predictor)


def assert_forecasts_are_pyfuncs(predictor) -> None:
    from salesops.forecasts import read_output

    rows = predictor.online.snapshot.rows
    frame = predictor.scorer.frame(rows.stores, rows.depts, rows.features)
    assert read_output(predictor.scorer.pyfunc.predict(frame)).equals(rows.forecasts)


def test_requests_are_answered_from_the_snapshots_forecasts(predictor, monkeypatch):
    """Every served series is scored once with the snapshot: a request is a lookup, and
    the model is not called on the request path (it was, for each request, before)."""
    assert predictor.cached
    assert_forecasts_are_pyfuncs(predictor)

    def no_model(frame):
        raise AssertionError("the model was called for a request")

    monkeypatch.setattr(predictor.scorer, "predict", no_model)
    keys = list(zip(predictor.online.snapshot.rows.stores[:3].tolist(),
                    predictor.online.snapshot.rows.depts[:3].tolist()))
    answer = predictor.predict(instances(*keys))["predictions"]
    cached = predictor.online.snapshot.rows.forecasts
    assert [p["forecast"] for p in answer] == cached.forecast[:3].tolist()
    assert [p["p90"] for p in answer] == cached.quantiles[:3, 2].tolist()


def test_without_the_snapshots_forecasts_each_request_is_scored(predictor, monkeypatch):
    """The fallback when the load check fails: the model scores the request's rows."""
    from salesops.serving.predictor import ALONE_RTOL

    monkeypatch.setattr(predictor, "cached", False)
    calls = []
    real = predictor.scorer.predict
    monkeypatch.setattr(predictor.scorer, "predict",
                        lambda frame: calls.append(len(frame)) or real(frame))
    rows = predictor.online.snapshot.rows
    key = (int(rows.stores[0]), int(rows.depts[0]))
    answer = predictor.predict(instances(key))["predictions"][0]
    assert calls == [1]
    assert answer["forecast"] == pytest.approx(rows.forecasts.forecast[0], rel=ALONE_RTOL)
