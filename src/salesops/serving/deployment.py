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
the new one's log. Servers exit by themselves when the record stops naming them, so a
deploy killed at any point leaves exactly the recorded server running.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from salesops.backends.local.server_process import alive, stop_recorded, terminate
from salesops.config import Settings
from salesops.errors import CheckFailed, PreconditionError, UsageError
from salesops.faults import checkpoint
from salesops.serving.client import client_url, same_workspace, server_info
from salesops.workspace import Workspace, atomic_write_text, locked

Progress = Callable[[str], None]
LOG_TAIL = 15
KEEP_LOGS = 10
#: a local server answers its info route in milliseconds; a port that accepts and stays
#: silent is not one of ours
PROBE_TIMEOUT_S = 0.5
#: set in this process by MLflow (`set_tracking_uri`) and holding the database URL with its
#: password: the server reads the config itself and must not inherit them
SECRET_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def deploy(settings: Settings, config: Path | None, version: str | None, alias: str | None,
           progress: Progress, canary: int | None = None, wait: bool = True) -> dict[str, Any]:
    """Local: a background `serve run`. Kubernetes: the InferenceService (`canary` percent of
    the traffic to this spec in Knative mode; `wait` until Ready)."""
    if settings.backend.kind == "kubernetes":
        return _cluster(settings).deploy(version, alias, canary, wait, progress)
    if canary is not None:
        raise UsageError("--canary needs backend.kind = kubernetes (KServe splits the traffic)")
    workspace = Workspace(settings.workspace)
    if workspace.read_json(workspace.build_manifest) is None:
        raise PreconditionError("no online features to serve",
                                hint="run `salesops infra up` and `salesops features build` first")
    with locked(workspace, "serve deploy"):
        return _deploy(settings, workspace, config, version, alias, progress)


def _deploy(settings: Settings, workspace: Workspace, config: Path | None, version: str | None,
            alias: str | None, progress: Progress) -> dict[str, Any]:
    from salesops.serving.scorer import resolve_version

    version = resolve_version(settings, version, alias)
    host, port = settings.serving.host, settings.serving.port
    url = client_url(host, port)
    previous = running_record(workspace)
    deploy_id = secrets.token_hex(8)
    log = _new_log(workspace)
    listener = _listener(workspace, previous, host, port, progress)
    # the new server stays tied to this deploy until it commits: see `handover`
    commit_read, commit_write = os.pipe()
    try:
        child = _spawn(["serve", "run", "--host", host, "--port", str(port), "--model-version",
                        version, "--deploy-id", deploy_id, "--listen-fd",
                        str(listener.fileno()), "--commit-fd", str(commit_read)],
                       config, log, pass_fds=(listener.fileno(), commit_read))
    except BaseException:
        os.close(commit_write)
        raise
    finally:  # the server has its own copies now
        listener.close()
        os.close(commit_read)
    progress(f"starting the model server for {settings.mlflow.model_name} v{version} "
             f"(pid {child.pid}, log {log})")
    record = {"pid": child.pid, "deploy_id": deploy_id, "host": host, "port": port, "url": url,
              "workspace": str(workspace.root.resolve()),
              "model_name": settings.mlflow.model_name, "model_version": version,
              "log": str(log), "started_at": time.time()}
    try:
        checkpoint("serve-deploy:spawned")
        _wait_ready(child, url, deploy_id, log, settings.serving.ready_timeout_s, progress)
        checkpoint("serve-deploy:ready")
        atomic_write_text(workspace.server_state, json.dumps(record, indent=2) + "\n")
    except BaseException:  # not ready, or the deploy was interrupted: the old one stays
        os.close(commit_write)
        terminate(child.pid)
        raise
    os.close(commit_write)  # the new server is committed: it now lives as long as the record
    checkpoint("serve-deploy:committed")
    progress(f"ready at {url}")
    if previous is not None:
        progress(f"stopping the previous server (pid {previous['pid']}, "
                 f"v{previous['model_version']}): it finishes what it has accepted")
        terminate(previous["pid"])
    return {**record, "running": True, "ready": True, "uptime_s": 0.0}


def _listener(workspace: Workspace, previous: dict[str, Any] | None, host: str, port: int,
              progress: Progress) -> socket.socket:
    """The socket the new server listens on: the running server's, handed over, when it
    serves the same address; else a new one bound here."""
    from salesops.serving.handover import fetch_listener
    from salesops.serving.server import bind

    same_address = previous is not None and (previous["host"], previous["port"]) == (host, port)
    if same_address:
        listener = fetch_listener(previous["deploy_id"]) if previous.get("deploy_id") else None
        if listener is not None:
            return listener
        progress(f"the running server (pid {previous['pid']}) cannot hand its socket over; "
                 "stopping it first (requests in between are refused)")
        terminate(previous["pid"])
    try:
        return bind(host, port)
    except UsageError as exc:
        raise _port_taken(workspace, client_url(host, port), exc) from None


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


