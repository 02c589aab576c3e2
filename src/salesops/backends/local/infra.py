"""Local infrastructure: the workspace folder and the Feast repo inside it, and on the
`postgres` profile (or with the Redis online store) the servers it uses.

`up` is idempotent (files are rewritten only when their content changes). On `postgres` it
checks the server, the credentials and the database, and creates the schemas it needs,
saying precisely what is wrong when it cannot. `down` removes the workspace and, on
`postgres`, the schemas salesops created; it refuses a folder that salesops did not create.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime

from salesops.backends.base import Component, InfraReport, Progress
from salesops.backends.local.server_process import stop_recorded
from salesops.config import Settings
from salesops.errors import UsageError
from salesops.workspace import LOCK_NAME, MARKER, Workspace, atomic_write_text, locked


class LocalInfra:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workspace = Workspace(settings.workspace)

    def _report(self) -> InfraReport:
        return InfraReport(backend="local", location=str(self.workspace.root))

    def up(self, progress: Progress) -> InfraReport:
        report = self._report()
        ws = self.workspace
        if ws.root.exists() and not ws.exists() and any(
                p.name != LOCK_NAME for p in ws.root.iterdir()):
            raise UsageError(f"{ws.root} exists and is not a salesops workspace; "
                             "choose another project.workspace")
        # servers first: a wrong password must not leave a half-made workspace behind
        servers = self._prepare_servers()
        with locked(ws):
            return self._up(report, servers, progress)

    def _up(self, report: InfraReport, servers: list[Component],
            progress: Progress) -> InfraReport:
        from salesops.features.repo import write_repo

        ws = self.workspace
        fresh = not ws.exists()
        ws.root.mkdir(parents=True, exist_ok=True)
        ws.logs.mkdir(exist_ok=True)
        if fresh:
            atomic_write_text(ws.marker, f"created {datetime.now(UTC).isoformat()}\n")
        report.components.append(
            Component("workspace", "directory", "created" if fresh else "unchanged", str(ws.root))
        )
        for name, changed in write_repo(self.settings, ws).items():
            state = "created" if fresh else ("updated" if changed else "unchanged")
            report.components.append(Component(name, "feature repo file", state))
        report.components.extend(servers)
        progress(f"workspace ready at {ws.root} (profile {self.settings.feature_store.profile})")
        return report

    def _prepare_servers(self) -> list[Component]:
        fs = self.settings.feature_store
        components = []
        if fs.profile == "postgres":
            from salesops.features.postgres import pg_target, prepare

            target = pg_target(self.settings)
            schemas = prepare(target)
            components.append(Component("postgres", "server", "ready",
                                        f"{target.where}, schemas {', '.join(schemas)}"))
        if fs.online == "redis":
            from salesops.features.redis_store import check

            components.append(Component("redis", "online store", "ready", check(self.settings)))
        return components

    def status(self) -> InfraReport:
        ws = self.workspace
        report = self._report()
        add = report.components.append
        add(Component("workspace", "directory", _present(ws.exists()), str(ws.root)))
        add(Component("feature_store.yaml", "feature repo file",
                      _present(ws.feature_store_yaml.is_file())))
        if self.settings.feature_store.profile == "postgres":
            add(self._server_state("postgres", "registry, offline and online store"))
        else:
            add(Component("registry", "sqlite", *_registry_state(ws)))
            views = [p.stem for p in sorted(ws.offline_data.glob("*.parquet"))]
            add(Component("offline store", "parquet + duckdb", _present(bool(views)),
                          ", ".join(views)))
            if self.settings.feature_store.online == "default":
                add(Component("online store", "sqlite", _present(ws.online_db.is_file()),
                              _size(ws.online_db)))
        if self.settings.feature_store.online == "redis":
            add(self._server_state("redis", "online store"))
        manifest = ws.read_json(ws.build_manifest)
        detail = (f"next week {manifest['next_week'][:10]}, fingerprint {manifest['fingerprint']}"
                  if manifest else "run `salesops features build`")
        add(Component("features build", "manifest", _present(manifest is not None), detail))
        return report

    def _server_state(self, name: str, kind: str) -> Component:
        """A server's line for `status`: reachable or not, never an exception."""
        from salesops.errors import SalesOpsError

        try:
            if name == "postgres":
                from salesops.features.postgres import connect, pg_target

                target = pg_target(self.settings)
                with connect(target):
                    pass
                detail = target.where
            else:
                from salesops.features.redis_store import check

                detail = check(self.settings)
        except SalesOpsError as exc:
            return Component(name, kind, "unreachable", exc.message)
        return Component(name, kind, "present", detail)

    def down(self, progress: Progress) -> InfraReport:
        ws = self.workspace
        report = self._report()
        if not ws.root.exists():
            report.components.append(Component("workspace", "directory", "missing"))
            return report
        if not ws.exists():
            raise UsageError(f"{ws.root} has no {MARKER} marker; not removing a folder "
                             "salesops did not create")
        with locked(ws):
            return self._down(report, progress)

    def _down(self, report: InfraReport, progress: Progress) -> InfraReport:
        ws = self.workspace
        stopped = stop_recorded(ws, progress)  # else it would outlive what it serves
        if stopped is not None:
            report.components.append(Component("model server", "process", "stopped",
                                               f"pid {stopped['pid']}"))
        if self.settings.feature_store.profile == "postgres":
            from salesops.features.postgres import drop_schemas, pg_target

            target = pg_target(self.settings)
            dropped = drop_schemas(target)
            detail = f"{', '.join(dropped) or 'none created by salesops'} at {target.where}"
            progress(f"dropped schemas {detail}")
            report.components.append(Component("postgres", "schemas", "removed", detail))
        shutil.rmtree(ws.root)
        progress(f"removed {ws.root}")
        report.components.append(Component("workspace", "directory", "removed", str(ws.root)))
        return report


def _present(flag: bool) -> str:
    return "present" if flag else "missing"


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
