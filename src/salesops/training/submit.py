"""`train submit`: N worker processes with torch.distributed (local), or a Kubeflow
TrainJob (kubernetes).

Locally the whole command holds the workspace lock, and only this process, alive and
after every worker exited 0, registers the new version and moves the aliases.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from salesops.config import Settings
from salesops.errors import CheckFailed, PreconditionError
from salesops.workspace import Workspace, locked


def submit(settings: Settings, promote_mode: str = "auto", progress: str = "lines") -> dict:
    if settings.backend.kind == "kubernetes":  # the Python API: submit and follow to the end
        def echo(line: str) -> None:
            if progress != "off":
                print(line, file=sys.stderr, flush=True)

        return submit_trainjob(settings, promote_mode, wait=True, progress=echo, log=echo)
    workspace = Workspace(settings.workspace)
    if workspace.read_json(workspace.build_manifest) is None:
        raise PreconditionError("no features to train on",
                                hint="run `salesops infra up` and `salesops features build` first")
    from salesops.training.threads import prefer_passive_wait

    prefer_passive_wait()  # before torch loads in this process (`--nodes 1` trains here)
    from salesops.training.launch import LaunchFailed, launch_local
    from salesops.training.publish import publish
    from salesops.training.tracking import check_reachable
    from salesops.training.worker import run_worker

    with locked(workspace, "train submit"):
        check_reachable(settings)  # before minutes of training, not after
        try:
            candidate = launch_local(settings.training.nodes, run_worker,
                                     (settings_payload(settings), promote_mode, progress))
        except LaunchFailed as exc:
            raise CheckFailed(f"training failed: {exc}", hint="nothing was registered") from None
        return publish(settings, candidate)


def trainjob_manifest(settings: Settings, promote_mode: str = "auto") -> dict:
    """The TrainJob a submission would create (a new unique name each call)."""
    from salesops.backends.kubernetes.trainjob_spec import new_name, trainjob

    return trainjob(settings, new_name(), promote_mode)


def submit_trainjob(settings: Settings, promote_mode: str, wait: bool,
                    progress: Callable[[str], None], log: Callable[[str], None]) -> dict:
    """Create the TrainJob; with `wait`, follow it (and node 0's log) until it ends."""
    from salesops.backends.kubernetes.trainjob import TrainJobs

    jobs = TrainJobs(settings)
    record = jobs.submit(promote_mode, progress)
    return jobs.wait(record["name"], progress, log) if wait else record


def settings_payload(settings: Settings) -> dict:
    """Settings as plain data for a worker process, secrets included (never printed)."""
    data = settings.model_dump(mode="json")
    for key in ("postgres_url", "redis_url"):
        secret = getattr(settings.feature_store, key)
        data["feature_store"][key] = secret.get_secret_value() if secret is not None else None
    return data
