"""`features build`: load or generate sales, clean, engineer, validate, write, `feast apply`,
materialize.

A build holds the workspace lock and the offline store's build lock (on `postgres`, one
per schema across pods and laptops). Order matters for "a failed step loses nothing": data is
loaded, cleaned by the `data.*` policies (with a report of every quirk met), checked to be
long enough to train on, engineered and validated entirely in memory first, so bad input
writes nothing. Then everything the build produces (raw and offline files, the online rows of
the week to forecast, the manifest) goes into a new generation, which one atomic step makes
current (see `stores.generation`): a failure or a `kill -9` at any instant leaves the
previous build whole, never a mix. The offline store (`stores`) stages and switches its own
tables around it (on `postgres`, the server's).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salesops.config import DataSection, Settings
from salesops.data.report import DataReport, Quirk
from salesops.errors import DataError, PreconditionError, UsageError
from salesops.faults import checkpoint
from salesops.workspace import Workspace, locked

if TYPE_CHECKING:
    from salesops.data.dataset import SalesDataset
    from salesops.features.engineering import FeatureFrames
    from salesops.workspace import Generation

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
    data_report: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    #: the Feast work the build did: `apply` ran (and why) or was skipped, the online rows
    #: were `written` or `copied` forward unchanged (see `features.changes`)
    feast: dict[str, str] = field(default_factory=dict)

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
    from salesops.stores import offline_store

    # the workspace's lock, then the store's: builds in other workspaces (each pod has its
    # own) write the same server tables and extend the same manifest
    with locked(workspace), offline_store(settings).build_lock("salesops features build"):
        return _build(settings, workspace, append_weeks, shifts, progress)


def _build(settings: Settings, workspace: Workspace, append_weeks: int,
           shifts: Mapping[str, float] | None, progress: Progress) -> BuildResult:
    timings: dict[str, float] = {}
    with _timed(timings, "load"):
        dataset, report, manifest = _load(settings, workspace, append_weeks, shifts)
    progress(f"data: {report.rows_read:,} rows read, {report.rows:,} after the data policies: "
             f"{report.series:,} series, {report.stores} stores × {report.depts} depts × "
             f"{report.weeks} weeks ({dataset_origin(manifest)})")
    _check_long_enough(settings, report)
    frames = _engineer(dataset, report, timings, progress)
    _complete_manifest(manifest, frames, report)
    feast: dict[str, str] = {}
    online = _write_generation(settings, workspace, dataset, frames, manifest, timings, feast,
                               progress)
    return _result(manifest, report, frames, append_weeks, online, timings, feast)


def _import_feast_meanwhile(apply_reason: str | None) -> threading.Thread | None:
    """Where this build will `feast apply` for its definitions (a first build, changed
    definitions): Feast's import (5 s of module code) on a thread while the main one writes
    the files, in pyarrow's encoding and compression, which release the GIL (at 10M rows
    the import's 5-6 s cost the write about 1). Tried beside the engineering instead, it
    slowed that by as much as it saved: numpy's calls there are too short to hand the GIL
    over. Started after the imports both threads need (pyarrow, yaml), joined before Feast
    is used. A build that may copy the online rows forward does not start it: it may never
    need Feast."""
    if apply_reason is None:
        return None
    import pyarrow.parquet  # noqa: F401  (what both threads use: imported here first)
    import yaml  # noqa: F401

    from salesops.features.feast_ops import import_feast

    thread = threading.Thread(target=import_feast, name="import feast", daemon=True)
    thread.start()
    return thread


def _engineer(dataset: SalesDataset, report: DataReport, timings: dict[str, float],
              progress: Progress) -> FeatureFrames:
    """The feature frames of the cleaned data, validated, in memory (nothing written yet);
    the series too short to train on join the data report."""
    from salesops.features.engineering import build_features
    from salesops.features.validation import validate

    with _timed(timings, "engineer"):
        frames = build_features(dataset)
    report.add(short_series(frames.series))
    with _timed(timings, "validate"):
        validate(frames)
    progress(f"features: {', '.join(f'{k} {len(v):,}' for k, v in frames.frames().items())} rows"
             " engineered and validated")
    return frames


def _complete_manifest(manifest: dict[str, Any], frames: FeatureFrames,
                       report: DataReport) -> None:
    """What a reader of the build needs beyond the data's origin: lineage and the report."""
    from salesops.features import offline

    manifest["fingerprint"] = offline.fingerprint(frames)
    manifest["next_week"] = frames.next_week.isoformat()
    manifest["data_report"] = report.to_dict()


