"""The training set: point-in-time correct, from Feast's `training_features` service.

The entity frame is the full (store, dept, week) grid of known weeks (the keys of the
`sales_target` view); Feast joins, for each row, the feature values known at that week.
The split is by time: the last `holdout_weeks` weeks are the holdout, never a random split.

Rows need `training.history_weeks` weeks of history. At the default (8), every week is
trained on, and the year features (lag 52, the 52-week window, the year-on-year ratio) are
left out of the model, because each series' first year lacks them; at 56 or more they are
used and the first year is dropped. The model's feature list records which.

The set is checked before the first epoch (`check_training_frame`): what the model reads
must be finite and the weeks must cover the split (`training.split`), so that a run never
fails after its epochs for a reason its data showed before them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from salesops.errors import DataError, PreconditionError
from salesops.features.schema import (
    MIN_HISTORY_WEEKS,
    MODEL_FEATURES,
    TARGET,
    TIMESTAMP,
    YEAR_FEATURES,
    YEAR_HISTORY_WEEKS,
)
from salesops.stores.point_in_time import Coding
from salesops.training.inputs import ID_COLUMNS, ModelInputs, input_names, model_inputs
from salesops.training.split import (
    MIN_FIT_WEEKS,
    VALIDATION_WEEKS,
    data_weeks_needed,
    feature_weeks_needed,
)
from salesops.workspace import Workspace

if TYPE_CHECKING:  # the config needs pydantic, which a bare GPU box may lack (benchmarks/)
    from salesops.config import Settings

KEYS = ["store", "dept", TIMESTAMP]
#: the set's row order: by week, so that the fitting, early-stopping and holdout rows are
#: three contiguous runs (slices, not copies), then by series
ORDER = [TIMESTAMP, "store", "dept"]
#: rows per batch streamed from the offline store
BATCH_ROWS = 1 << 17
#: keys joined at a time: a larger set is joined a few stores at a time (`key_parts`)
PART_KEYS = 1 << 24
#: the entity column that carries each key's place in the set through the join
ROW = "training_row"
REBUILD = "rebuild with `salesops features build`"


def model_features(history_weeks: int) -> list[str]:
    """The feature columns a model trained on rows with `history_weeks` of history uses."""
    if history_weeks >= YEAR_HISTORY_WEEKS:
        return list(MODEL_FEATURES)
    return [f for f in MODEL_FEATURES if f not in YEAR_FEATURES]


@dataclass
class TrainingSet:
    """The rows before the holdout as the network's inputs (never a frame of every feature
    column: at 10M rows that alone is 3 GB), the holdout as a frame (the metrics, baselines
    and the logged model's input example read its columns)."""

    train_inputs: ModelInputs  # every week before the holdout, in ORDER
    y_train: np.ndarray  # float64, the target of those rows
    train_keys: pd.DataFrame  # KEYS of those rows
    fit_rows: int  # the first `fit_rows` are fitted on, the rest drive early stopping
    holdout: pd.DataFrame  # KEYS + MODEL_FEATURES + TARGET, in ORDER
    holdout_start: pd.Timestamp
    fingerprint: str
    features: list[str]  # what the model reads (see the module docstring)
    feature_service: str = "training_features"
    # from the build manifest, for the run's lineage; builds before issue 12 lack them
    policies: dict[str, Any] = field(default_factory=dict)  # the data.* settings
    data_report: dict[str, Any] | None = None

    @property
    def train_rows(self) -> int:
        """Rows before the holdout (fitting plus early-stopping validation)."""
        return len(self.y_train)

    @property
    def rows(self) -> int:
        return self.train_rows + len(self.holdout)

    def arrays(self) -> dict[str, Any]:
        fit, val = slice(0, self.fit_rows), slice(self.fit_rows, None)
        return {"train": self.train_inputs.take(fit), "y_train": self.y_train[fit],
                "val": self.train_inputs.take(val), "y_val": self.y_train[val]}

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, holdout_start: pd.Timestamp, fingerprint: str,
                   features: list[str], **lineage: Any) -> TrainingSet:
        """The set of a frame of KEYS + MODEL_FEATURES + TARGET held in memory whole."""
        frame = frame.sort_values(ORDER, kind="stable").reset_index(drop=True)
        train = frame[TIMESTAMP] < holdout_start
        weeks = np.sort(frame.loc[train, TIMESTAMP].unique())
        fit_end = weeks[-VALIDATION_WEEKS] if len(weeks) >= VALIDATION_WEEKS else weeks[0]
        rows = _TrainRows(int(train.sum()), features, Path(tempfile.gettempdir()))
        part = frame[train]
        rows.add({ROW: np.arange(len(part)), **{c: part[c].to_numpy() for c in rows.columns}})
        return cls(*rows.result(frame[train]), fit_rows=int((frame[TIMESTAMP] < fit_end).sum()),
                   holdout=frame[~train].reset_index(drop=True), holdout_start=holdout_start,
                   fingerprint=fingerprint, features=features, **lineage)


