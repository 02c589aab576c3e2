"""`serve deploy | status | stop` on the local backend: `serve run` as a background process.

The deployed server is described by one JSON file in the workspace (pid, deploy id, url,
model version, log), written atomically: it is the commit point of a deploy. `deploy`,
`stop` (and `infra down`, through `stop`) hold the workspace lock, so two of them never
interleave (the second exits 75).

A deploy never leaves the user without a server, and drops no request: the running server
hands its listening socket over (see `handover`), the new process starts on that same
socket, and only once it answers as itself (its deploy id on the info route, ready) is the
record rewritten and the old one stopped; stopping drains it (it stops accepting, finishes
in flight, closes keep-alive connections at their next response), and the connections it
no longer accepts wait in the shared queue for the new one. If the new one dies or misses
`serving.ready_timeout_s`, it is stopped, the old one keeps serving, and the error points at
the new one's log (or is the new one's own error, see `server_launch`). Servers exit by
themselves when the record stops naming them, so a deploy killed at any point leaves
exactly the recorded server running.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from salesops.backends.base import ON_KUBERNETES, DeployRequest, Progress, kubernetes_only
from salesops.backends.local.handover import bind, fetch_listener
from salesops.backends.local.server_launch import PROBE_TIMEOUT_S, new_log, spawn, wait_ready
from salesops.backends.local.server_probe import client_url, same_workspace, server_info
from salesops.backends.local.server_process import alive, stop_recorded, terminate
from salesops.config import Settings
from salesops.errors import PreconditionError, UsageError
from salesops.faults import checkpoint
from salesops.workspace import Workspace, atomic_write_text, locked

NOT_RUNNING = {"running": False, "pid": None}


class LocalServing:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workspace = Workspace(settings.workspace)

    def deploy(self, request: DeployRequest, progress: Progress) -> dict[str, Any]:
        if request.wait:
            raise UsageError(f"--wait is for {ON_KUBERNETES} (a local deploy always waits)")
        if request.canary is not None:
            raise UsageError(f"--canary needs {ON_KUBERNETES} (KServe splits the traffic)")
        if self.workspace.read_json(self.workspace.build_manifest) is None:
            raise PreconditionError("no online features to serve",
                                    hint="run `salesops infra up` and `salesops features build` "
                                    "first")
        with locked(self.workspace, "serve deploy"):
            version = request.resolve() if request.resolve else request.version
            if version is None:
                raise UsageError("a local deploy needs the model version to serve")
            return self._deploy(str(version), request.config, progress)

    def status(self) -> dict[str, Any]:
        """The recorded server: running (its process), ready (it answers at its url as
        itself, with the model loaded). `answering` says who else answers there, if anyone."""
        record = self.workspace.read_json(self.workspace.server_state)
        if record is None:
            info = server_info(client_url(self.settings.serving.host, self.settings.serving.port),
                               PROBE_TIMEOUT_S)
            return {**NOT_RUNNING, **({"answering": _who(info)} if info else {})}
        running = alive(record["pid"], record.get("deploy_id"))
        info = server_info(record["url"], PROBE_TIMEOUT_S)
        ours = info is not None and info.get("deploy_id") == record.get("deploy_id")
        result = {**record, "running": running, "ready": bool(running and ours and info["ready"]),
                  "uptime_s": round(time.time() - record["started_at"], 1) if running else None}
        if info is not None and not ours:
            result["answering"] = _who(info)
        return result

    def stop(self, progress: Progress) -> dict[str, Any]:
        if not self.workspace.root.is_dir():
            return dict(NOT_RUNNING)
        with locked(self.workspace, "serve stop"):  # a deploy under way may write a record
            record = stop_recorded(self.workspace, progress)
        if record is None:
            return dict(NOT_RUNNING)
        return {**record, "running": False, "ready": False, "uptime_s": None, "stopped": True}

    def promote(self, progress: Progress) -> dict[str, Any]:
        raise _no_canary()

    def rollback(self, progress: Progress) -> dict[str, Any]:
        raise _no_canary()

    def manifests(self, request: DeployRequest) -> list[dict[str, Any]]:
        raise kubernetes_only("--dry-run")

    def served(self) -> tuple[str, str] | None:
        record = running_record(self.workspace)
        return (record["url"], str(record["model_version"])) if record else None

    # -- deploy -------------------------------------------------------------------------
    def _deploy(self, version: str, config: Path | None, progress: Progress) -> dict[str, Any]:
        host, port = self.settings.serving.host, self.settings.serving.port
        previous = running_record(self.workspace)
        record = {"pid": None, "deploy_id": secrets.token_hex(8), "host": host, "port": port,
                  "url": client_url(host, port), "workspace": str(self.workspace.root.resolve()),
                  "model_name": self.settings.mlflow.model_name, "model_version": version,
                  "log": str(new_log(self.workspace)), "started_at": None}
        listener = self._listener(previous, host, port, progress)
        # the new server stays tied to this deploy until it commits: see `handover`
        commit_read, commit_write = os.pipe()
        error_read, error_write = os.pipe()  # its start-up error, if it has one
        try:
            try:
                child = self._spawn(record, listener, commit_read, error_write, config)
            except BaseException:
                os.close(commit_write)
                raise
            finally:  # the server has its own copies now
                listener.close()
                os.close(commit_read)
                os.close(error_write)
            record.update(pid=child.pid, started_at=time.time())
            progress(f"starting the model server for {record['model_name']} v{version} "
                     f"(pid {child.pid}, log {record['log']})")
            self._commit(child, record, commit_write, error_read, progress)
        finally:
            os.close(error_read)
        progress(f"ready at {record['url']}")
        if previous is not None:
            progress(f"stopping the previous server (pid {previous['pid']}, "
                     f"v{previous['model_version']}): it finishes what it has accepted")
            terminate(previous["pid"])
        return {**record, "running": True, "ready": True, "uptime_s": 0.0}

    def _spawn(self, record: dict[str, Any], listener: socket.socket, commit_fd: int,
               error_fd: int, config: Path | None):
        args = ["serve", "run", "--host", record["host"], "--port", str(record["port"]),
                "--model-version", record["model_version"], "--deploy-id", record["deploy_id"],
                "--listen-fd", str(listener.fileno()), "--commit-fd", str(commit_fd),
                "--error-fd", str(error_fd)]
        return spawn(args, config, Path(record["log"]),
                     pass_fds=(listener.fileno(), commit_fd, error_fd))

    def _commit(self, child, record: dict[str, Any], commit_write: int, error_read: int,
                progress: Progress) -> None:
        """Wait until the new server is ready, then write the record and release it."""
        try:
            checkpoint("serve-deploy:spawned")
            wait_ready(child, record["url"], record["deploy_id"], Path(record["log"]),
                       error_read, self.settings.serving.ready_timeout_s, progress)
            checkpoint("serve-deploy:ready")
            atomic_write_text(self.workspace.server_state, json.dumps(record, indent=2) + "\n")
        except BaseException:  # not ready, or the deploy was interrupted: the old one stays
            os.close(commit_write)
            terminate(child.pid)
            raise
        os.close(commit_write)  # the new server is committed: it lives as long as the record
        checkpoint("serve-deploy:committed")

    def _listener(self, previous: dict[str, Any] | None, host: str, port: int,
                  progress: Progress) -> socket.socket:
        """The socket the new server listens on: the running server's, handed over, when it
        serves the same address; else a new one bound here."""
        if previous is not None and (previous["host"], previous["port"]) == (host, port):
            listener = fetch_listener(previous["deploy_id"]) if previous.get("deploy_id") else None
            if listener is not None:
                return listener
            progress(f"the running server (pid {previous['pid']}) cannot hand its socket over; "
                     "stopping it first (requests in between are refused)")
            terminate(previous["pid"])
        try:
            return bind(host, port)
        except UsageError as exc:
            raise _port_taken(self.workspace, client_url(host, port), exc) from None


def running_record(workspace: Workspace) -> dict[str, Any] | None:
    """The deployed server's record, when that server is still running."""
    record = workspace.read_json(workspace.server_state)
    if record is None or not alive(record["pid"], record.get("deploy_id")):
        return None
    return record


def _port_taken(workspace: Workspace, url: str, error: UsageError) -> UsageError:
    """Say who holds the port, when it is a salesops model server."""
    info = server_info(url, PROBE_TIMEOUT_S)
    if info is None:
        return UsageError(f"{error.message} (another program listens there)", hint=error.hint)
    if same_workspace(info, workspace.root):
        return UsageError(f"{url} is already served by a model server of this workspace that "
                          f"`serve deploy` did not start (pid {info['pid']})",
                          hint=f"stop it (kill {info['pid']}), or deploy on another --port")
    return UsageError(f"{url} is already served by the model server of the workspace "
                      f"{info.get('workspace') or '(unknown)'} (pid {info['pid']})",
                      hint="run `salesops serve stop` there, or deploy on another --port")


def _who(info: dict[str, Any]) -> dict[str, Any]:
    return {key: info.get(key) for key in ("pid", "workspace", "model_version", "deploy_id")}


def _no_canary() -> UsageError:
    return UsageError(f"canary traffic needs {ON_KUBERNETES}; locally one server runs")
