"""`serve deploy | status | stop` on the local backend: `serve run` as a background process.

The deployed server is described by one JSON file in the workspace (pid, url, model
version, log). A deploy never leaves the user without a server: the new process starts
beside the old one (on the same port, thanks to SO_REUSEPORT, see `server`), and only once
it answers as itself (its pid on the info route, and `/v2/health/ready`) is the old one
stopped and the file rewritten. If the new one dies or misses `serving.ready_timeout_s`, it
is stopped, the old one keeps serving, and the error points at the new one's log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from salesops.config import Settings
from salesops.errors import CheckFailed, PreconditionError, UsageError
from salesops.serving.client import INFO_PATH, client_url, get_json
from salesops.workspace import Workspace, atomic_write_text

Progress = Callable[[str], None]
STOP_WAIT_S = 20
LOG_TAIL = 15
KEEP_LOGS = 10
#: a local server answers its info route in milliseconds; a port that accepts and stays
#: silent is not one of ours
PROBE_TIMEOUT_S = 0.5


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
    from salesops.serving.scorer import resolve_version

    version = resolve_version(settings, version, alias)
    previous = running_record(workspace)
    host, port = settings.serving.host, settings.serving.port
    url = client_url(host, port)
    _refuse_foreign_server(url, previous["pid"] if previous else None)
    log = _new_log(workspace)
    child = _spawn(["serve", "run", "--host", host, "--port", str(port), "--model-version",
                    version], config, log)
    progress(f"starting the model server for {settings.mlflow.model_name} v{version} "
             f"(pid {child.pid}, log {log})")
    try:
        _wait_ready(child, url, log, settings.serving.ready_timeout_s, progress)
    except BaseException:  # not ready, or the deploy was interrupted: the old one stays
        terminate(child.pid)
        raise
    record = {"pid": child.pid, "host": host, "port": port, "url": url,
              "model_name": settings.mlflow.model_name, "model_version": version,
              "log": str(log), "started_at": time.time()}
    atomic_write_text(workspace.server_state, json.dumps(record, indent=2) + "\n")
    progress(f"ready at {url}")
    if previous is not None:
        progress(f"stopping the previous server (pid {previous['pid']}, "
                 f"v{previous['model_version']})")
        terminate(previous["pid"])
    return {**record, "running": True, "ready": True, "uptime_s": 0.0}


def status(settings: Settings) -> dict[str, Any]:
    if settings.backend.kind == "kubernetes":
        return _cluster(settings).status()
    workspace = Workspace(settings.workspace)
    record = workspace.read_json(workspace.server_state)
    if record is None:
        return {"running": False, "pid": None}
    running = _alive(record["pid"])
    ready = running and _server_pid(record["url"]) == record["pid"]
    uptime = round(time.time() - record["started_at"], 1) if running else None
    return {**record, "running": running, "ready": ready, "uptime_s": uptime}


def stop(settings: Settings, progress: Progress) -> dict[str, Any]:
    if settings.backend.kind == "kubernetes":
        return _cluster(settings).stop(progress)
    workspace = Workspace(settings.workspace)
    record = workspace.read_json(workspace.server_state)
    if record is None:
        return {"running": False, "pid": None}
    if _alive(record["pid"]):
        progress(f"stopping the model server (pid {record['pid']})")
        terminate(record["pid"])
    workspace.server_state.unlink(missing_ok=True)
    return {**record, "running": False, "ready": False, "uptime_s": None, "stopped": True}


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
    return record if record is not None and _alive(record["pid"]) else None


def terminate(pid: int) -> None:
    """SIGTERM (graceful: in-flight requests finish, the prediction log is flushed), then
    SIGKILL after STOP_WAIT_S."""
    for signum, wait_s in ((signal.SIGTERM, STOP_WAIT_S), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.05)


def _refuse_foreign_server(url: str, ours: int | None) -> None:
    """Another `serve run` on the port (one `deploy` did not start) would share it with the
    new server (SO_REUSEPORT), and the kernel would spread requests over both. A few probes:
    each new connection may reach either of them."""
    for _ in range(3):
        pid = _server_pid(url)
        if pid is None:  # nothing of ours answers; a port held otherwise fails the bind
            return
        if pid != ours:
            raise UsageError(f"{url} is already served by another model server (pid {pid}) "
                             "that `serve deploy` did not start",
                             hint="stop it, or deploy on another --port")


def _spawn(args: list[str], config: Path | None, log: Path) -> subprocess.Popen:
    """`salesops ARGS` detached (its own session), with stdout and stderr in `log`."""
    command = [sys.executable, "-m", "salesops", *(["--config", str(config)] if config else []),
               *args]
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_ready(child: subprocess.Popen, url: str, log: Path, timeout_s: float,
                progress: Progress) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            _report_tail(log, progress)
            raise CheckFailed(f"the model server exited during start-up (exit code "
                              f"{child.returncode}); log: {log}")
        if _server_pid(url) == child.pid and get_json(url + "/v2/health/ready", timeout=PROBE_TIMEOUT_S) is not None:
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


def _server_pid(url: str) -> int | None:
    """The pid the server at `url` reports (a new connection each time)."""
    answer = get_json(url + INFO_PATH, timeout=PROBE_TIMEOUT_S)
    return answer.get("pid") if isinstance(answer, dict) else None


def _alive(pid: int) -> bool:
    try:  # reap it if it is our own child (a deploy in this process), else it stays a zombie
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # Linux: make sure the pid was not reused by something else
        return b"serve\x00run" in cmdline.read_bytes()
    return True
