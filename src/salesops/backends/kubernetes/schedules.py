"""`drift --schedule CRON`: the monitoring loop as a CronJob (see `cronjob_spec`), applied
idempotently (a second call replaces the schedule), and `--schedule off` removing it with
its identity. Deleting the CronJob takes its Jobs and their pods with it."""

from __future__ import annotations

from typing import Any

from salesops.backends.base import Progress
from salesops.backends.kubernetes.apply import apply, delete
from salesops.backends.kubernetes.client import ClusterBackend
from salesops.backends.kubernetes.cronjob_spec import NAME, scheduler_objects
from salesops.config import Settings
from salesops.errors import UsageError

#: the CronJob controller's macros, and each field's range (minute hour day month weekday)
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
          ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP",
                            "OCT", "NOV", "DEC")),
          ("day of week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")))


def cron_error(schedule: str) -> str | None:
    """Why the API server would refuse `schedule` as a CronJob's (422), or None: five
    fields of `*`, N, N-M, lists and /step within each field's range, names for months
    and weekdays, or a macro. Checked here so that a typo is exit 2, not a cluster error."""
    text = schedule.strip()
    if text.lower() in MACROS:
        return None
    fields = text.split()
    if len(fields) != 5:
        return f"{len(fields)} fields, a schedule has 5 (minute hour day month weekday)"
    for value, (name, low, high, words) in zip(fields, FIELDS, strict=True):
        for item in value.split(","):
            span, _, step = item.partition("/")
            if step and not (step.isdigit() and int(step) > 0):
                return f"{name}: step {step!r} is not a positive number"
            ends = [] if span == "*" else span.split("-")
            if len(ends) > 2 or (ends and "" in ends):
                return f"{name}: {item!r} is not N, N-M or *"
            numbers = [words.index(e.upper()) + (low if words and low else 0)
                       if e.upper() in words else int(e) if e.isdigit() else None
                       for e in ends]
            if None in numbers:
                return f"{name}: {item!r} is not a number" + (
                    f" or a name ({', '.join(words[:3])} …)" if words else "")
            if any(not low <= n <= high for n in numbers):
                return f"{name}: {item!r} is outside {low}-{high}"
    return None



def check_cron(schedule: str) -> str:
    """The schedule, stripped; a UsageError naming what is wrong when the API server would
    refuse it (422, a cluster error) or it is no schedule at all."""
    text = " ".join(schedule.split())
    problem = "a time zone goes in no schedule: it runs in UTC" if "TZ=" in text else (
        cron_error(text))
    if problem is not None:
        raise UsageError(f"--schedule {schedule!r} is not a cron schedule: {problem}",
                         hint='five fields (minute hour day-of-month month day-of-week, UTC), '
                         'e.g. "0 6 * * 1" for Mondays 06:00, or @daily / @weekly; `off` '
                         'removes it')
    return text


def check_data(settings: Settings) -> None:
    """Each tick appends a week with `features build --append-weeks 1`, which extends clean
    synthetic data only: over imported data every tick would fail before drift ran."""
    data = settings.data
    if data.source != "synthetic" or data.realism != "clean":
        raise UsageError(
            "--schedule appends the week with `features build --append-weeks 1`, which "
            f"extends clean synthetic data only (data.source = {data.source!r}, "
            f"data.realism = {data.realism!r})",
            hint="with imported data, load each week with `features build` and run "
                 "`salesops drift --retrain` after it")


class DriftSchedule(ClusterBackend):
    def manifests(self, cron: str) -> list[dict[str, Any]]:
        check_data(self.settings)
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
