"""`features build` as a service: the request for whichever feature backend the settings
choose (`backends.feature_backend`: this process, or a Kubernetes Job), and the Python API
that runs it to its end.

The service supplies the work (`build.build` for a build here) and the options a Job's pod
passes to the same command; where it runs is the backend's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from salesops.backends.base import BuildRequest, Progress
from salesops.config import Settings
from salesops.errors import UsageError

#: the data settings a build takes as options (`--path` is a folder on this machine)
DATA_OPTIONS = ("source", "stores", "depts", "weeks", "seed", "realism")


def options(given: Mapping[str, Any] | None = None, append_weeks: int = 0,
            shifts: Mapping[str, float] | None = None) -> list[str]:
    """The `features build` command line of these choices: `given` data settings (those
    not given are None), `--append-weeks`, `--shift KEY=VALUE`."""
    args: list[str] = []
    for key in DATA_OPTIONS:
        value = (given or {}).get(key)
        if value is not None:
            args += [f"--{key}", str(value)]
    if append_weeks:
        args += ["--append-weeks", str(append_weeks)]
    for key, value in (shifts or {}).items():
        args += ["--shift", f"{key}={value:+g}"]
    return args


def request(settings: Settings, append_weeks: int = 0,
            shifts: Mapping[str, float] | None = None,
            given: Mapping[str, Any] | None = None, wait: bool = False) -> BuildRequest:
    """What `features build` asks a backend for; `settings` already hold the `given` data
    options (a pod gets them both ways: as its settings and on its command line). Options
    that cannot go together are refused here, before a Job is created to fail in its pod."""
    if shifts and not append_weeks:
        raise UsageError("--shift applies to the weeks added by --append-weeks N")
    return BuildRequest(options=options(given, append_weeks, shifts), wait=wait,
                        run=partial(_build, settings, append_weeks, dict(shifts or {})))


def submit(settings: Settings, append_weeks: int = 0,
           shifts: Mapping[str, float] | None = None, *, here: bool = False,
           on_step: Progress | None = None, on_log: Progress | None = None) -> dict[str, Any]:
    """Build to the end (a Job is followed until it ends): the build's summary, or the Job's
    final state. `here`: in this process whatever the backend."""
    from salesops.backends import feature_backend

    step = on_step or _ignore
    backend = feature_backend(settings, here=here)
    record = backend.submit(request(settings, append_weeks, shifts), step)
    if not backend.completes_in_submit:  # a Job that ended already still has its log
        record = backend.wait(record.name, step, on_log or _ignore)
    return record.to_dict()


def _build(settings: Settings, append_weeks: int, shifts: dict[str, float],
           progress: Progress) -> dict[str, Any]:
    from salesops.features.build import build

    return build(settings, append_weeks=append_weeks, shifts=shifts,
                 progress=progress).to_dict()


def _ignore(line: str) -> None:
    pass