def _result(manifest: dict[str, Any], report: DataReport, frames: FeatureFrames,
            append_weeks: int, online: int, timings: dict[str, float],
            feast: dict[str, str]) -> BuildResult:
    return BuildResult(
        source=manifest["source"],
        rows=report.rows,
        stores=report.stores,
        depts=report.depts,
        weeks=report.weeks,
        first_week=report.first_week,
        last_week=report.last_week,
        next_week=frames.next_week.date().isoformat(),
        appended_weeks=append_weeks,
        feature_rows={name: len(frame) for name, frame in frames.frames().items()},
        online_entities=online,
        fingerprint=manifest["fingerprint"],
        data_report=report.to_dict(),
        timings=timings,
        feast=feast,
    )


def _write_generation(settings: Settings, workspace: Workspace, dataset: SalesDataset,
                      frames: FeatureFrames, manifest: dict[str, Any], timings: dict[str, float],
                      feast: dict[str, str], progress: Progress) -> int:
    """Fill a new generation (files, registry, online rows, manifest) and switch to it in one
    step; a failure or a kill before the switch leaves the current generation as it was.
    The offline store stages its tables beside the files and switches them just before.
    Returns the number of series put online."""
    from salesops.features import changes, offline
    from salesops.stores import generation, offline_store

    store = offline_store(settings)
    tables = frames.tables()
    # what `feast apply` would register, and why it must run (None: the registry holds it)
    definitions = changes.definitions_digest(workspace)
    apply_reason = changes.apply_needed(workspace, definitions)
    importing = _import_feast_meanwhile(apply_reason)
    with generation.staged(workspace) as staged:
        with _timed(timings, "write"):
            offline.write_dataset(dataset, staged)
            offline.write_frames(frames, staged)
            store.stage(tables)
        checkpoint("build.after_files")
        if importing is not None:
            with _timed(timings, "feast_import"):  # what of it the file writing did not hide
                importing.join()
        online = _fill_feast(workspace, staged, frames, definitions, apply_reason, timings,
                             feast, progress)
        offline.write_manifest(staged, manifest)
        checkpoint("build.before_switch")
        store.switch(tables, manifest)
        generation.switch(workspace, staged)
    return online


def _fill_feast(workspace: Workspace, staged: Generation, frames: FeatureFrames,
                definitions: str, reason: str | None, timings: dict[str, float],
                feast: dict[str, str], progress: Progress) -> int:
    """`feast apply` when the definitions changed (`reason`, from `changes.apply_needed`
    for `definitions`), then the week to forecast into the staged online store: copied
    forward from the current generation when the rows are the same (`features.changes`),
    else written whole. Feast is opened only for work it must do."""
    from salesops.features import changes, feast_ops
    from salesops.stores import online_class

    rows = frames.online_rows()
    online = len(rows["dept_weekly"])
    with _timed(timings, "apply"):
        digest = changes.online_digest(definitions, rows)
        same_rows = digest == changes.current_online_digest(workspace)
        store_class = online_class(_online_section(workspace)["type"]) if same_rows else None
        copy = same_rows and store_class.can_copy_forward
        if reason is None and not copy:
            # apply is what creates the staged generation's (empty) online tables
            reason = "online rows changed: apply creates the staged online tables"
        feature_store = None
        if reason is not None:
            feature_store, count = _apply(workspace, staged, definitions)
    feast["apply"] = f"ran: {reason}" if reason is not None else "skipped: unchanged"
    progress(f"feast apply: {count} objects registered ({reason})" if reason is not None
             else "feast apply skipped: the registry holds these definitions")
    checkpoint("build.after_apply")
    with _timed(timings, "online"):
        copied = copy and store_class.copy_forward(workspace, staged)
        if copied:
            feast_ops.write_generation_yaml(workspace, staged)
        else:
            if feature_store is None:  # the current online store was gone: apply makes one
                feature_store, _ = _apply(workspace, staged, definitions)
                feast["apply"] = "ran: the current online store was gone"
            feast_ops.write_online(feature_store, workspace, rows)
        changes.write_online_digest(staged, digest)
    feast["online"] = "copied" if copied else "written"
    progress(f"kept the week of {frames.next_week.date()} for {online:,} series online "
             "(unchanged, copied forward)" if copied else
             f"wrote the week of {frames.next_week.date()} for {online:,} series online")
    return online


def _apply(workspace: Workspace, staged: Generation, definitions: str) -> tuple[Any, int]:
    """`feast apply` into the staged generation, recorded (see `features.changes`): the
    feature store opened on it and the number of objects registered."""
    from salesops.features import changes, feast_ops

    feature_store = feast_ops.open_store(workspace, staged)
    count = feast_ops.apply(feature_store, workspace)
    changes.record_apply(workspace, definitions)
    return feature_store, count


