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


def open_store(workspace: Workspace, generation: Generation | None = None) -> FeatureStore:
    """The workspace's feature store; with `generation`, one whose SQLite online store is
    that (staged) generation's file, for a build to fill before it switches."""
    if not workspace.feature_store_yaml.is_file():
        raise PreconditionError("no feature repo in the workspace",
                                hint="run `salesops infra up` first")
    import yaml
    from feast import FeatureStore

    from salesops.stores import offline_class

    config = yaml.safe_load(workspace.feature_store_yaml.read_text())
    offline_class(config["offline_store"]["type"]).before_feast()
    yaml_file = None
    if generation is not None:
        yaml_file = _generation_yaml(config, generation)
    with quiet_feast(workspace):
        return FeatureStore(repo_path=str(workspace.feature_repo), fs_yaml_file=yaml_file)


def write_generation_yaml(workspace: Workspace, generation: Generation) -> Path:
    """The staged generation's feature_store.yaml, for a build that does not open Feast."""
    import yaml

    return _generation_yaml(yaml.safe_load(workspace.feature_store_yaml.read_text()),
                            generation)


def _generation_yaml(config: dict[str, Any], generation: Generation) -> Path:
    """A copy of the repo's config whose online store is the staged generation's own (the
    online store's class says what that means)."""
    import yaml

    from salesops.stores import online_class

    online = config["online_store"]
    config["online_store"] = online_class(online["type"]).staged_section(online, generation)
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
            if not _write_frame(store, view, frame):
                store.write_to_online_store(view, frame, allow_registry_cache=False)


def _write_frame(store: FeatureStore, view: str, frame: Any) -> bool:
    """The batched SQLite store's own `write_frame` (the same rows as Feast's write, a
    column at a time: 19.5 s -> 8 s at 10M rows), where the store is that one and can; False
    leaves the write to Feast."""
    from salesops.stores.sqlite_online import TYPE, BatchSqliteOnlineStore

    config = store.config
    if (config.online_store.type != TYPE
            or not BatchSqliteOnlineStore.writes_frames(config)):
        return False
    feature_view = store.get_feature_view(view, allow_registry_cache=False)
    BatchSqliteOnlineStore().write_frame(config, feature_view, frame)
    return True
