"""Thin, quiet wrappers around the Feast SDK for the workspace's feature repo.

Feast prints progress to stdout with `print`; stdout is reserved for our data (`--json`),
so every call runs with stdout sent to the workspace's feast log instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salesops.errors import PreconditionError
from salesops.workspace import Generation, Workspace

if TYPE_CHECKING:
    from feast import FeatureStore


@contextlib.contextmanager
def quiet_feast(workspace: Workspace) -> Iterator[None]:
    """Send Feast's prints, progress bars and its libraries' deprecation warnings to
    logs/feast.log."""
    workspace.logs.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TQDM_DISABLE", "1")
    with (
        open(workspace.logs / "feast.log", "a") as log,
        contextlib.redirect_stdout(log),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


#: Feast's Postgres offline store identifies an entity row by concatenating its join keys
#: with no separator, so (store 1, dept 11) and (store 11, dept 1) get the same id and the
#: point-in-time join crosses their rows (found here: 9,216 duplicated training rows on the
#: default data). Until upstream separates them, the template gets a '|' between the keys.
_PG_KEY_CONCAT = 'CAST("{{entity}}" as VARCHAR) ||'
_PG_KEY_CONCAT_FIXED = 'CAST("{{entity}}" as VARCHAR) || \'|\' ||'


def _separate_postgres_entity_keys() -> None:
    from feast.infra.offline_stores.contrib.postgres_offline_store import postgres

    template = postgres.MULTIPLE_FEATURE_VIEW_POINT_IN_TIME_JOIN
    if _PG_KEY_CONCAT_FIXED in template:
        return
    if _PG_KEY_CONCAT not in template:
        # upstream changed the query: tests/features/test_postgres_profile.py checks that
        # rows of colliding keys still come back apart
        return
    postgres.MULTIPLE_FEATURE_VIEW_POINT_IN_TIME_JOIN = template.replace(
        _PG_KEY_CONCAT, _PG_KEY_CONCAT_FIXED)


def open_store(workspace: Workspace, generation: Generation | None = None) -> FeatureStore:
    """The workspace's feature store; with `generation`, one whose SQLite online store is
    that (staged) generation's file, for a build to fill before it switches."""
    if not workspace.feature_store_yaml.is_file():
        raise PreconditionError("no feature repo in the workspace",
                                hint="run `salesops infra up` first")
    from feast import FeatureStore

    text = workspace.feature_store_yaml.read_text()
    if "type: postgres" in text:
        _separate_postgres_entity_keys()
    yaml_file = None
    if generation is not None:
        yaml_file = _generation_yaml(text, generation)
    with quiet_feast(workspace):
        return FeatureStore(repo_path=str(workspace.feature_repo), fs_yaml_file=yaml_file)


def _generation_yaml(text: str, generation: Generation) -> Path:
    import yaml

    config = yaml.safe_load(text)
    online = config["online_store"]
    if online.get("type") == "sqlite":
        online["path"] = str(generation.online_db.absolute())
    elif online.get("type") == "postgres":  # the schema `postgres.switch_tables` moves from
        from salesops.features.postgres import online_staging_schema

        online["db_schema"] = online_staging_schema(online["db_schema"])
    generation.feature_store_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    return generation.feature_store_yaml


def repo_objects(repo: Path) -> list[Any]:
    """The Feast objects defined in the repo's features.py, as `feast apply` would collect them.

    Loaded under a unique module name: Feast's own loader imports `features` by name, which a
    long-lived process would cache and never re-read after the repo changes.
    """
    from feast import Entity, FeatureService, FeatureView
    from feast.data_source import DataSource

    path = repo / "features.py"
    name = f"_salesops_feature_repo_{abs(hash((str(path), path.stat().st_mtime_ns)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.pop(name, None)
    kinds = (Entity, FeatureView, FeatureService, DataSource)
    return [obj for obj in vars(module).values() if isinstance(obj, kinds)]


def apply(store: FeatureStore, workspace: Workspace) -> int:
    objects = repo_objects(workspace.feature_repo)
    with quiet_feast(workspace):
        store.apply(objects)
    return len(objects)


def write_online(store: FeatureStore, workspace: Workspace, rows: Mapping[str, Any]) -> None:
    """Write each online view's rows (a frame with the keys, `event_timestamp` and the view's
    features) into the store's online store: what `materialize` would copy from the offline
    files, taken from the build's frames instead, so a staged generation's online store is
    filled from its own data, not from the current generation's files."""
    from salesops.faults import checkpoint

    for number, (view, frame) in enumerate(rows.items()):
        if number:
            checkpoint("build.inside_online_write")
        with quiet_feast(workspace):
            store.write_to_online_store(view, frame, allow_registry_cache=False)
