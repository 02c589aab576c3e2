"""Kubernetes infrastructure (namespace, Postgres, MLflow, Feast config): issue #6."""

from __future__ import annotations

from salesops.backends.base import InfraReport, Progress
from salesops.config import Settings
from salesops.errors import NotBuiltYet


class KubernetesInfra:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def up(self, progress: Progress) -> InfraReport:
        raise NotBuiltYet("infra up (backend.kind = kubernetes)", 6)

    def status(self) -> InfraReport:
        raise NotBuiltYet("infra status (backend.kind = kubernetes)", 6)

    def down(self, progress: Progress) -> InfraReport:
        raise NotBuiltYet("infra down (backend.kind = kubernetes)", 6)
