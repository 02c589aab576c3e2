"""Where work runs. `local` and `kubernetes` are peers behind one small interface per concern;
`infra_backend` picks one by `backend.kind` and imports it lazily."""

from __future__ import annotations

from salesops.backends.base import InfraBackend
from salesops.config import Settings


def infra_backend(settings: Settings) -> InfraBackend:
    if settings.backend.kind == "kubernetes":
        from salesops.backends.kubernetes.infra import KubernetesInfra

        return KubernetesInfra(settings)
    from salesops.backends.local.infra import LocalInfra

    return LocalInfra(settings)