def load_training_set(settings: Settings) -> TrainingSet:
    """The point-in-time set of the last build, through Feast's `training_features`.

    Everything that can be checked from the keys (the weeks and the split) is checked before
    the join. The join's rows stream in batches where the store can (the embedded one), in
    any order; each row goes to its place in ORDER (its ROW) as model inputs, so that at no
    point is every feature column of every row held at once.
    """
    from salesops.features import feast_ops
    from salesops.features.offline import read_manifest

    workspace = Workspace(settings.workspace)
    manifest = read_manifest(settings, workspace)
    if manifest is None:
        raise PreconditionError("no features to train on",
                                hint="run `salesops features build` first")
    store = feast_ops.open_store(workspace)
    history_weeks = settings.training.history_weeks
    holdout_weeks = settings.training.holdout_weeks
    keys = ordered_keys(_target_keys(settings, workspace), history_weeks)
    if keys.empty:  # before asking Feast for nothing
        raise _no_rows(history_weeks, holdout_weeks)
    weeks = np.sort(keys[TIMESTAMP].unique())
    holdout_start = _check_weeks(weeks, holdout_weeks, history_weeks)
    features = model_features(history_weeks)
    # each key's place in the set rides along the join (an entity column comes back as it
    # went in): rows are put in place as they arrive, in whatever order the store sends them
    keys[ROW] = np.arange(len(keys))
    train_rows = int((keys[TIMESTAMP] < holdout_start).sum())
    train = _TrainRows(train_rows, features, workspace.root / "scratch")
    checks = _FiniteCheck([*features, TARGET])
    holdout = []
    with feast_ops.quiet_feast(workspace):
        service = store.get_feature_service("training_features")
        for part in key_parts(keys, PART_KEYS):
            job = store.get_historical_features(entity_df=part, features=service)
            del part
            for batch in _batches(job):
                columns = {name: _array(batch.column(name)) for name in (ROW, *train.columns)}
                checks.add(columns)
                in_train = columns[ROW] < train_rows
                if in_train.all():
                    train.add(columns)
                    continue
                train.add({name: values[in_train] for name, values in columns.items()})
                holdout.append(batch.filter(pa.array(~in_train)).to_pandas())
    checks.raise_if_any(len(keys))
    fit_end = weeks[-holdout_weeks - VALIDATION_WEEKS]
    holdout = pd.concat(holdout, ignore_index=True).sort_values(ROW, ignore_index=True)
    if len(holdout) != len(keys) - train_rows:
        raise DataError(f"the offline store returned {len(holdout):,} holdout rows for "
                        f"{len(keys) - train_rows:,} keys",
                        hint=REBUILD)
    return TrainingSet(*train.result(keys.iloc[:train_rows]),
                       fit_rows=int((keys[TIMESTAMP] < fit_end).sum()),
                       holdout=holdout.drop(columns=ROW), holdout_start=holdout_start,
                       fingerprint=manifest["fingerprint"], features=features,
                       policies=manifest.get("policies") or {},
                       data_report=manifest.get("data_report"))


def key_parts(keys: pd.DataFrame, rows: int) -> Iterator[pd.DataFrame]:
    """The keys whole, or, past `rows`, in parts of whole stores (each part's keys in the
    keys' order, ROW riding along): the offline store joins a part's rows from its stores'
    row groups only (the build writes the views in store order), so no part holds more
    than its share of the join's arrays and the views' features."""
    if len(keys) <= rows:
        yield keys
        return
    stores = keys["store"].to_numpy()
    ids, counts = np.unique(stores, return_counts=True)
    ends = np.cumsum(counts)
    first = 0
    while first < len(ids):
        # the last store within `rows` keys of this part's first (one store at least)
        done = ends[first - 1] if first else 0
        last = max(first, int(np.searchsorted(ends, done + rows, "right")) - 1)
        yield keys[(stores >= ids[first]) & (stores <= ids[last])]
        first = last + 1


