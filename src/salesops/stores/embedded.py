"""The `embedded` profile: everything in the workspace. The offline store is the current
generation's parquet files, read by DuckDB; the registry and MLflow are SQLite files; the
online store is the generation's SQLite file, so it switches with the generation.

Nothing to start or stop: `prepare` and `teardown` have nothing to do, the generation's
files are the build's tables (staged and switched by `generation`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from salesops.config import Settings
from salesops.stores.base import Progress, StoreState, present
from salesops.workspace import Generation, Workspace

if TYPE_CHECKING:
    import pandas as pd


class EmbeddedOffline:
    profile = "embedded"
    #: Feast's DuckDB store with an ASOF point-in-time join (`asof_offline`)
    feast_type = "salesops.stores.asof_offline.AsofDuckDBOfflineStore"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @contextmanager
    def build_lock(self, command: str) -> Iterator[None]:
        """Nothing: the store is the workspace's files, and the workspace lock covers them."""
        yield

    def begin_stage(self) -> None:
        """Nothing: a killed build's staged generation is removed with it."""

    def stage(self, name: str, frame: pd.DataFrame, append: bool) -> None:
        """Nothing beyond the generation's files, which the build writes."""

    def switch(self, names: Iterable[str], manifest: Mapping[str, Any]) -> None:
        """Nothing: switching the generation switches its files."""

    def read_manifest(self, workspace: Workspace) -> dict[str, Any] | None:
        return workspace.read_json(workspace.build_manifest)

    def build_stamp(self, workspace: Workspace) -> tuple[int, int] | None:
        try:
            stat = workspace.build_manifest.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def read_table(self, workspace: Workspace, name: str,
                   columns: list[str]) -> pd.DataFrame | None:
        import pandas as pd

        path = workspace.offline_data / f"{name}.parquet"
        return pd.read_parquet(path, columns=columns) if path.is_file() else None

    def tracking_uri(self, workspace: Workspace) -> str:
        return f"sqlite:///{workspace.root}/mlflow.db"

    def registry(self, workspace: Workspace) -> dict[str, Any]:
        return {"registry_type": "sql", "path": f"sqlite:///{workspace.registry_db}",
                "cache_ttl_seconds": 60}

    def offline_section(self) -> dict[str, Any]:
        return {"type": self.feast_type}

    def batch_engine_section(self) -> dict[str, Any] | None:
        return None

    def view_source(self, view: str, workspace: Workspace) -> dict[str, Any]:
        # absolute: Feast resolves relative file sources against the repo for retrieval but
        # against the current directory when materializing
        return {"type": "file", "path": str(workspace.offline_data / f"{view}.parquet")}

    @staticmethod
    def before_feast() -> None:
        """Nothing to adjust in Feast for DuckDB."""

    def prepare(self) -> list[StoreState]:
        return []

    def status(self, workspace: Workspace) -> list[StoreState]:
        views = [p.stem for p in sorted(workspace.offline_data.glob("*.parquet"))]
        return [StoreState("registry", "sqlite", *_registry_state(workspace)),
                StoreState("offline store", "parquet + duckdb", present(bool(views)),
                           ", ".join(views))]

    def teardown(self, progress: Progress) -> list[StoreState]:
        return []  # the workspace holds everything; the infra backend removes it


class SqliteOnline:
    #: Feast's SQLite store with batched writes (`sqlite_online`)
    feast_type = "salesops.stores.sqlite_online.BatchSqliteOnlineStore"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def online_section(self, workspace: Workspace) -> dict[str, Any]:
        # absolute, through `current`: readers follow the switch of generations
        return {"type": self.feast_type, "path": str(workspace.online_db)}

    def prepare(self) -> list[StoreState]:
        return []

    def status(self, workspace: Workspace) -> list[StoreState]:
        return [StoreState("online store", "sqlite", present(workspace.online_db.is_file()),
                           _size(workspace.online_db))]

    @staticmethod
    def staged_section(section: dict[str, Any], generation: Generation) -> dict[str, Any]:
        return {**section, "path": str(generation.online_db.absolute())}

    #: whether `copy_forward` can succeed (a build that cannot copy applies first)
    can_copy_forward = True

    @staticmethod
    def copy_forward(workspace: Workspace, generation: Generation) -> bool:
        """Start the staged generation's online store as a copy of the current one's (a
        file per generation: the current one is never written, so a killed build leaves
        it whole). Copied through SQLite's backup API: a consistent copy even while a
        server reads it."""
        current = workspace.online_db
        if not current.is_file():
            return False
        with (sqlite3.connect(f"file:{current}?mode=ro", uri=True) as source,
              sqlite3.connect(generation.online_db) as target):
            source.backup(target)
        return True


def _size(path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB" if path.is_file() else ""


def _registry_state(ws: Workspace) -> tuple[str, str]:
    """Read the sql registry with sqlite3 directly: no Feast import for a status line."""
    if not ws.registry_db.is_file():
        return "missing", "run `salesops features build`"
    try:
        with sqlite3.connect(f"file:{ws.registry_db}?mode=ro", uri=True) as conn:
            views = conn.execute("select count(*) from feature_views").fetchone()[0]
            services = conn.execute("select count(*) from feature_services").fetchone()[0]
    except sqlite3.Error as exc:
        return "unreadable", str(exc)
    return "present", f"{views} feature views, {services} feature services"
