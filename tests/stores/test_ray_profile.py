"""The `ray` profile: Feast's own Ray offline store and compute engine over the `embedded`
profile's files, on a real local Ray runtime (2 CPUs, no dashboard).

What it renders is checked without Ray. The lifecycle (`infra up`, `features build`, `train
submit`) runs each command as its own process, each starting and stopping its own Ray, as a
user's would; then, in this process, the Ray store's point-in-time join and the Ray engine's
materialization are compared with the embedded profile's ASOF store and Feast's in-process
engine on the same build: the same rows and values. Ray missing: the slow tests are skipped,
except under CI=true, where they fail.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from salesops.config import load_settings
from salesops.stores import offline_class, offline_store, online_type
from salesops.stores.feast_yaml import render_feature_store_yaml
from salesops.stores.ray import RayOffline
from salesops.workspace import Workspace
from tests.conftest import SMALL
from tests.helpers import run_salesops, salesops_env

ASOF = "salesops.stores.asof_offline.AsofDuckDBOfflineStore"
KEYS = ["store", "dept", "event_timestamp"]


def _ray_settings(**ray):
    return load_settings(overrides={"feature_store": {"profile": "ray"}, "ray": ray})


# --- what the profile renders (no Ray needed) ---------------------------------------------

def test_the_profile_renders_feasts_ray_store_and_engine(workspace):
    settings = _ray_settings()
    config = yaml.safe_load(render_feature_store_yaml(settings, Workspace(workspace)))
    local = {"ray_conf": {"num_cpus": 2, "include_dashboard": False}}
    assert config["offline_store"] == {"type": "ray", "storage_path": str(workspace / "ray"),
                                       **local}
    assert config["batch_engine"] == {"type": "ray.engine", **local, "max_workers": 2,
                                      "write_concurrency": 1}
    assert config["online_store"]["type"] == "salesops.stores.sqlite_online.BatchSqliteOnlineStore"
    assert online_type(settings) == "sqlite"
    assert offline_class("ray") is RayOffline and isinstance(offline_store(settings), RayOffline)


def test_a_cluster_address_replaces_the_local_runtime(workspace):
    settings = _ray_settings(address="ray://ray-head:10001")
    config = yaml.safe_load(render_feature_store_yaml(settings, Workspace(workspace)))
    for section in (config["offline_store"], config["batch_engine"]):
        assert section["ray_address"] == "ray://ray-head:10001"
        assert "ray_conf" not in section  # ray.init refuses num_cpus for a running cluster


def test_the_other_profiles_keep_feasts_default_engine(workspace):
    config = yaml.safe_load(render_feature_store_yaml(load_settings(), Workspace(workspace)))
    assert "batch_engine" not in config


def test_a_worker_range_upside_down_is_a_config_error():
    from salesops.errors import ConfigError

    with pytest.raises(ConfigError, match="max_workers"):
        _ray_settings(min_workers=3, max_workers=2)


# --- the lifecycle on a real local Ray ------------------------------------------------------

RAY_COMMAND_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def ray_available() -> None:
    if importlib.util.find_spec("ray") is not None:
        return
    reason = "ray is not installed (the `ray` extra: pip install 'salesops[ray]')"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + "; CI must run the ray profile's lifecycle")
    pytest.skip(reason)


def _recent_start(weeks: int) -> str:
    """The first Friday of `weeks` weeks whose last one is the latest Friday: Feast's Ray
    engine materializes only rows within the views' TTL of the wall clock (its filter node
    compares with `datetime.now()`), so a build of older weeks would put nothing online."""
    today = pd.Timestamp.now().normalize()
    friday = today - pd.Timedelta(days=(today.weekday() - 4) % 7)
    return (friday - pd.Timedelta(weeks=weeks - 1)).strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def built(ray_available, tmp_path_factory) -> Path:
    """A workspace on the ray profile after `infra up`, `features build` (weeks up to now)
    and a trained model, each command its own process."""
    workspace = tmp_path_factory.mktemp("ray-profile") / "ws"
    weeks = SMALL[SMALL.index("--weeks") + 1]
    env = salesops_env(workspace, SALESOPS_FEATURE_STORE__PROFILE="ray",
                       SALESOPS_TRAINING__HOLDOUT_WEEKS="8",
                       SALESOPS_DATA__START_DATE=_recent_start(int(weeks)))
    for args in (["infra", "up"], ["features", "build", *SMALL],
                 ["train", "submit", "--epochs", "1", "--no-promote", "--json"]):
        # a local Ray runtime (a dozen processes) starts inside `train submit`: ~40 s on a
        # quiet 2-core machine, past the usual 180 s beside the rest of the suite (CI)
        result = run_salesops(workspace, *args, env=env, timeout=RAY_COMMAND_TIMEOUT_S)
        assert result.returncode == 0, (args, result.stderr[-3000:])
    yield workspace
    from feast.infra.ray_initializer import shutdown_ray

    shutdown_ray()


@pytest.fixture
def on_ray(built, monkeypatch) -> Path:
    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(built))
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__PROFILE", "ray")
    monkeypatch.setenv("SALESOPS_TRAINING__HOLDOUT_WEEKS", "8")
    return built


def _store(workspace: Path, name: str, **sections):
    """A FeatureStore over the workspace's repo and registry with some sections replaced."""
    from feast import FeatureStore

    config = yaml.safe_load((workspace / "feature_repo/feature_store.yaml").read_text())
    config.update(sections)
    config = {k: v for k, v in config.items() if v is not None}
    path = workspace / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return FeatureStore(repo_path=str(workspace / "feature_repo"), fs_yaml_file=path)


