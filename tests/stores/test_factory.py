"""The one map from the configured storage profile to the store classes."""

from __future__ import annotations

import pytest

from salesops.config import load_settings
from salesops.stores import (
    offline_class,
    offline_store,
    online_class,
    online_store,
    online_type,
)
from salesops.stores.embedded import EmbeddedOffline, SqliteOnline
from salesops.stores.postgres import PostgresOffline, PostgresOnline
from salesops.stores.redis import RedisOnline


def settings(**feature_store):
    return load_settings(overrides={"feature_store": feature_store})


@pytest.mark.parametrize(("profile", "online", "offline_cls", "online_cls"), [
    ("embedded", "default", EmbeddedOffline, SqliteOnline),
    ("postgres", "default", PostgresOffline, PostgresOnline),
    ("embedded", "redis", EmbeddedOffline, RedisOnline),
    ("postgres", "redis", PostgresOffline, RedisOnline),
])
def test_the_profile_and_online_setting_choose_the_classes(profile, online, offline_cls,
                                                           online_cls):
    chosen = settings(profile=profile, online=online)
    assert type(offline_store(chosen)) is offline_cls
    assert type(online_store(chosen)) is online_cls
    assert offline_store(chosen).profile == profile


def test_default_online_is_the_profiles_own():
    assert online_type(settings(profile="embedded")) == "sqlite"
    assert online_type(settings(profile="postgres")) == "postgres"
    assert online_type(settings(profile="postgres", online="redis")) == "redis"


def test_a_rendered_files_types_map_back_to_the_classes():
    """What `features.feast_ops.open_store` uses: a pod's file may name another profile."""
    assert offline_class(EmbeddedOffline.feast_type) is EmbeddedOffline
    assert offline_class("duckdb") is EmbeddedOffline  # a workspace rendered before it
    assert offline_class("postgres") is PostgresOffline
    for cls in (SqliteOnline, PostgresOnline, RedisOnline):
        assert online_class(cls.feast_type) is cls
    assert online_class("sqlite") is SqliteOnline  # Feast's own store, before the batched one


def test_choosing_a_store_loads_no_driver():
    """The classes are imported lazily; choosing the embedded ones touches no server code."""
    import subprocess
    import sys

    code = ("import sys; from salesops.config import load_settings; "
            "from salesops.stores import offline_store, online_store; "
            "s = load_settings(); offline_store(s); online_store(s); "
            "print(sorted(m for m in ('psycopg', 'redis', 'pandas', 'feast') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
