"""The training set: point-in-time correct, from Feast's `training_features` service.

The entity frame is the full (store, dept, week) grid of known weeks (the keys of the
`sales_target` view); Feast joins, for each row, the feature values known at that week.
The split is by time: the last `holdout_weeks` weeks are the holdout, never a random split.

Rows need `training.history_weeks` weeks of history. At the default (8), every week is
trained on, and the year features (lag 52, the 52-week window, the year-on-year ratio) are
left out of the model, because each series' first year lacks them; at 56 or more they are
used and the first year is dropped. The model's feature list records which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
from salesops.workspace import Workspace

if TYPE_CHECKING:  # the config needs pydantic, which a bare GPU box may lack (benchmarks/)
    from salesops.config import Settings

KEYS = ["store", "dept", TIMESTAMP]
#: early stopping watches the last weeks before the holdout, never the holdout itself,
#: so the holdout metrics that the promotion gate reads stay unbiased
VALIDATION_WEEKS = 4


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
    keys = _keys_with_history(_target_keys(settings, workspace), history_weeks)
    with feast_ops.quiet_feast(workspace):
        service = store.get_feature_service("training_features")
        frame = store.get_historical_features(entity_df=keys, features=service).to_df()
    features = model_features(history_weeks)
    frame = frame[KEYS + list(MODEL_FEATURES) + [TARGET]]
    if frame[TIMESTAMP].dt.tz is None:  # the Postgres offline store returns naive UTC
        frame[TIMESTAMP] = frame[TIMESTAMP].dt.tz_localize("UTC")
    frame = frame.sort_values(KEYS, kind="stable").reset_index(drop=True)
    used = frame[features + [TARGET]]
    missing = used.columns[used.isna().any()].tolist()
    if missing:
        raise DataError(f"training set has missing values in {', '.join(missing[:5])}",
                        hint="rebuild with `salesops features build`")
    weeks = np.sort(frame[TIMESTAMP].unique())
    holdout_weeks = settings.training.holdout_weeks
    if len(weeks) < holdout_weeks + VALIDATION_WEEKS + 8:
        raise DataError(f"only {len(weeks)} weeks of features: need the {holdout_weeks} holdout "
                        f"weeks, {VALIDATION_WEEKS} validation weeks and at least 8 to train on",
                        hint="build with more --weeks or lower training.holdout_weeks")
    return TrainingSet(frame=frame, holdout_start=pd.Timestamp(weeks[-holdout_weeks]),
                       fingerprint=manifest["fingerprint"], features=features)


def _target_keys(settings: Settings, workspace: Workspace) -> pd.DataFrame:
    """Every known (store, dept, week), from the offline store's `sales_target` rows."""
    if settings.feature_store.profile == "postgres":
        from salesops.features.postgres import pg_target, read_table

        return read_table(pg_target(settings), "sales_target", KEYS)
    return pd.read_parquet(workspace.offline_data / "sales_target.parquet", columns=KEYS)


def _keys_with_history(keys: pd.DataFrame, history_weeks: int) -> pd.DataFrame:
    """The (store, dept, week) keys whose series has `history_weeks` weeks before the week.

    A series' first target row is MIN_HISTORY_WEEKS into its sales (features start there).
    """
    first = keys.groupby(["store", "dept"])[TIMESTAMP].transform("min")
    history = (keys[TIMESTAMP] - first) // pd.Timedelta(weeks=1) + MIN_HISTORY_WEEKS
    return keys[history >= history_weeks].reset_index(drop=True)
