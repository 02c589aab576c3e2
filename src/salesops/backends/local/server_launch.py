"""Starting a local model server: the background `serve run`, its log, the wait until it
answers as itself, and how its start-up error reaches the deployer.

A server that fails to start (no champion, a config error, a tracking store that does not
answer) exits with its own error's exit code; a bare exit code would leave the deployer to
say only "it exited". So `serve deploy` hands the server a pipe (`--error-fd`) and the
server writes its error there as one JSON document, with the keys of the CLI's `--json`
errors (`error`, `type`, `exit_code`, and the `hint`); the deployer raises the same kind of
error with the same exit code, in one line, with the server's log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from salesops.backends.base import Progress
from salesops.backends.local.prometheus_env import without_feast_variables
from salesops.backends.local.server_probe import server_info
from salesops.errors import INTERNAL_ERROR, CheckFailed, SalesOpsError
from salesops.polling import poll
from salesops.workspace import Workspace

LOG_TAIL = 15
KEEP_LOGS = 10
#: a local server answers its info route in milliseconds; a port that accepts and stays
#: silent is not one of ours
PROBE_TIMEOUT_S = 0.5
READY_POLL_S = 0.1
#: set in this process by MLflow (`set_tracking_uri`) and holding the database URL with its
#: password: the server reads the config itself and must not inherit them (nor Feast's
#: metrics directory, see `prometheus_env`)
SECRET_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
#: more than any error record; the pipe holds it until the deployer reads it
RECORD_MAX = 64 * 1024


def spawn(args: list[str], config: Path | None, log: Path,
          pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """`salesops ARGS` detached (its own session), with stdout and stderr in `log`."""
    command = [sys.executable, "-m", "salesops", *(["--config", str(config)] if config else []),
               *args]
    env = {name: value for name, value in without_feast_variables(os.environ).items()
           if name not in SECRET_ENV}
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                pass_fds=pass_fds, env={**env, "PYTHONUNBUFFERED": "1"})


def wait_ready(child: subprocess.Popen, url: str, deploy_id: str, log: Path, error_fd: int,
               timeout_s: float, progress: Progress) -> None:
    """Until the new server answers as itself, ready (while the old one shares the socket,
    a probe may reach either); the server's own error if it exits first."""

    def answers() -> bool:
        if child.poll() is not None:
            raise _exited(child.returncode, log, error_fd, progress)
        info = server_info(url, PROBE_TIMEOUT_S)
        return info is not None and info.get("deploy_id") == deploy_id and bool(info.get("ready"))

    if not poll(answers, timeout_s, READY_POLL_S):
        report_tail(log, progress)
        raise CheckFailed(f"the model server was not ready after {timeout_s:g} s "
                          f"(serving.ready_timeout_s); it was stopped; log: {log}")


def _exited(returncode: int, log: Path, error_fd: int, progress: Progress) -> SalesOpsError:
    reported = read_error(error_fd)
    if reported is not None:  # the server's own words: its error is the whole story
        return rebuild(reported, log)
    report_tail(log, progress)
    return CheckFailed(f"the model server exited during start-up (exit code {returncode}); "
                       f"log: {log}")


def write_error(fd: int, exc: Exception) -> None:
    """The server's side: `exc` as one JSON document on `fd` (then closed). An exception
    that is not a SalesOpsError is a bug (or a case nobody classified): it travels as the
    internal error the command line would report, with its type and words."""
    if isinstance(exc, SalesOpsError):
        record = {"error": exc.message, "hint": exc.hint, "type": exc.kind,
                  "exit_code": exc.exit_code}
    else:
        record = {"error": f"internal error: {type(exc).__name__}: {exc}",
                  "hint": "the server's log has the traceback", "type": "internal_error",
                  "exit_code": INTERNAL_ERROR}
    try:
        with os.fdopen(fd, "w") as pipe:
            pipe.write(json.dumps(record) + "\n")
    except OSError:  # the deployer is gone (or has committed): nobody to tell
        pass


def read_error(fd: int) -> dict[str, Any] | None:
    """The deployer's side, once the server has exited: its error record, if it wrote one."""
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, RECORD_MAX)
    except (BlockingIOError, OSError):
        return None
    try:
        record = json.loads(data)
    except ValueError:
        return None
    ok = isinstance(record, dict) and isinstance(record.get("error"), str) \
        and isinstance(record.get("exit_code"), int)
    return record if ok else None


def rebuild(record: dict[str, Any], log: Path) -> SalesOpsError:
    """The server's error as this process' own: the same class (by its `kind`), message,
    hint and exit code, and where the server's log is."""
    cls = _error_class(str(record.get("type")))
    error = cls.__new__(cls)  # some classes' __init__ build their message from other data
    SalesOpsError.__init__(error, f"the model server could not start: {record['error']}; "
                                  f"log: {log}", hint=record.get("hint") or None)
    error.exit_code = record["exit_code"]
    error.kind = str(record.get("type") or cls.kind)  # kept when no class here has it
    return error


def _error_class(kind: str) -> type[SalesOpsError]:
    pending = [SalesOpsError]
    while pending:
        cls = pending.pop()
        if cls.kind == kind:
            return cls
        pending.extend(cls.__subclasses__())
    return SalesOpsError


def new_log(workspace: Workspace) -> Path:
    """A log file for the new server; the oldest beyond KEEP_LOGS are removed."""
    workspace.logs.mkdir(parents=True, exist_ok=True)
    for old in sorted(workspace.logs.glob("serve-*.log"))[:-KEEP_LOGS]:
        old.unlink(missing_ok=True)
    return workspace.logs / f"serve-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.log"


def report_tail(log: Path, progress: Progress) -> None:
    lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL:]
    progress(f"last lines of {log}:")
    for line in lines:
        progress(f"  {line}")
