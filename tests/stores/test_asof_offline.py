"""The ASOF DuckDB offline store against Feast's own DuckDB store: the same point-in-time
join, row for row and value for value, on the default build and on samples made to catch a
join that is only nearly right (gaps, late and ended series, several rows per week, TTL
edges, duplicate timestamps told apart by their created time, renamed and aliased columns).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from salesops.stores.asof_offline import TYPE, AsofRetrievalJob

feast = pytest.importorskip("feast")
from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource  # noqa: E402
from feast.types import Float64, Int64, String  # noqa: E402

UTC = "UTC"


def _stores(repo: Path) -> tuple[FeatureStore, FeatureStore]:
    """(Feast's DuckDB store, the ASOF store) over the same repo and registry."""
    config = yaml.safe_load((repo / "feature_store.yaml").read_text())
    out = []
    for kind in ("duckdb", TYPE):
        path = repo / f"fs_{kind.rsplit('.', 1)[-1]}.yaml"
        path.write_text(yaml.safe_dump({**config, "offline_store": {"type": kind}}))
        out.append(FeatureStore(repo_path=str(repo), fs_yaml_file=path))
    return out[0], out[1]


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _assert_same(reference: pd.DataFrame, ours: pd.DataFrame, keys: list[str]) -> None:
    assert sorted(ours.columns) == sorted(reference.columns)
    assert len(ours) == len(reference)
    pd.testing.assert_frame_equal(_sorted(ours[list(reference.columns)], keys),
                                  _sorted(reference, keys), check_exact=True)


def _both(repo: Path, entity_df: pd.DataFrame, features, **kwargs):
    feast_store, asof_store = _stores(repo)
    reference = feast_store.get_historical_features(
        entity_df=entity_df.copy(), features=features, **kwargs).to_df()
    job = asof_store.get_historical_features(entity_df=entity_df.copy(), features=features,
                                             **kwargs)
    assert isinstance(job, AsofRetrievalJob)  # not a silent fallback to Feast's join
    return reference, job


# --- the default build -------------------------------------------------------------------

@pytest.mark.slow
def test_the_training_set_of_the_default_build_is_feasts(cli, workspace):
    assert cli("infra", "up").exit_code == 0
    assert cli("features", "build").exit_code == 0
    repo = workspace / "feature_repo"
    keys = pd.read_parquet(workspace / "current/data/sales_target.parquet",
                           columns=["store", "dept", "event_timestamp"])
    # every week a second time, a day later: inside the TTL, between two weekly rows
    keys = pd.concat([keys, keys.assign(event_timestamp=keys["event_timestamp"]
                                        + pd.Timedelta(days=1))], ignore_index=True)
    service = _stores(repo)[0].get_feature_service("training_features")
    reference, job = _both(repo, keys, service)
    _assert_same(reference, job.to_df(), ["store", "dept", "event_timestamp"])
    assert reference["sales_lag_1"].notna().mean() > 0.9  # the join matched: not all null


# --- samples built to catch a join that is only nearly right -------------------------------

WEEK = pd.Timedelta(weeks=1)
START = pd.Timestamp("2024-01-01", tz=UTC)


def _sample_rows(seed: int = 0) -> pd.DataFrame:
    """Weekly rows of (store, dept) series with a gap, a late start, an early end, extra
    rows inside weeks, and duplicate timestamps that differ in their created time."""
    rng = np.random.default_rng(seed)
    rows = []
    for store in (1, 2, 3):
        for dept in (1, 2, 3, 4):
            weeks = np.arange(30)
            if dept == 2:
                weeks = weeks[(weeks < 8) | (weeks > 14)]  # a 7-week gap: past the TTL
            if dept == 3:
                weeks = weeks[weeks >= 12]  # opens late
            if dept == 4 and store == 2:
                weeks = weeks[weeks < 20]  # closes
            for week in weeks:
                stamp = START + week * WEEK
                rows.append((store, dept, stamp, stamp, rng.normal()))
                if week % 5 == 0:  # a correction mid-week
                    rows.append((store, dept, stamp + pd.Timedelta(days=3, hours=5),
                                 stamp + pd.Timedelta(days=3, hours=5), rng.normal()))
                if week % 7 == 0:  # the same timestamp again, created later: it wins
                    rows.append((store, dept, stamp, stamp + pd.Timedelta(hours=2),
                                 rng.normal()))
    frame = pd.DataFrame(rows, columns=["store_id", "dept", "ts", "created", "value"])
    frame["units"] = (frame["value"] * 100).round().astype("int64")
    for column in ("ts", "created"):
        frame[column] = frame[column].astype("datetime64[us, UTC]")
    # in no order: a join must not lean on the file's order (the later-created duplicate
    # of a timestamp is as often before the other as after it)
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)


def _store_rows() -> pd.DataFrame:
    stamps = [START + week * WEEK for week in range(0, 30, 2)]  # every other week
    rows = [(store, stamp, float(store * 10 + i)) for store in (1, 2, 3)
            for i, stamp in enumerate(stamps)]
    frame = pd.DataFrame(rows, columns=["store_id", "event_timestamp", "temperature"])
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us, UTC]")
    return frame