def status(settings: Settings) -> dict[str, Any]:
    """The recorded server: running (its process), ready (it answers at its url as itself,
    with the model loaded). `answering` says who else answers there, if anyone does."""
    if settings.backend.kind == "kubernetes":
        return _cluster(settings).status()
    workspace = Workspace(settings.workspace)
    record = workspace.read_json(workspace.server_state)
    if record is None:
        info = server_info(client_url(settings.serving.host, settings.serving.port),
                           PROBE_TIMEOUT_S)
        return {"running": False, "pid": None, **({"answering": _who(info)} if info else {})}
    running = alive(record["pid"], record.get("deploy_id"))
    info = server_info(record["url"], PROBE_TIMEOUT_S)
    ours = info is not None and info.get("deploy_id") == record.get("deploy_id")
    result = {**record, "running": running, "ready": bool(running and ours and info["ready"]),
              "uptime_s": round(time.time() - record["started_at"], 1) if running else None}
    if info is not None and not ours:
        result["answering"] = _who(info)
    return result


def stop(settings: Settings, progress: Progress) -> dict[str, Any]:
    if settings.backend.kind == "kubernetes":
        return _cluster(settings).stop(progress)
    workspace = Workspace(settings.workspace)
    if not workspace.root.is_dir():
        return {"running": False, "pid": None}
    with locked(workspace, "serve stop"):  # a deploy under way may be about to write a record
        record = stop_recorded(workspace, progress)
    if record is None:
        return {"running": False, "pid": None}
    return {**record, "running": False, "ready": False, "uptime_s": None, "stopped": True}


def _who(info: dict[str, Any]) -> dict[str, Any]:
    return {key: info.get(key) for key in ("pid", "workspace", "model_version", "deploy_id")}


def move_traffic(settings: Settings, promote: bool, progress: Progress) -> dict[str, Any]:
    """`serve promote` / `serve rollback`: canary traffic, kubernetes only."""
    if settings.backend.kind != "kubernetes":
        raise UsageError("canary traffic needs backend.kind = kubernetes; locally one server runs")
    return _cluster(settings).move_traffic(promote, progress)


def manifest(settings: Settings, version: str | None, alias: str | None,
             canary: int | None) -> dict[str, Any]:
    """The InferenceService `deploy` would apply (for `--dry-run`)."""
    from salesops.backends.kubernetes.inference_service import check_canary
    from salesops.backends.kubernetes.isvc_spec import inference_service

    if canary is not None:
        check_canary(settings, canary)
    return inference_service(settings, version, alias, canary)


def _cluster(settings: Settings):
    from salesops.backends.kubernetes.inference_service import InferenceServices

    return InferenceServices(settings)


def running_record(workspace: Workspace) -> dict[str, Any] | None:
    """The deployed server's record, when that server is still running."""
    record = workspace.read_json(workspace.server_state)
    if record is None or not alive(record["pid"], record.get("deploy_id")):
        return None
    return record


def _spawn(args: list[str], config: Path | None, log: Path,
           pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """`salesops ARGS` detached (its own session), with stdout and stderr in `log`."""
    command = [sys.executable, "-m", "salesops", *(["--config", str(config)] if config else []),
               *args]
    env = {name: value for name, value in os.environ.items() if name not in SECRET_ENV}
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                pass_fds=pass_fds, env={**env, "PYTHONUNBUFFERED": "1"})


def _wait_ready(child: subprocess.Popen, url: str, deploy_id: str, log: Path, timeout_s: float,
                progress: Progress) -> None:
    """Until the new server answers as itself, ready (while the old one shares the socket,
    a probe may reach either)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            _report_tail(log, progress)
            raise CheckFailed(f"the model server exited during start-up (exit code "
                              f"{child.returncode}); log: {log}")
        info = server_info(url, PROBE_TIMEOUT_S)
        if info is not None and info.get("deploy_id") == deploy_id and info.get("ready"):
            return
        time.sleep(0.1)
    _report_tail(log, progress)
    raise CheckFailed(f"the model server was not ready after {timeout_s:g} s "
                      f"(serving.ready_timeout_s); it was stopped; log: {log}")


def _new_log(workspace: Workspace) -> Path:
    """A log file for the new server; the oldest beyond KEEP_LOGS are removed."""
    workspace.logs.mkdir(parents=True, exist_ok=True)
    for old in sorted(workspace.logs.glob("serve-*.log"))[:-KEEP_LOGS]:
        old.unlink(missing_ok=True)
    return workspace.logs / f"serve-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.log"


def _report_tail(log: Path, progress: Progress) -> None:
    lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL:]
    progress(f"last lines of {log}:")
    for line in lines:
        progress(f"  {line}")
