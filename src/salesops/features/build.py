"""`features build`: load or generate sales, clean, engineer, validate, write, `feast apply`,
materialize.

A build holds the workspace lock and the offline store's build lock (on `postgres`, one
per schema across pods and laptops). Order matters for "a failed step loses nothing": data is
loaded, cleaned by the `data.*` policies (with a report of every quirk met) and checked to be
long enough to train on before anything is written. Then it is engineered and validated a
few stores at a time, each part written into a new generation as the next is engineered
(`features.table_files`), followed by the raw files, the online rows of the week to forecast
and the manifest; one atomic step makes the generation current (see `stores.generation`): a
part that fails validation, a failure or a `kill -9` at any instant leaves the previous build
whole, never a mix. The offline store (`stores`) stages and switches its own tables around
it (on `postgres`, the server's).
"""

from __future__ import annotations

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
from salesops.features.table_files import TableFiles
from salesops.workspace import Workspace, locked

if TYPE_CHECKING:
    from salesops.data.dataset import SalesDataset
    from salesops.workspace import Generation

Progress = Callable[[str], None]
#: sales rows engineered at a time: a part's frames and the engineering's temporaries are
#: a few hundred MB, whatever the data's size
PART_ROWS = 1 << 20


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
    feast: dict[str, str] = {}
    built = _write_generation(settings, workspace, dataset, report, manifest, timings, feast,
                              progress)
    return _result(manifest, report, built, append_weeks, timings, feast)


@dataclass
class Engineered:
    """What a build keeps of its engineered frames once they are written: the week to
    forecast, the series table, the online rows and each view's row count."""

    next_week: Any  # pd.Timestamp
    series: Any  # pd.DataFrame, see `engineering.series_table`
    online_rows: dict[str, Any]  # view -> pd.DataFrame of the week to forecast
    rows: dict[str, int]


def _engineer(dataset: SalesDataset, files: TableFiles, timings: dict[str, float],
              progress: Progress) -> Engineered:
    """Engineer and validate the cleaned data a few stores at a time (`PART_ROWS` sales
    rows), handing each part's frames to `files` to write while the next is engineered.
    Every part is validated; what fails anywhere is raised once all are, in one `DataError`
    (the build stops before anything is switched in)."""
    import pandas as pd

    from salesops.data.dataset import store_groups
    from salesops.features.engineering import WEEK, build_features
    from salesops.features.validation import missing_rows, problems, raise_problems

    weeks = dataset.weeks
    next_week = weeks[-1] + WEEK
    series, online, rows, failed = [], {}, {}, []
    timings["engineer"] = timings["validate"] = 0.0
    for part in store_groups(dataset, PART_ROWS):
        with _timed(timings, "engineer", add=True):
            frames = build_features(part, weeks)
        with _timed(timings, "validate", add=True):
            failed += problems(frames, need_rows=False)
        if not failed:  # after a failure, every part is still checked, none written
            files.add(frames.frames())
        series.append(frames.series)
        for name, frame in frames.online_rows().items():
            online.setdefault(name, []).append(frame)
        for name, frame in frames.frames().items():
            rows[name] = rows.get(name, 0) + len(frame)
        del frames
    raise_problems(failed + missing_rows(rows))
    progress(f"features: {', '.join(f'{k} {v:,}' for k, v in rows.items())} rows"
             " engineered and validated")
    return Engineered(next_week, pd.concat(series, ignore_index=True),
                      {name: pd.concat(parts, ignore_index=True)
                       for name, parts in online.items()}, rows)


def _complete_manifest(manifest: dict[str, Any], built: Engineered, fingerprint: str,
                       report: DataReport) -> None:
    """What a reader of the build needs beyond the data's origin: lineage and the report."""
    manifest["fingerprint"] = fingerprint
    manifest["next_week"] = built.next_week.isoformat()
    manifest["data_report"] = report.to_dict()


def _result(manifest: dict[str, Any], report: DataReport, built: Engineered,
            append_weeks: int, timings: dict[str, float], feast: dict[str, str]) -> BuildResult:
    return BuildResult(
        source=manifest["source"],
        rows=report.rows,
        stores=report.stores,
        depts=report.depts,
        weeks=report.weeks,
        first_week=report.first_week,
        last_week=report.last_week,
        next_week=built.next_week.date().isoformat(),
        appended_weeks=append_weeks,
        feature_rows=built.rows,
        online_entities=len(built.online_rows["dept_weekly"]),
        fingerprint=manifest["fingerprint"],
        data_report=report.to_dict(),
        timings=timings,
        feast=feast,
    )


def _write_generation(settings: Settings, workspace: Workspace, dataset: SalesDataset,
                      report: DataReport, manifest: dict[str, Any], timings: dict[str, float],
                      feast: dict[str, str], progress: Progress) -> Engineered:
    """Engineer the data into a new generation (files, the offline store's staged tables,
    registry, online rows, manifest) and switch to it in one step; a failure or a kill
    before the switch leaves the current generation as it was. The files are written on a
    thread (`features.table_files`) while the data is engineered and Feast works."""
    from salesops.features import changes, offline
    from salesops.features.engineering import SERIES_TABLE, VIEWS
    from salesops.stores import generation, offline_store

    store = offline_store(settings)
    # what `feast apply` would register, and why it must run (None: the registry holds it)
    definitions = changes.definitions_digest(workspace)
    apply_reason = changes.apply_needed(workspace, definitions)
    with generation.staged(workspace) as staged, TableFiles(staged, store, VIEWS) as files:
        built = _engineer(dataset, files, timings, progress)
        report.add(short_series(built.series))
        files.add({SERIES_TABLE: built.series})
        files.add_raw(dataset)
        files.raise_if_failed()  # a write that failed by now: before `feast apply`
        _fill_feast(workspace, staged, built, definitions, apply_reason, timings, feast,
                    progress)
        with _timed(timings, "write"):  # what of the writing the Feast work did not hide
            fingerprint = files.close()
        checkpoint("build.after_files")
        _complete_manifest(manifest, built, fingerprint, report)
        offline.write_manifest(staged, manifest)
        checkpoint("build.before_switch")
        store.switch([*VIEWS, SERIES_TABLE], manifest)
        generation.switch(workspace, staged)
    return built


def _fill_feast(workspace: Workspace, staged: Generation, built: Engineered,
                definitions: str, reason: str | None, timings: dict[str, float],
                feast: dict[str, str], progress: Progress) -> None:
    """`feast apply` when the definitions changed (`reason`, from `changes.apply_needed`
    for `definitions`), then the week to forecast into the staged online store: copied
    forward from the current generation when the rows are the same (`features.changes`),
    else written whole. Feast is opened only for work it must do."""
    from salesops.features import changes, feast_ops
    from salesops.stores import online_class

    rows = built.online_rows
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
    progress(f"kept the week of {built.next_week.date()} for {online:,} series online "
             "(unchanged, copied forward)" if copied else
             f"wrote the week of {built.next_week.date()} for {online:,} series online")


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
def _timed(timings: dict[str, float], name: str, add: bool = False) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start + (timings[name] if add else 0), 3)