def _write_repo_file(repo: Path, project: str, state: Path) -> None:
    """A feature_store.yaml on Feast's DuckDB store (`_stores` adds the ASOF one)."""
    (repo / "feature_store.yaml").write_text(yaml.safe_dump({
        "project": project, "provider": "local", "entity_key_serialization_version": 3,
        "registry": {"registry_type": "sql", "path": f"sqlite:///{state}/registry.db"},
        "online_store": {"type": "sqlite", "path": str(state / "online.db")},
        "offline_store": {"type": "duckdb"}}))


@pytest.fixture
def sample_repo(tmp_path) -> tuple[Path, FeatureService]:
    repo = tmp_path / "repo"
    repo.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    _sample_rows().to_parquet(data / "dept.parquet")
    _store_rows().to_parquet(data / "store.parquet")
    _write_repo_file(repo, "asof", tmp_path)
    store = Entity(name="store", join_keys=["store"])
    dept = Entity(name="dept", join_keys=["dept"])
    dept_view = FeatureView(
        name="dept_view", entities=[store, dept], ttl=timedelta(days=14),
        schema=[Field(name="store", dtype=Int64), Field(name="dept", dtype=Int64),
                Field(name="value", dtype=Float64), Field(name="units", dtype=Int64)],
        # the source names the store column differently: mapped back to the join key
        source=FileSource(path=str(data / "dept.parquet"), timestamp_field="ts",
                          created_timestamp_column="created",
                          field_mapping={"store_id": "store"}))
    store_view = FeatureView(
        name="store_view", entities=[store], ttl=timedelta(days=10),
        schema=[Field(name="store", dtype=Int64), Field(name="temperature", dtype=Float64)],
        source=FileSource(path=str(data / "store.parquet"), timestamp_field="event_timestamp",
                          field_mapping={"store_id": "store"}))
    no_ttl = FeatureView(
        name="forever", entities=[store], ttl=timedelta(0),
        schema=[Field(name="store", dtype=Int64), Field(name="warmth", dtype=Float64)],
        source=FileSource(path=str(data / "store.parquet"), timestamp_field="event_timestamp",
                          field_mapping={"store_id": "store", "temperature": "warmth"}))
    service = FeatureService(name="everything", features=[
        dept_view, store_view[["temperature"]], no_ttl.with_name("forever_alias")])
    feast_store = FeatureStore(repo_path=str(repo))
    feast_store.apply([store, dept, dept_view, store_view, no_ttl, service])
    return repo, service


def _entities(timezone: str | None = UTC) -> pd.DataFrame:
    """Entity rows at weekly stamps, between them, exactly on a TTL edge and one microsecond
    past it, before any data, after all of it, and for keys with no rows at all."""
    stamps = [START + week * WEEK + offset for week in range(-2, 34)
              for offset in (pd.Timedelta(0), pd.Timedelta(days=2, hours=7),
                             pd.Timedelta(days=14), pd.Timedelta(days=14, microseconds=1))]
    rows = [(store, dept, stamp) for store in (1, 2, 3, 9) for dept in (1, 2, 3, 4, 8)
            for stamp in stamps]
    frame = pd.DataFrame(rows, columns=["store", "dept", "event_timestamp"])
    frame["label"] = np.arange(len(frame))  # an extra column comes back as it went in
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us, UTC]")
    if timezone is None:
        frame["event_timestamp"] = frame["event_timestamp"].dt.tz_localize(None)
    return frame


KEYS = ["store", "dept", "event_timestamp", "label"]


@pytest.mark.parametrize("full_names", [False, True], ids=["short-names", "full-names"])
def test_gaps_late_and_ended_series_ttl_edges_and_created_ties_join_as_feast_does(
        sample_repo, full_names):
    repo, service = sample_repo
    reference, job = _both(repo, _entities(), service, full_feature_names=full_names)
    _assert_same(reference, job.to_df(), KEYS)
    prefix = "dept_view__" if full_names else ""
    value = reference[f"{prefix}value"]
    assert 0.2 < value.isna().mean() < 0.8  # both matches and TTL/gap misses occur


@pytest.mark.parametrize("stores", [[2], [2, 3], [9]], ids=["one", "two", "none-known"])
def test_entity_rows_of_some_stores_read_their_row_groups_only_and_join_as_feast_does(
        sample_repo, monkeypatch, stores):
    """A view file written in store order in many row groups (as `features build` writes
    them) and entity rows of some stores (as a training set built a few stores at a time
    asks): only the row groups whose store range meets the entity rows' are read, and the
    rows are Feast's."""
    import pyarrow.parquet as pq

    repo, service = sample_repo
    path = repo.parent / "data" / "dept.parquet"
    rows = pd.read_parquet(path).sort_values(["store_id", "dept"], kind="stable")
    rows.to_parquet(path, row_group_size=40)
    groups = pq.ParquetFile(path).metadata.num_row_groups
    assert groups >= 8
    read, real = [], pq.ParquetFile.read_row_groups

    def spy(self, row_groups, *args, **kwargs):
        if self.metadata.num_row_groups == groups:  # the dept file (the store file has one)
            read.append(list(row_groups))
        return real(self, row_groups, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy)
    entities = _entities()
    entities = entities[entities["store"].isin(stores)].reset_index(drop=True)
    reference, job = _both(repo, entities, service)
    _assert_same(reference, job.to_df(), KEYS)
    # the groups whose stores meet the entity rows' range of stores
    holding = {group for group in range(groups)
               if rows["store_id"].iloc[group * 40:(group + 1) * 40].between(
                   min(stores), max(stores)).any()}
    assert read and all(set(groups_read) == holding for groups_read in read)
    assert len(holding) < groups


