"""Local infrastructure: the workspace folder and the Feast repo inside it, and whatever the
chosen stores need (on `postgres`, or with the Redis online store, their servers).

`up` is idempotent (files are rewritten only when their content changes). The stores check
their servers, credentials and databases first and create what they need, saying precisely
what is wrong when they cannot. `down` removes the workspace and what the stores created
(on `postgres`, its schemas); it refuses a folder that salesops did not create.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import astuple
from datetime import UTC, datetime

from salesops.backends.base import Component, InfraReport, Progress, kubernetes_only
from salesops.backends.local.server_process import stop_recorded
from salesops.config import Settings
from salesops.errors import UsageError
from salesops.stores import offline_store, online_store
from salesops.stores.base import StoreState, present
from salesops.workspace import LOCK_NAME, MARKER, Workspace, atomic_write_text, locked

class LocalInfra:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workspace = Workspace(settings.workspace)
        self.offline = offline_store(settings)
        self.online = online_store(settings)

    def _report(self) -> InfraReport:
        return InfraReport(backend="local", location=str(self.workspace.root))

    def up(self, progress: Progress, repo_files: Callable[[], dict[str, str]]) -> InfraReport:
        report = self._report()
        ws = self.workspace
        if ws.root.exists() and not ws.exists() and any(
                p.name != LOCK_NAME for p in ws.root.iterdir()):
            raise UsageError(f"{ws.root} exists and is not a salesops workspace; "
                             "choose another project.workspace")
        # servers first: a wrong password must not leave a half-made workspace behind
        servers = _components([*self.offline.prepare(), *self.online.prepare()])
        with locked(ws):
            return self._up(report, servers, repo_files, progress)

    def _up(self, report: InfraReport, servers: list[Component],
            repo_files: Callable[[], dict[str, str]], progress: Progress) -> InfraReport:
        from salesops.stores.generation import ensure_current

        ws = self.workspace
        fresh = not ws.exists()
        ws.root.mkdir(parents=True, exist_ok=True)
        ws.logs.mkdir(exist_ok=True)
        if fresh:
            atomic_write_text(ws.marker, f"created {datetime.now(UTC).isoformat()}\n")
        report.components.append(
            Component("workspace", "directory", "created" if fresh else "unchanged", str(ws.root))
        )
        ensure_current(ws)  # the repo's paths go through `current`
        for name, text in repo_files().items():
            changed = atomic_write_text(ws.feature_repo / name, text)
            state = "created" if fresh else ("updated" if changed else "unchanged")
            report.components.append(Component(name, "feature repo file", state))
        report.components.extend(servers)
        progress(f"workspace ready at {ws.root} (profile {self.settings.feature_store.profile})")
        return report

    def status(self) -> InfraReport:
        ws = self.workspace
        report = self._report()
        add = report.components.append
        add(Component("workspace", "directory", present(ws.exists()), str(ws.root)))
        add(Component("feature_store.yaml", "feature repo file",
                      present(ws.feature_store_yaml.is_file())))
        report.components.extend(_components([*self.offline.status(ws),
                                              *self.online.status(ws)]))
        manifest = ws.read_json(ws.build_manifest)
        detail = (f"next week {manifest['next_week'][:10]}, fingerprint {manifest['fingerprint']}"
                  if manifest else "run `salesops features build`")
        add(Component("features build", "manifest", present(manifest is not None), detail))
        return report

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
        report.components.extend(_components(self.offline.teardown(progress)))
        shutil.rmtree(ws.root)
        progress(f"removed {ws.root}")
        report.components.append(Component("workspace", "directory", "removed", str(ws.root)))
        return report

    def manifests(self) -> list[dict]:
        raise kubernetes_only("--dry-run")

    def secret_hint(self) -> str | None:
        return None


def _components(states: list[StoreState]) -> list[Component]:
    return [Component(*astuple(state)) for state in states]
