"""After every rank succeeded: register the logged model as a new version carrying its run's
lineage tags, make it the `challenger`, and move `champion` to it when the gate said so.

Runs in the process that launched the ranks (`train submit`), which is alive by
definition, or on rank 0 of a TrainJob after the ranks' last barrier. Each write is one
MLflow call, in an order that a kill between any two leaves readable: a version that is
only `challenger` (registered, never promoted; `models list` shows it so), or the
previous champion still `champion` (see `registry.promote`).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from salesops.config import Settings
from salesops.faults import checkpoint


def publish(settings: Settings, candidate: dict[str, Any]) -> dict[str, Any]:
    """Register `candidate` (a `worker.run_worker` result); returns the run's summary."""
    import mlflow

    from salesops.training import registry
    from salesops.training.tracking import Tracking
    from salesops.training.worker import quiet_mlflow

    Tracking.open(settings, read_only=False)
    name = candidate["model_name"]
    with quiet_mlflow():
        # registry chatter ("Created version ...") goes to stderr unasked; the summary says it
        with contextlib.redirect_stderr(io.StringIO()):
            # the run's lineage goes on the version in the same call: a serving runtime
            # or the registry's UI reads the version, not the run
            version = str(mlflow.register_model(
                candidate["model_uri"], name,
                tags=registry.run_lineage(candidate["run_id"])).version)
        registry.client().set_registered_model_alias(name, registry.CHALLENGER, version)
        checkpoint("train.after_register")
        if candidate["promote"]:
            registry.promote(name, version)
    rest = {key: value for key, value in candidate.items()
            if key not in ("run_id", "model_name", "model_uri", "promote")}
    return {"run_id": candidate["run_id"], "model_name": name, "version": version,
            "promoted": candidate["promote"], **rest}
