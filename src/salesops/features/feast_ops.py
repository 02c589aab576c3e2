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
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salesops.errors import PreconditionError
from salesops.workspace import Workspace

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


def open_store(workspace: Workspace) -> FeatureStore:
    if not workspace.feature_store_yaml.is_file():
        raise PreconditionError("no feature repo in the workspace",
                                hint="run `salesops infra up` first")
    from feast import FeatureStore

    if "type: postgres" in workspace.feature_store_yaml.read_text():
        _separate_postgres_entity_keys()

    with quiet_feast(workspace):
        return FeatureStore(repo_path=str(workspace.feature_repo))


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


def materialize(store: FeatureStore, workspace: Workspace, start: datetime, end: datetime) -> None:
    with quiet_feast(workspace):
        store.materialize(start_date=start, end_date=end)
