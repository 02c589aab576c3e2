"""After `drift --retrain`: serve the new champion where the champion is being served.

A retraining that promotes changes the registry only; the server keeps the version it
loaded. So a promotion is deployed through the serving service, as `serve deploy
--model-version N` would: locally the running server hands its socket over to a server of
the new version (no request dropped), on Kubernetes the InferenceService is patched (its
predictor rolls to the new version). Where nothing is deployed, nothing is started: a
retraining is no reason to begin serving, and the answer says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from salesops.backends.base import Progress
from salesops.config import Settings
from salesops.errors import SalesOpsError

NOT_RUNNING = "not deployed: no server running"


def deploy_champion(settings: Settings, version: str, config: Path | None,
                    progress: Progress) -> dict[str, Any]:
    """{deployed, version, url?, reason}: the outcome, never an exception (the retraining
    happened and is reported either way; a failed deploy leaves the old server serving)."""
    from salesops.serving import deployment

    try:
        if not serving(deployment.status(settings)):
            return {"deployed": False, "version": version, "reason": NOT_RUNNING}
        progress(f"deploying the new champion v{version}")
        record = deployment.deploy(settings, config, version, None, progress)
    except SalesOpsError as exc:
        return {"deployed": False, "version": version,
                "reason": f"not deployed: {exc.one_line()}"}
    return {"deployed": True, "version": version, "url": record.get("url"),
            "reason": f"deployed v{version}" + (f" at {record['url']}" if record.get("url")
                                                else "")}


def serving(status: dict[str, Any]) -> bool:
    """Whether a `serve status` record shows something deployed: a local server that runs,
    or an InferenceService that exists (each backend's record says it its own way)."""
    return bool(status.get("running") or status.get("exists"))
