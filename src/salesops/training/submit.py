"""`train submit` as a service: the request for whichever training backend the settings
choose (`backends.training_backend`), and the Python API that runs it to its end.

The service supplies the work: what each rank runs (`worker.run_worker`), how a finished
run is registered (`publish.publish`), and the checks before minutes of training. Where
that work runs (N local processes, a TrainJob's pods) is the backend's business.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from salesops.backends.base import Progress, TrainRequest
from salesops.config import Settings, settings_payload
from salesops.errors import PreconditionError
from salesops.stores import offline_store
from salesops.workspace import Workspace


def request(settings: Settings, promote_mode: str = "auto", progress: str = "lines",
            wait: bool = False) -> TrainRequest:
    """What `train submit` asks a backend for; `progress` is a `training.progress` mode."""
    from salesops.training.publish import publish
    from salesops.training.tracking import check_reachable, warm_up
    from salesops.training.worker import run_worker

    return TrainRequest(
        promote_mode=promote_mode, progress=progress, wait=wait, worker=run_worker,
        worker_args=(settings_payload(settings), promote_mode, progress),
        publish=partial(publish, settings), require_inputs=partial(_require_inputs, settings),
        preflight=partial(check_reachable, settings), meanwhile=partial(warm_up, settings))


def submit(settings: Settings, promote_mode: str = "auto", progress: str = "lines",
           on_step: Progress | None = None, on_log: Progress | None = None) -> dict[str, Any]:
    """Train to the end (a TrainJob is followed until it ends): the run's summary, or the
    TrainJob's final state. `on_step` and `on_log` receive progress lines and a TrainJob's
    log; by default nothing is shown."""
    from salesops.backends import training_backend

    step = on_step or _ignore
    backend = training_backend(settings)
    record = backend.submit(request(settings, promote_mode, progress), step)
    if not record.finished:
        record = backend.wait(record.name, step, on_log or _ignore)
    return record.to_dict()


def _require_inputs(settings: Settings) -> None:
    """Before any process starts: the features, and the reference's package if one is
    asked for."""
    from salesops.training.reference import check_available

    require_features(settings)
    check_available(settings.training.reference)


def require_features(settings: Settings) -> None:
    # the offline store's manifest: on the postgres profile the server's, so that a pod or a
    # teammate with an empty workspace trains on the build the server holds
    if offline_store(settings).read_manifest(Workspace(settings.workspace)) is None:
        raise PreconditionError("no features to train on",
                                hint="run `salesops infra up` and `salesops features build` first")


def _ignore(line: str) -> None:
    pass