def _same(ours: pd.DataFrame, reference: pd.DataFrame, keys: list[str]) -> None:
    assert sorted(ours.columns) == sorted(reference.columns)
    ours = ours[list(reference.columns)].sort_values(keys, ignore_index=True)
    reference = reference.sort_values(keys, ignore_index=True)
    # values exactly; dtypes may differ (the Ray store: nullable Int64, nanosecond times)
    pd.testing.assert_frame_equal(ours, reference, check_exact=True, check_dtype=False)


@pytest.mark.slow
def test_the_ray_store_serves_the_asof_stores_training_set(on_ray):
    from feast.infra.offline_stores.contrib.ray_offline_store.ray import RayRetrievalJob

    from salesops.features import feast_ops

    workspace = Workspace(on_ray)
    ray_store = feast_ops.open_store(workspace)
    assert ray_store.config.offline_store.type == "ray"
    keys = pd.read_parquet(on_ray / "current/data/sales_target.parquet", columns=KEYS)
    service = ray_store.get_feature_service("training_features")
    job = ray_store.get_historical_features(entity_df=keys.copy(), features=service)
    assert isinstance(job, RayRetrievalJob)  # Feast's Ray store, not a fallback
    asof = _store(on_ray, "asof", offline_store={"type": ASOF}, batch_engine=None)
    reference = asof.get_historical_features(entity_df=keys.copy(), features=service).to_df()
    _same(job.to_df(), reference, KEYS)
    assert reference["sales_lag_1"].notna().mean() > 0.9  # the join matched: not all null


@pytest.mark.slow
def test_the_training_set_is_the_embedded_profiles(on_ray, monkeypatch):
    from salesops.training.dataset import load_training_set

    on_ray_set = load_training_set(load_settings())
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__PROFILE", "embedded")
    # the embedded profile reads the same files through its own feature_store.yaml
    yaml_path = on_ray / "feature_repo/feature_store.yaml"
    ray_yaml = yaml_path.read_text()
    try:
        yaml_path.write_text(render_feature_store_yaml(load_settings(), Workspace(on_ray)))
        embedded_set = load_training_set(load_settings())
    finally:
        yaml_path.write_text(ray_yaml)
    assert on_ray_set.rows == embedded_set.rows > 0
    for name, array in on_ray_set.arrays().items():
        reference = embedded_set.arrays()[name]
        if isinstance(array, np.ndarray):
            np.testing.assert_array_equal(array, reference)
        else:
            for field in ("x", "ids", "level"):
                np.testing.assert_array_equal(getattr(array, field), getattr(reference, field))
    _same(on_ray_set.holdout, embedded_set.holdout, KEYS)


@pytest.mark.slow
def test_the_ray_engine_materializes_what_feasts_local_engine_does(on_ray, tmp_path):
    from feast.infra.compute_engines.ray.compute import RayComputeEngine

    online = {}
    # each into a fresh SQLite file: the ray profile's files, and the embedded profile's
    for name, others in (("ray", {}), ("local", {"offline_store": {"type": ASOF},
                                                  "batch_engine": None})):
        store = _store(on_ray, f"materialize_{name}", **others, online_store={
            "type": "sqlite", "path": str(tmp_path / f"{name}.db")})
        engine = store._get_provider().batch_engine
        assert isinstance(engine, RayComputeEngine) == (name == "ray")
        views = [v for v in store.list_feature_views() if v.online]
        store._get_provider().update_infra(  # the fresh file's tables, as `apply` makes them
            store.project, tables_to_delete=[], tables_to_keep=views, entities_to_delete=[],
            entities_to_keep=store.list_entities(), partial=False)
        views = [v.name for v in views]
        store.materialize(pd.Timestamp("2000-01-01", tz="UTC").to_pydatetime(),
                          pd.Timestamp("2100-01-01", tz="UTC").to_pydatetime(), views)
        online[name] = store
    entities = pd.read_parquet(on_ray / "current/data/dept_weekly.parquet",
                               columns=["store", "dept"]).drop_duplicates()
    rows = entities.to_dict("records")
    service = online["ray"].get_feature_service("inference_features")
    read = {name: store.get_online_features(features=service, entity_rows=rows).to_df()
            for name, store in online.items()}
    _same(read["ray"], read["local"], ["store", "dept"])
    assert read["ray"].drop(columns=["store", "dept"]).notna().to_numpy().mean() > 0.5


def test_only_feasts_ray_job_is_read_as_a_ray_dataset(ray_available):
    """Every Feast job has `to_ray_dataset` (the others' start a Ray runtime and copy their
    whole result into it): the training set reads only the Ray store's job that way."""
    from feast.infra.offline_stores.contrib.postgres_offline_store.postgres import (
        PostgreSQLRetrievalJob,
    )
    from feast.infra.offline_stores.contrib.ray_offline_store.ray import RayRetrievalJob

    from salesops.stores.asof_offline import AsofRetrievalJob
    from salesops.training.dataset import _own_ray_dataset

    for job in (PostgreSQLRetrievalJob, AsofRetrievalJob):
        assert not _own_ray_dataset(job.__new__(job))
    assert _own_ray_dataset(RayRetrievalJob.__new__(RayRetrievalJob))
