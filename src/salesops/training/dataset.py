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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesops.errors import DataError, PreconditionError
from salesops.features.schema import (
    MIN_HISTORY_WEEKS,
    MODEL_FEATURES,
    TARGET,
    TIMESTAMP,
    YEAR_FEATURES,
    YEAR_HISTORY_WEEKS,
)
from salesops.training.inputs import model_inputs
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


def model_features(history_weeks: int) -> list[str]:
    """The feature columns a model trained on rows with `history_weeks` of history uses."""
    if history_weeks >= YEAR_HISTORY_WEEKS:
        return list(MODEL_FEATURES)
    return [f for f in MODEL_FEATURES if f not in YEAR_FEATURES]


@dataclass
class TrainingSet:
    frame: pd.DataFrame  # KEYS + MODEL_FEATURES + TARGET, sorted by week
    holdout_start: pd.Timestamp
    fingerprint: str
    features: list[str]  # what the model reads (see the module docstring)
    feature_service: str = "training_features"
    # from the build manifest, for the run's lineage; builds before issue 12 lack them
    policies: dict[str, Any] = field(default_factory=dict)  # the data.* settings
    data_report: dict[str, Any] | None = None

    @property
    def train(self) -> pd.DataFrame:
        """Every week before the holdout (fitting plus early-stopping validation)."""
        return self.frame[self.frame[TIMESTAMP] < self.holdout_start]

    @property
    def holdout(self) -> pd.DataFrame:
        return self.frame[self.frame[TIMESTAMP] >= self.holdout_start]

    def arrays(self) -> dict[str, np.ndarray]:
        train = self.train
        weeks = np.sort(train[TIMESTAMP].unique())
        fit = (train[TIMESTAMP] < weeks[-VALIDATION_WEEKS]).to_numpy()
        inputs = model_inputs(train, self.features)
        y = train[TARGET].to_numpy(np.float64)
        return {
            "train": inputs.take(fit), "y_train": y[fit],
            "val": inputs.take(~fit), "y_val": y[~fit],
        }


def load_training_set(settings: Settings) -> TrainingSet:
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
    keys = _keys_with_history(_target_keys(settings, workspace), history_weeks)
    if keys.empty:  # before asking Feast for nothing
        raise _no_rows(history_weeks, holdout_weeks)
    with feast_ops.quiet_feast(workspace):
        service = store.get_feature_service("training_features")
        frame = store.get_historical_features(entity_df=keys, features=service).to_df()
    features = model_features(history_weeks)
    frame = frame[KEYS + list(MODEL_FEATURES) + [TARGET]]
    if frame[TIMESTAMP].dt.tz is None:  # the Postgres offline store returns naive UTC
        frame[TIMESTAMP] = frame[TIMESTAMP].dt.tz_localize("UTC")
    frame = frame.sort_values(KEYS, kind="stable").reset_index(drop=True)
    holdout_start = check_training_frame(frame, features, holdout_weeks, history_weeks)
    return TrainingSet(frame=frame, holdout_start=holdout_start,
                       fingerprint=manifest["fingerprint"], features=features,
                       policies=manifest.get("policies") or {},
                       data_report=manifest.get("data_report"))


def check_training_frame(frame: pd.DataFrame, features: list[str], holdout_weeks: int,
                         history_weeks: int) -> pd.Timestamp:
    """Refuse, before the first epoch, a set that training could only fail on after the
    last one; returns the first holdout week.

    Every value the model reads (its `features`) and the target must be finite; other
    columns, such as the baselines' year lags, may be NaN (the metrics skip those rows).
    """
    if frame.empty:
        raise _no_rows(history_weeks, holdout_weeks)
    weeks = np.sort(frame[TIMESTAMP].unique())
    needed = feature_weeks_needed(holdout_weeks)
    if len(weeks) < needed:
        raise DataError(f"training set: {len(weeks)} weeks of training rows; training needs "
                        f"{needed} ({MIN_FIT_WEEKS} to fit on, {VALIDATION_WEEKS} for early "
                        f"stopping, {holdout_weeks} holdout weeks)",
                        hint=f"build at least {data_weeks_needed(history_weeks, holdout_weeks)}"
                             " --weeks or lower training.holdout_weeks")
    hint = "rebuild with `salesops features build`"
    bad = {}
    for column in [*features, TARGET]:
        values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        count = int((~np.isfinite(values)).sum())
        if count:
            bad[column] = count
    if bad:
        (first, count), *others = bad.items()
        also = ", ".join(f"{name}: {n:,}" for name, n in others)
        raise DataError(f"training set: {first} has {count:,} non-finite values of "
                        f"{len(frame):,} rows" + (f" (and {also})" if also else ""), hint=hint)
    holdout_start = pd.Timestamp(weeks[-holdout_weeks])
    in_holdout = frame[TIMESTAMP] >= holdout_start
    # the week count above implies both parts; checked anyway, as the split's contract
    for part, rows in (("holdout", in_holdout), ("training part", ~in_holdout)):
        if not rows.any():
            raise DataError(f"training set: the {part} is empty", hint=hint)
    return holdout_start


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


def _keys_with_history(keys: pd.DataFrame, history_weeks: int) -> pd.DataFrame:
    """The (store, dept, week) keys whose series has `history_weeks` weeks before the week.

    A series' first target row is MIN_HISTORY_WEEKS into its sales (features start there).
    """
    first = keys.groupby(["store", "dept"])[TIMESTAMP].transform("min")
    history = (keys[TIMESTAMP] - first) // pd.Timedelta(weeks=1) + MIN_HISTORY_WEEKS
    return keys[history >= history_weeks].reset_index(drop=True)
