"""The local backend has no scheduler of its own: `drift --schedule` is refused with the
setting that allows it (a laptop's cron can run `salesops features build --append-weeks 1
&& salesops drift --retrain` itself)."""

from __future__ import annotations

from typing import Any

from salesops.backends.base import Progress, kubernetes_only
from salesops.config import Settings


class LocalSchedule:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def schedule(self, cron: str, progress: Progress) -> dict[str, Any]:
        raise kubernetes_only("--schedule")

    def unschedule(self, progress: Progress) -> dict[str, Any]:
        raise kubernetes_only("--schedule")

    def manifests(self, cron: str) -> list[dict[str, Any]]:
        raise kubernetes_only("--schedule")
