"""`serve deploy | status | stop | promote | rollback` as a service: the model to serve, and
the serving backend of the settings to serve it (a local background `serve run`, or an
InferenceService; see `salesops.backends`).

Which version a deploy serves is the registry's answer (MLflow), service work: the backend
gets it as a callable, which a local deploy calls under the workspace lock after its own
checks; a cluster resolves an alias in the pod instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from salesops.backends import serving_backend
from salesops.backends.base import DeployRequest, Progress
from salesops.config import Settings


def request(settings: Settings, version: str | None = None, alias: str | None = None,
            canary: int | None = None, wait: bool = False,
            config: Path | None = None) -> DeployRequest:
    """What to deploy, with the registry lookup of the version for a local deploy."""
    def resolve() -> str:
        from salesops.serving.scorer import resolve_version

        return resolve_version(settings, version, alias)

    return DeployRequest(version=version, alias=alias, canary=canary, wait=wait, config=config,
                         resolve=resolve)


def deploy(settings: Settings, config: Path | None, version: str | None, alias: str | None,
           progress: Progress, canary: int | None = None, wait: bool = False) -> dict[str, Any]:
    """Serve `version` (or the one `alias` names). Kubernetes: `canary` percent of the
    traffic to this spec (Knative mode), `wait` until Ready; a local deploy always waits."""
    return serving_backend(settings).deploy(
        request(settings, version, alias, canary, wait, config), progress)


def status(settings: Settings) -> dict[str, Any]:
    return serving_backend(settings).status()


def stop(settings: Settings, progress: Progress) -> dict[str, Any]:
    return serving_backend(settings).stop(progress)


def move_traffic(settings: Settings, promote: bool, progress: Progress) -> dict[str, Any]:
    """`serve promote` / `serve rollback`: canary traffic."""
    backend = serving_backend(settings)
    return backend.promote(progress) if promote else backend.rollback(progress)


def manifests(settings: Settings, version: str | None, alias: str | None,
              canary: int | None) -> list[dict[str, Any]]:
    """What `deploy` would apply (`--dry-run`)."""
    return serving_backend(settings).manifests(request(settings, version, alias, canary))