def test_feature_references_and_naive_timestamps_join_as_feast_does(sample_repo):
    repo, _ = sample_repo
    refs = ["dept_view:units", "store_view:temperature", "forever:warmth"]
    entities = _entities(timezone=None)
    feast_store, _ = _stores(repo)
    # Feast's own store fails to compare naive entity times with UTC feature times; its
    # answer for the same instants given in UTC is the reference
    reference = feast_store.get_historical_features(
        entity_df=_entities(), features=refs).to_df()
    _, asof_store = _stores(repo)
    ours = asof_store.get_historical_features(entity_df=entities, features=refs).to_df()
    ours["event_timestamp"] = ours["event_timestamp"].dt.tz_convert(UTC)
    _assert_same(reference, ours, KEYS)


def test_arrow_batches_and_parquet_carry_the_same_rows(sample_repo, tmp_path):
    repo, service = sample_repo
    reference, job = _both(repo, _entities(), service)
    batches = job.to_record_batches(batch_rows=100)
    table = batches.read_all()
    assert table.num_rows == len(reference)
    streamed = table.to_pandas()
    assert streamed["label"].tolist() == list(range(len(streamed)))  # the entity frame's order
    _assert_same(reference, streamed, KEYS)
    written = job.to_parquet(tmp_path / "set.parquet")
    _assert_same(reference, pd.read_parquet(written), KEYS)


# --- inputs users give that the sample above does not ---------------------------------------

def _one_view_repo(tmp_path: Path, rows: pd.DataFrame, ttl: timedelta) -> Path:
    """A repo of one view over `rows` (store, ts, value, label), keyed by store."""
    repo = tmp_path / "repo"
    repo.mkdir()
    rows.to_parquet(tmp_path / "v.parquet")
    _write_repo_file(repo, "edges", tmp_path)
    store = Entity(name="store", join_keys=["store"])
    view = FeatureView(
        name="v", entities=[store], ttl=ttl,
        schema=[Field(name="store", dtype=Int64), Field(name="value", dtype=Float64),
                Field(name="label", dtype=String)],
        source=FileSource(path=str(tmp_path / "v.parquet"), timestamp_field="ts"))
    FeatureStore(repo_path=str(repo)).apply([store, view])
    return repo


def _view_rows(stamps: list) -> pd.DataFrame:
    rows = pd.DataFrame({"store": range(1, len(stamps) + 1), "ts": stamps,
                         "value": [1.5 * (i + 1) for i in range(len(stamps))]})
    rows["ts"] = pd.Series(rows["ts"]).astype("datetime64[us, UTC]")
    rows["label"] = pd.Categorical([f"l{i % 2}" for i in range(len(stamps))])  # a category
    return rows


@pytest.mark.parametrize("case", ["far-future", "ttl-of-centuries", "text-times",
                                  "category-entity-column"])
def test_edge_inputs_join_as_feast_does(tmp_path, case):
    """Rows dated past 2262 (nanoseconds' end: a "valid until" placeholder), a TTL of 300
    years ("never expires"), entity times given as text with an offset, a category entity
    column and a category feature: each gave a crash or another type than Feast's store."""
    from datetime import datetime

    stamps = [datetime(2024, 1, 1), datetime(2024, 1, 1), datetime(2999, 1, 1)]
    ttl = timedelta(days=365 * 300) if case == "ttl-of-centuries" else timedelta(days=14)
    repo = _one_view_repo(tmp_path, _view_rows(stamps), ttl)
    entities = pd.DataFrame({"store": [1, 2, 3, 1], "event_timestamp": pd.Series(
        [datetime(2024, 1, 1, 3), datetime(2024, 9, 1), datetime(2024, 1, 2),
         datetime(9999, 1, 1) if case == "far-future" else datetime(2024, 1, 5)]).astype(
        "datetime64[us]").dt.tz_localize(UTC)})
    if case == "text-times":
        entities["event_timestamp"] = entities["event_timestamp"].dt.tz_convert(
            "Europe/Berlin").map(lambda t: t.isoformat())
    if case == "category-entity-column":
        entities["segment"] = pd.Categorical(["a", "b", "a", "b"])
    reference, job = _both(repo, entities, ["v:value", "v:label"])
    _assert_same(reference, job.to_df(), ["store", "event_timestamp"])
    assert reference["value"].notna().any()  # something matched
