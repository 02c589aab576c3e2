"""`salesops drift --schedule CRON | off [--dry-run]`: the monitoring loop as a schedule of
the backend's (a Kubernetes CronJob); `drift` calls this before any drift check."""

from __future__ import annotations

from salesops.cli.state import State
from salesops.errors import UsageError

#: `--schedule` values that remove the schedule
OFF = ("off", "none", "delete")


def scheduled(state: State, schedule: str | None, dry_run: bool) -> None:
    from salesops.backends import schedule_backend

    if schedule is None:
        raise UsageError("--dry-run of drift prints the CronJob of --schedule CRON",
                         hint="a drift check itself creates nothing")
    off = schedule.strip().lower() in OFF
    backend = schedule_backend(state.settings())
    if dry_run:
        if off:
            raise UsageError("--schedule off removes the CronJob: there is nothing to print")
        state.output.manifests(backend.manifests(schedule))
        return
    record = (backend.unschedule(state.output.step) if off
              else backend.schedule(schedule, state.output.step))

    def human(console) -> None:
        rows = [(name, change) for name, change in record["objects"].items()]
        title = (f"drift schedule {record['schedule']!r} (UTC) in namespace "
                 f"{record['namespace']}" if record["schedule"] else
                 f"drift schedule removed from namespace {record['namespace']}")
        console.print(state.output.table(title, ["object", ""], rows))

    state.output.emit(record, human)
