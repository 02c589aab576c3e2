"""The Kubernetes side of `salesops train`: submit a TrainJob, its status and its logs."""

from __future__ import annotations

import sys

from salesops.cli.dry_run import print_manifests, require_kubernetes
from salesops.cli.state import State
from salesops.errors import UsageError


def submit_job(state: State, settings, promote_mode: str, dry_run: bool, wait: bool) -> None:
    from salesops.training.submit import submit_trainjob, trainjob_manifest

    require_kubernetes(settings, "--dry-run" if dry_run else "--wait")
    if dry_run:
        if wait:
            raise UsageError("--dry-run and --wait exclude each other")
        print_manifests(state, [trainjob_manifest(settings, promote_mode)])
        return
    record = submit_trainjob(settings, promote_mode, wait, state.output.step, state.output.info)
    render(state, record)


def show_status(state: State, name: str) -> None:
    from salesops.backends.kubernetes.trainjob import TrainJobs

    settings = state.settings()
    require_kubernetes(settings, "`train status`")
    render(state, TrainJobs(settings).status(name))


def show_logs(state: State, name: str, follow: bool) -> None:
    from salesops.backends.kubernetes.trainjob import TrainJobs

    settings = state.settings()
    require_kubernetes(settings, "`train logs`")
    lines = TrainJobs(settings).logs(name, follow=follow)
    if state.output.json_mode:
        state.output.emit({"name": name, "lines": list(lines)})
        return
    for line in lines:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def render(state: State, record: dict) -> None:
    def human(console) -> None:
        rows = [("name", record["name"]), ("namespace", record["namespace"]),
                ("state", record["state"]), ("message", record["message"]),
                ("nodes", record["nodes"])]
        console.print(state.output.table("TrainJob", ["", ""], rows))

    state.output.emit(record, human)
