"""Local training: `training.nodes` rank processes on this machine (`launch.launch_local`),
then the new version registered by this process, alive and after every rank exited 0.

The whole run holds the workspace lock. A local run ends inside `submit`: there is nothing
to follow afterwards, and no object to print for `--dry-run`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from salesops.backends.base import Progress, TrainRecord, TrainRequest, kubernetes_only
from salesops.config import Settings
from salesops.errors import CheckFailed
from salesops.workspace import Workspace, locked


class LocalTraining:
    completes_in_submit = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def submit(self, request: TrainRequest, progress: Progress) -> TrainRecord:
        if request.wait:
            raise kubernetes_only("--wait")
        if request.worker is None or request.publish is None:
            raise ValueError("a local run needs the request's worker and publish step")
        progress("building the training set from the feature store")
        if request.require_inputs is not None:
            request.require_inputs()
        from salesops.backends.local.threads import prefer_passive_wait

        prefer_passive_wait()  # before torch loads in this process (`--nodes 1` trains here)
        from salesops.backends.local.launch import LaunchFailed, launch_local

        with locked(Workspace(self.settings.workspace), "train submit"):
            if request.preflight is not None:
                request.preflight()
            # With one node the rank is this process: a thread beside it would only take
            # the GIL from the training (and, at the lowest priority on a busy machine,
            # keep it while it waits for a core: 80 s against 27 s beside two busy loops).
            nodes = self.settings.training.nodes
            meanwhile = _start(request.meanwhile) if nodes > 1 else None
            try:
                result = launch_local(nodes, request.worker, request.worker_args)
            except LaunchFailed as exc:
                raise CheckFailed(f"training failed: {exc}",
                                  hint="nothing was registered") from None
            if meanwhile is not None:
                meanwhile.join()
            summary = request.publish(result)
        return _record(summary, self.settings.training.nodes)

    def status(self, name: str) -> TrainRecord:
        raise kubernetes_only("`train status`")

    def logs(self, name: str, follow: bool = False):
        raise kubernetes_only("`train logs`")

    def wait(self, name: str, progress: Progress, log: Progress) -> TrainRecord:
        raise kubernetes_only("--wait")

    def manifests(self, request: TrainRequest) -> list[dict[str, Any]]:
        raise kubernetes_only("--dry-run")


def _start(work: Callable[[], None] | None) -> threading.Thread | None:
    """`work` on a daemon thread (a failed run does not wait for it), errors swallowed, at
    the lowest CPU priority where the OS gives threads their own (Linux): it takes the
    cores the ranks leave idle (rank 1 waits while rank 0 builds the training set), not
    the ones they start up or train on."""
    if work is None:
        return None

    def quietly() -> None:
        with contextlib.suppress(Exception):
            _lowest_priority()
            work()

    thread = threading.Thread(target=quietly, name="salesops-meanwhile", daemon=True)
    thread.start()
    return thread


def _lowest_priority() -> None:
    if sys.platform.startswith("linux"):  # a thread is a task there: its own nice value
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _record(summary: dict[str, Any], nodes: int) -> TrainRecord:
    return TrainRecord(name=str(summary.get("run_id", "")), namespace="", state="Complete",
                       message=str(summary.get("reason", "")), nodes=nodes, summary=summary)
