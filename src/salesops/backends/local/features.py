"""Local feature builds: `features build` runs in this process, against whatever stores the
settings name (the laptop's workspace, or with `--local` the cluster's Postgres through a
port-forward). It ends inside `submit`; there is no Job to follow or print."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from salesops.backends.base import BuildRequest, JobRecord, Progress, kubernetes_only
from salesops.config import Settings


class LocalFeatures:
    completes_in_submit = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def submit(self, request: BuildRequest, progress: Progress) -> JobRecord:
        if request.wait:  # before minutes of building, not after
            raise kubernetes_only("--wait")
        assert request.run is not None  # the features service always gives the build
        summary = request.run(progress)
        return JobRecord(name="features build", namespace="", state="Complete",
                         summary=summary)

    def status(self, name: str) -> JobRecord:
        raise kubernetes_only("features status")

    def logs(self, name: str, follow: bool = False) -> Iterator[str]:
        raise kubernetes_only("features logs")

    def wait(self, name: str, progress: Progress, log: Progress) -> JobRecord:
        raise kubernetes_only("--wait")

    def manifests(self, request: BuildRequest) -> list[dict[str, Any]]:
        raise kubernetes_only("--dry-run")
