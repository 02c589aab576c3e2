"""`drift --schedule CRON`: the monitoring loop as a CronJob (see `cronjob_spec`), applied
idempotently (a second call replaces the schedule), and `--schedule off` removing it with
its identity. Deleting the CronJob takes its Jobs and their pods with it."""

from __future__ import annotations

import re
from typing import Any

from salesops.backends.base import Progress
from salesops.backends.kubernetes.apply import apply, delete
from salesops.backends.kubernetes.client import ClusterBackend
from salesops.backends.kubernetes.cronjob_spec import NAME, scheduler_objects
from salesops.errors import UsageError

#: five cron fields (minute hour day-of-month month day-of-week), or a macro
CRON = re.compile(r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
                  r"(\S+\s+){4}\S+)$")


def check_cron(schedule: str) -> str:
    """The schedule, stripped; a UsageError naming the format when it is not one."""
    text = " ".join(schedule.split())
    if not CRON.match(text) or "TZ=" in text:
        raise UsageError(f"--schedule {schedule!r} is not a cron schedule: five fields "
                         "(minute hour day-of-month month day-of-week, UTC), e.g. "
                         "\"0 6 * * 1\" for Mondays 06:00, or @daily / @weekly; `off` removes it")
    return text


class DriftSchedule(ClusterBackend):
    def manifests(self, cron: str) -> list[dict[str, Any]]:
        return scheduler_objects(self.settings, check_cron(cron))

    def schedule(self, cron: str, progress: Progress) -> dict[str, Any]:
        objects = self.manifests(cron)
        states = {}
        for manifest in objects:
            state, _ = apply(self.api, manifest, progress)
            states[f"{manifest['kind']}/{manifest['metadata']['name']}"] = state
        progress(f"CronJob {NAME} runs at {objects[-1]['spec']['schedule']!r} (UTC) in "
                 f"namespace {self.namespace}")
        return {"name": NAME, "namespace": self.namespace,
                "schedule": objects[-1]["spec"]["schedule"], "objects": states}

    def unschedule(self, progress: Progress) -> dict[str, Any]:
        # any schedule renders the same names: the CronJob first, then its identity
        objects = scheduler_objects(self.settings, "@weekly")
        states = {f"{m['kind']}/{m['metadata']['name']}": delete(self.api, m, progress)
                  for m in reversed(objects)}
        return {"name": NAME, "namespace": self.namespace, "schedule": None,
                "objects": states}
