"""`features build`: load or generate sales, engineer, validate, write, `feast apply`, materialize.

Order matters for "a failed step loses nothing": data is loaded, engineered and validated
entirely in memory first, so bad input writes nothing. Files are then replaced atomically
(temporary file + rename), the registry is updated, and the online store receives the
next-week row of every series. The manifest is written last, only after success.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from salesops.config import Settings
from salesops.errors import PreconditionError, UsageError
from salesops.workspace import Workspace

Progress = Callable[[str], None]


@dataclass
class BuildResult:
    source: str
    rows: int
    stores: int
    depts: int
    weeks: int
    first_week: str
    last_week: str
    next_week: str
    appended_weeks: int
    feature_rows: dict[str, int]
    online_entities: int
    fingerprint: str
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build(
    settings: Settings,
    *,
    append_weeks: int = 0,
    shifts: Mapping[str, float] | None = None,
    progress: Progress = lambda message: None,
) -> BuildResult:
    workspace = Workspace(settings.workspace)
    if not workspace.exists():
        raise PreconditionError(f"no workspace at {workspace.root}",
                                hint="run `salesops infra up` first")
    timings: dict[str, float] = {}

    with _timed(timings, "load"):
        dataset, manifest = _load(settings, workspace, append_weeks, shifts)
    summary = dataset.summary()
    progress(f"data: {summary['rows']:,} rows, {summary['stores']} stores × "
             f"{summary['depts']} depts × {summary['weeks']} weeks ({dataset_origin(manifest)})")

    from salesops.features import offline
    from salesops.features.engineering import build_features
    from salesops.features.validation import validate

    with _timed(timings, "engineer"):
        frames = build_features(dataset)
    with _timed(timings, "validate"):
        validate(frames)
    progress(f"features: {', '.join(f'{k} {len(v):,}' for k, v in frames.frames().items())} rows"
             " engineered and validated")

    with _timed(timings, "write"):
        # the server first: a failed load there leaves the workspace's files as they were
        if settings.feature_store.profile == "postgres":
            from salesops.features.postgres import pg_target, write_tables

            write_tables(pg_target(settings), frames.frames())
        offline.write_dataset(dataset, workspace)
        offline.write_frames(frames, workspace)
    from salesops.features import feast_ops

    with _timed(timings, "apply"):
        store = feast_ops.open_store(workspace)
        count = feast_ops.apply(store, workspace)
    progress(f"feast apply: {count} objects registered")

    ttl = timedelta(days=settings.feature_store.ttl_days)
    start = frames.next_week.to_pydatetime() - ttl
    end = frames.next_week.to_pydatetime() + timedelta(seconds=1)
    with _timed(timings, "materialize"):
        feast_ops.materialize(store, workspace, start, end)
    online = int(frames.dept_weekly["event_timestamp"].eq(frames.next_week).sum())
    progress(f"materialized the week of {frames.next_week.date()} for {online:,} series online")

    manifest["fingerprint"] = offline.fingerprint(frames)
    manifest["next_week"] = frames.next_week.isoformat()
    if settings.feature_store.profile == "postgres":
        from salesops.features.postgres import pg_target, write_manifest

        write_manifest(pg_target(settings), manifest)
    offline.write_manifest(workspace, manifest)
    return BuildResult(
        source=manifest["source"],
        rows=summary["rows"],
        stores=summary["stores"],
        depts=summary["depts"],
        weeks=summary["weeks"],
        first_week=summary["first_week"],
        last_week=summary["last_week"],
        next_week=frames.next_week.date().isoformat(),
        appended_weeks=append_weeks,
        feature_rows={name: len(frame) for name, frame in frames.frames().items()},
        online_entities=online,
        fingerprint=manifest["fingerprint"],
        timings=timings,
    )


def _load(settings: Settings, workspace: Workspace, append_weeks: int,
          shifts: Mapping[str, float] | None):
    from salesops.features import offline

    data = settings.data
    if append_weeks:
        previous = workspace.read_json(workspace.build_manifest)
        if previous is None:
            raise PreconditionError("--append-weeks needs an earlier build",
                                    hint="run `salesops features build` first")
        if previous["source"] != "synthetic":
            raise UsageError("--append-weeks extends synthetic data only; "
                             "import the longer CSV files instead")
        return offline.append_synthetic(workspace, previous, append_weeks, shifts or {})
    if shifts:
        raise UsageError("--shift applies to the weeks added by --append-weeks N")
    if data.source == "csv":
        if data.path is None:
            raise UsageError("--source csv needs --path DIR (or data.path in the config)")
        from salesops.data.walmart_csv import load_walmart_csv

        dataset = load_walmart_csv(Path(data.path))
        return dataset, {"source": "csv", "path": str(Path(data.path).absolute()), "appends": []}
    from salesops.data.synthetic import generate

    params = {"stores": data.stores, "depts": data.depts, "weeks": data.weeks,
              "seed": data.seed, "start_date": data.start_date}
    return generate(**params), {"source": "synthetic", "params": params, "appends": []}


def dataset_origin(manifest: Mapping[str, Any]) -> str:
    if manifest["source"] == "csv":
        return f"Walmart CSV from {manifest['path']}"
    params = manifest["params"]
    text = f"synthetic, seed {params['seed']}"
    if manifest["appends"]:
        added = sum(a["weeks"] for a in manifest["appends"])
        text += f", {added} weeks appended"
    return text


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 3)
