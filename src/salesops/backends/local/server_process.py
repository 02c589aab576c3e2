"""The locally deployed model server as a process: is it alive, stop it.

`backends.local.serving` starts it and writes the workspace's record (`serve.json`);
stopping lives here so that `infra down` can stop the workspace's server before it removes
the workspace.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from salesops.faults import checkpoint
from salesops.polling import poll
from salesops.workspace import Workspace

STOP_WAIT_S = 20
EXIT_POLL_S = 0.05


def alive(pid: int, deploy_id: str | None = None) -> bool:
    """Whether `pid` is a running `serve run` (started with `deploy_id`, when given)."""
    if _reap(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if sys.platform != "linux":
        return True
    try:  # make sure the pid was not reused by something else
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        command = b""
    if b"serve\x00run" not in command:
        _reap(pid)  # it may have exited since the first look (a zombie has no command line)
        return False
    return deploy_id is None or deploy_id.encode() in command


def _reap(pid: int) -> bool:
    """Reap `pid` if it is an exited child of this process (a deploy run in-process), else
    it stays a zombie; whether it was."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


def terminate(pid: int) -> None:
    """SIGTERM (graceful: the server drains, the prediction log is flushed), then SIGKILL
    after STOP_WAIT_S; returns once the process is gone (reaped, when it is our child)."""
    for signum, wait_s in ((signal.SIGTERM, STOP_WAIT_S), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        if poll(lambda: _gone(pid), wait_s, EXIT_POLL_S):
            return


def _gone(pid: int) -> bool:
    """Whether `pid` has exited. A process that is exiting shows as a zombie before its
    threads are all gone, and only then can its parent reap it."""
    if _reap(pid):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return sys.platform == "linux"  # elsewhere kill(0) above is all there is
    state, parent = fields[0], int(fields[1])
    return state == "Z" and parent != os.getpid()  # our own zombie: wait to reap it


def stop_recorded(workspace: Workspace,
                  progress: Callable[[str], None]) -> dict[str, Any] | None:
    """Stop the server the workspace's record names; the record, or None when there is none.
    The caller holds the workspace lock."""
    record = workspace.read_json(workspace.server_state)
    if record is None:
        return None
    # first the record: a server whose record is gone retires by itself (see `handover`),
    # so a stop killed after this line still stops it
    workspace.server_state.unlink(missing_ok=True)
    checkpoint("serve-stop:unlinked")
    if alive(record["pid"], record.get("deploy_id")):
        progress(f"stopping the model server (pid {record['pid']})")
        terminate(record["pid"])
    return record