def _batches(job) -> Iterator[pa.RecordBatch | pa.Table]:
    """The join's rows (ROW, KEYS, MODEL_FEATURES, TARGET) as Arrow, a batch at a time
    where the store can stream them (the embedded and ray ones), else its whole frame."""
    from salesops.stores.asof_offline import AsofRetrievalJob

    columns = [ROW, *KEYS, *MODEL_FEATURES, TARGET]
    if isinstance(job, AsofRetrievalJob):
        for batch in job.to_record_batches(batch_rows=BATCH_ROWS):
            yield batch.select(columns)
        return
    if _own_ray_dataset(job):  # Feast's Ray store: its blocks, not one whole frame
        batches = job.to_ray_dataset().iter_batches(batch_size=BATCH_ROWS, batch_format="pyarrow")
        for batch in batches:
            yield batch.select(columns)
        return
    frame = job.to_df()[columns]
    if frame[TIMESTAMP].dt.tz is None:  # the Postgres offline store returns naive UTC
        frame[TIMESTAMP] = frame[TIMESTAMP].dt.tz_localize("UTC")
    yield pa.Table.from_pandas(frame, preserve_index=False)


def _array(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric column as numpy, nulls as NaN."""
    return column.to_numpy(zero_copy_only=False) if column.null_count == 0 else (
        column.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False))


def _own_ray_dataset(job) -> bool:
    """Whether the job's rows are a Ray dataset already (Feast's Ray store). Every Feast job
    has `to_ray_dataset`; the others' copy their whole result into a new Ray runtime."""
    from feast.infra.offline_stores.offline_store import RetrievalJob

    return type(job).to_ray_dataset is not RetrievalJob.to_ray_dataset


class _TrainRows:
    """The training rows' inputs and target, each batch's rows put at their ROW in arrays
    sized once (a list of batches joined at the end would hold every row twice)."""

    def __init__(self, rows: int, features: list[str], scratch: Path) -> None:
        from salesops.training.row_arrays import RowArrays

        width = len(input_names(features))
        self.features = features
        self.columns = list(dict.fromkeys([*ID_COLUMNS, *features, TARGET]))
        arrays = RowArrays(rows * (4 * width + 8 * 4), scratch)
        self.x = arrays.empty((rows, width), np.float32)
        self.ids = arrays.empty((rows, 2), np.int64)
        self.level = arrays.empty((rows,), np.float64)
        self.y = arrays.empty((rows,), np.float64)
        self.seen = np.zeros(rows, dtype=bool)
        self.added = 0

    def add(self, batch: dict[str, np.ndarray]) -> None:
        """Put a batch's rows (arrays of ROW and `self.columns`) at their places."""
        at = batch[ROW]
        if not len(at):
            return
        inputs = model_inputs(batch, self.features)
        self.added += len(at)
        if at[-1] - at[0] == len(at) - 1 and (at[1:] > at[:-1]).all():
            at = slice(at[0], at[-1] + 1)  # consecutive rows (the embedded store's order)
        self.x[at], self.ids[at], self.level[at] = inputs.x, inputs.ids, inputs.level
        self.y[at] = batch[TARGET]
        self.seen[at] = True

    def result(self, keys: pd.DataFrame) -> tuple[ModelInputs, np.ndarray, pd.DataFrame]:
        missing = int((~self.seen).sum())
        if self.added != len(self.y) - missing:
            raise DataError("the offline store returned a training row twice",
                            hint=REBUILD)
        if missing:
            raise DataError(f"the offline store returned no row for {missing:,} of the "
                            f"{len(self.y):,} training keys",
                            hint=REBUILD)
        return (ModelInputs(self.x, self.ids, self.level), self.y,
                keys[KEYS].reset_index(drop=True))


class _FiniteCheck:
    """Counts, batch by batch, the non-finite values of the columns the model reads."""

    def __init__(self, columns: list[str]) -> None:
        self.bad = dict.fromkeys(columns, 0)

    def add(self, frame: pd.DataFrame | dict[str, np.ndarray]) -> None:
        for column in self.bad:
            values = frame[column]
            values = (values.to_numpy(dtype=np.float64, na_value=np.nan)
                      if isinstance(values, pd.Series) else values.astype(np.float64, copy=False))
            self.bad[column] += int((~np.isfinite(values)).sum())

    def raise_if_any(self, rows: int) -> None:
        bad = {column: count for column, count in self.bad.items() if count}
        if not bad:
            return
        (first, count), *others = bad.items()
        also = ", ".join(f"{name}: {n:,}" for name, n in others)
        raise DataError(f"training set: {first} has {count:,} non-finite values of "
                        f"{rows:,} rows" + (f" (and {also})" if also else ""),
                        hint=REBUILD)


