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


def open_store(workspace: Workspace) -> FeatureStore:
    if not workspace.feature_store_yaml.is_file():
        raise PreconditionError("no feature repo in the workspace",
                                hint="run `salesops infra up` first")
    from feast import FeatureStore

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
