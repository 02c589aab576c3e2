"""The server profiles' stores without their servers: what they render, and the lines they
give when the server is not there (tests/features/test_postgres_profile.py has the rest)."""

from __future__ import annotations

import pytest
import yaml

from salesops.config import load_settings
from salesops.errors import ConfigError
from salesops.stores import offline_store
from salesops.stores.feast_yaml import render_feature_store_yaml
from salesops.stores.postgres import PostgresOnline
from salesops.stores.redis import RedisOnline
from salesops.workspace import Generation, Workspace

from tests.helpers import free_port


def _postgres(port: int = 5432, **more):
    return load_settings(overrides={"feature_store": {
        "profile": "postgres", "postgres_url": f"postgresql://u:s3cret@127.0.0.1:{port}/db",
        "postgres_sslmode": "disable", **more}})


def test_postgres_renders_one_servers_schema(workspace):
    settings = _postgres()
    ws = Workspace(workspace)
    config = yaml.safe_load(render_feature_store_yaml(settings, ws))
    assert config["registry"]["path"].startswith("postgresql+psycopg://u:s3cret@127.0.0.1:5432/db")
    for section in ("offline_store", "online_store"):
        assert config[section]["type"] == "postgres"
        assert config[section]["db_schema"] == "salesops"
    store = offline_store(settings)
    assert "options=-csearch_path%3Dsalesops_mlflow" in store.tracking_uri(ws)
    assert store.view_source("dept_weekly", ws) == {"type": "postgres",
                                                    "table": "salesops.dept_weekly"}


def test_postgres_without_a_url_says_what_to_set(workspace):
    settings = load_settings(overrides={"feature_store": {"profile": "postgres"}})
    with pytest.raises(ConfigError, match="postgres_url is required"):
        offline_store(settings).tracking_uri(Workspace(workspace))


def test_a_staged_build_fills_the_online_staging_schema():
    section = {"type": "postgres", "db_schema": "team"}
    assert PostgresOnline.staged_section(section, Generation(".")) == {
        "type": "postgres", "db_schema": "team_online_staging"}


def test_redis_moves_only_the_online_store(workspace):
    settings = _postgres(online="redis", redis_url="redis://:pw@127.0.0.1:6390/2")
    config = yaml.safe_load(render_feature_store_yaml(settings, Workspace(workspace)))
    assert config["offline_store"]["type"] == "postgres"
    assert config["online_store"] == {"type": "redis",
                                      "connection_string": "127.0.0.1:6390,db=2,password=pw"}
    section = config["online_store"]
    assert RedisOnline.staged_section(section, Generation(".")) == section


def test_status_says_unreachable_and_never_raises(workspace):
    """(Redis' line too, but its client retries a refused connection for seconds.)"""
    settings = _postgres(free_port())
    lines = offline_store(settings).status(Workspace(workspace))
    assert [(s.name, s.state) for s in lines] == [("postgres", "unreachable")]
    assert "does not answer" in lines[0].detail and "s3cret" not in lines[0].detail


def test_server_urls_become_typed_targets_that_never_show_the_password():
    from salesops.stores.postgres_server import pg_target
    from salesops.stores.redis_server import redis_target

    pg = pg_target(_postgres(5433))
    assert (pg.host, pg.port, pg.database, pg.user, pg.password) == (
        "127.0.0.1", 5433, "db", "u", "s3cret")
    assert pg.where == "u@127.0.0.1:5433/db" and pg.mlflow_schema == "salesops_mlflow"
    redis = redis_target(load_settings(overrides={"feature_store": {
        "online": "redis", "redis_url": "rediss://me:p%40ss@cache:6390/3"}}))
    assert (redis.host, redis.port, redis.db, redis.username, redis.password, redis.ssl) == (
        "cache", 6390, 3, "me", "p@ss", True)
    assert redis.where == "cache:6390/3"


@pytest.mark.parametrize("url", ["http://cache/0", "redis://cache:x/0", "redis://cache/db"])
def test_a_malformed_redis_url_is_a_config_error(url):
    from salesops.stores.redis_server import redis_target

    with pytest.raises(ConfigError, match="redis_url"):
        redis_target(load_settings(overrides={"feature_store": {"redis_url": url}}))