def _online_section(workspace: Workspace) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(workspace.feature_store_yaml.read_text())["online_store"]


def _load(settings: Settings, workspace: Workspace, append_weeks: int,
          shifts: Mapping[str, float] | None) -> tuple[SalesDataset, DataReport, dict[str, Any]]:
    """The cleaned data, its report, and the manifest that says where it came from."""
    from salesops.data.cleaning import clean, policies_of
    from salesops.data.raw import RawData
    from salesops.features import offline

    data = settings.data
    if append_weeks:
        # the offline store's copy: on `postgres` a pod's fresh workspace has none of its own
        previous = offline.read_manifest(settings, workspace)
        if previous is None:
            raise PreconditionError("--append-weeks needs an earlier build",
                                    hint="run `salesops features build` first")
        if previous["source"] != "synthetic" or previous["params"].get("realism",
                                                                       "clean") != "clean":
            raise UsageError("--append-weeks extends clean synthetic data only; "
                             "import the longer CSV files instead")
        dataset, manifest = offline.append_synthetic(workspace, previous, append_weeks,
                                                     shifts or {})
        manifest["policies"] = policies_of(data)
        return (*clean(RawData.of(dataset), data), manifest)
    if shifts:
        raise UsageError("--shift applies to the weeks added by --append-weeks N")
    manifest = {**data_identity(data), "appends": [], "policies": policies_of(data)}
    if data.source == "csv":
        from salesops.data.walmart_csv import read_walmart_csv

        return (*clean(read_walmart_csv(Path(data.path)), data), manifest)
    from salesops.data.synthetic import generate

    dataset = generate(**{k: v for k, v in manifest["params"].items() if k != "realism"})
    if data.realism == "retail":
        from salesops.data.retail import retail_quirks

        return (*clean(retail_quirks(dataset, data.seed), data), manifest)
    return (*clean(RawData.of(dataset), data), manifest)


def data_identity(data: DataSection) -> dict[str, Any]:
    """What names the data a build reads: the CSV folder, or the generator's parameters.
    `pipeline run` compares it (and `data_policies`) with the last build's manifest."""
    if data.source == "csv":
        if data.path is None:
            raise UsageError("--source csv needs --path DIR (or data.path in the config)")
        from salesops.data.walmart_csv import files_digest

        # the files' content too: a retailer adds weeks to the same folder
        return {"source": "csv", "path": str(Path(data.path).absolute()),
                "files": files_digest(Path(data.path))}
    return {"source": "synthetic", "params": {
        "stores": data.stores, "depts": data.depts, "weeks": data.weeks, "seed": data.seed,
        "start_date": data.start_date, "realism": data.realism}}


def _check_long_enough(settings: Settings, report: DataReport) -> None:
    """Refuse, before anything is written, data that training could not use."""
    from salesops.features.schema import data_weeks_needed, weeks_needed_text

    training = settings.training
    needed = data_weeks_needed(training.history_weeks, training.holdout_weeks)
    if report.weeks < needed:
        raise DataError(
            f"the data has {report.weeks} weeks ({report.first_week} … {report.last_week}); "
            f"training needs at least {needed}: "
            f"{weeks_needed_text(training.history_weeks, training.holdout_weeks)}; "
            "nothing was written")


def short_series(series) -> Quirk:
    """The series too short for a feature row (reported, not dropped silently)."""
    from salesops.features.schema import MIN_HISTORY_WEEKS

    short = series[series["weeks"] <= MIN_HISTORY_WEEKS]
    not_forecast = int((short["status"] == "short").sum())
    return Quirk(
        "short_series", len(short), "series",
        f"under {MIN_HISTORY_WEEKS + 1} weeks: not trained on (a row needs "
        f"{MIN_HISTORY_WEEKS} weeks of history); {not_forecast} current ones under "
        f"{MIN_HISTORY_WEEKS} weeks not forecast yet",
        examples=[f"store {row.store} dept {row.dept} ({row.weeks} weeks)"
                  for row in short.head(3).itertuples()])


def dataset_origin(manifest: Mapping[str, Any]) -> str:
    if manifest["source"] == "csv":
        return f"Walmart CSV from {manifest['path']}"
    params = manifest["params"]
    text = f"synthetic, seed {params['seed']}"
    if params.get("realism", "clean") != "clean":
        text += f", {params['realism']} realism"
    if manifest["appends"]:
        added = sum(a["weeks"] for a in manifest["appends"])
        text += f", {added} weeks appended"
    return text


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 3)