def check_training_frame(frame: pd.DataFrame, features: list[str], holdout_weeks: int,
                         history_weeks: int) -> pd.Timestamp:
    """Refuse, before the first epoch, a set that training could only fail on after the
    last one; returns the first holdout week.

    Every value the model reads (its `features`) and the target must be finite; other
    columns, such as the baselines' year lags, may be NaN (the metrics skip those rows).
    """
    if frame.empty:
        raise _no_rows(history_weeks, holdout_weeks)
    holdout_start = _check_weeks(np.sort(frame[TIMESTAMP].unique()), holdout_weeks,
                                 history_weeks)
    checks = _FiniteCheck([*features, TARGET])
    checks.add(frame)
    checks.raise_if_any(len(frame))
    return holdout_start


def _check_weeks(weeks: np.ndarray, holdout_weeks: int, history_weeks: int) -> pd.Timestamp:
    """The first holdout week, once the weeks are enough for every part of the split."""
    needed = feature_weeks_needed(holdout_weeks)
    if len(weeks) < needed:
        raise DataError(f"training set: {len(weeks)} weeks of training rows; training needs "
                        f"{needed} ({MIN_FIT_WEEKS} to fit on, {VALIDATION_WEEKS} for early "
                        f"stopping, {holdout_weeks} holdout weeks)",
                        hint=f"build at least {data_weeks_needed(history_weeks, holdout_weeks)}"
                             " --weeks or lower training.holdout_weeks")
    # the count implies a training part and a holdout, each of whole weeks
    return pd.Timestamp(weeks[-holdout_weeks])


def _no_rows(history_weeks: int, holdout_weeks: int) -> DataError:
    return DataError(f"training set: no training rows (no series has the "
                     f"training.history_weeks = {history_weeks} weeks of history)",
                     hint=f"build at least {data_weeks_needed(history_weeks, holdout_weeks)} "
                          "--weeks or lower training.history_weeks")


def _target_keys(settings: Settings, workspace: Workspace) -> pd.DataFrame:
    """Every known (store, dept, week), from the offline store's `sales_target` rows."""
    from salesops.stores import offline_store

    keys = offline_store(settings).read_table(workspace, "sales_target", KEYS)
    if keys is None:  # a manifest without its tables: a build was removed by hand
        raise PreconditionError("no features to train on",
                                hint="run `salesops features build` first")
    return keys


def ordered_keys(keys: pd.DataFrame, history_weeks: int) -> pd.DataFrame:
    """The (store, dept, week) keys whose series has `history_weeks` weeks before the week,
    in ORDER. A series' first target row is MIN_HISTORY_WEEKS into its sales (features
    start there).

    Sorted as two stable passes over integer codes (by series, skipped when the keys come
    so, then by week: a radix sort): at 10M keys, 3-4 s where pandas' groupby and
    three-column sort took 5-6."""
    series, radix = _series_codes(keys)
    times = keys[TIMESTAMP].array  # int64 in the column's own unit (parquet's: us)
    week = np.timedelta64(1, "W").astype(f"m8[{times.unit}]").astype(np.int64)
    times = times.asi8
    first = np.full(radix, np.iinfo(np.int64).max)
    np.minimum.at(first, series, times)
    # each array goes once used: at 100M keys every one of them is 0.8 GB
    history = (times - first[series]) // week + MIN_HISTORY_WEEKS
    del first
    rows = np.flatnonzero(history >= history_weeks)
    del history
    by_series = series[rows]
    del series
    if len(rows) > 1 and not (by_series[1:] >= by_series[:-1]).all():
        rows = rows[np.argsort(by_series, kind="stable")]
    del by_series
    week = Coding.of(times[rows])
    narrow = week.codes.astype(np.int16 if week.radix < 1 << 15 else np.int64)
    del week
    rows = rows[np.argsort(narrow, kind="stable")]
    del narrow
    ordered = keys.take(rows)
    ordered.index = pd.RangeIndex(len(ordered))  # not reset_index: a copy of every column
    return ordered


def _series_codes(keys: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Each key's series as an int64 code in (store, dept) order, and the codes' radix."""
    store, dept = Coding.of(keys["store"].to_numpy()), Coding.of(keys["dept"].to_numpy())
    series = store.codes * dept.radix + dept.codes
    radix = store.radix * dept.radix
    if radix > 2 * len(keys):  # ids spread wide (5-digit stores): rank the series there are
        series, uniques = pd.factorize(series, sort=True)
        radix = max(len(uniques), 1)
    return series, radix

