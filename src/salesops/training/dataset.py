"""The training set: point-in-time correct, from Feast's `training_features` service.

The entity frame is the full (store, dept, week) grid of known weeks (the keys of the
`sales_target` view); Feast joins, for each row, the feature values known at that week.
The split is by time: the last `holdout_weeks` weeks are the holdout, never a random split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesops.config import Settings
from salesops.errors import DataError, PreconditionError
from salesops.features.schema import MODEL_FEATURES, TARGET, TIMESTAMP
from salesops.workspace import Workspace

KEYS = ["store", "dept", TIMESTAMP]
#: early stopping watches the last weeks before the holdout, never the holdout itself,
#: so the holdout metrics that the promotion gate reads stay unbiased
VALIDATION_WEEKS = 4
#: features in sales units, log-scaled by the model's Scalers
SALES_UNIT_FEATURES = [f for f in MODEL_FEATURES if f.startswith(("sales_lag", "sales_mean",
                                                                  "sales_std"))]


@dataclass
class TrainingSet:
    frame: pd.DataFrame  # KEYS + MODEL_FEATURES + TARGET, sorted by week
    holdout_start: pd.Timestamp
    fingerprint: str
    feature_service: str = "training_features"

    @property
    def features(self) -> list[str]:
        return list(MODEL_FEATURES)

    @property
    def log_columns(self) -> tuple[int, ...]:
        return tuple(self.features.index(f) for f in SALES_UNIT_FEATURES)

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
        fit = train[TIMESTAMP] < weeks[-VALIDATION_WEEKS]
        return {
            "X_train": train.loc[fit, self.features].to_numpy(np.float32),
            "y_train": train.loc[fit, TARGET].to_numpy(np.float64),
            "X_val": train.loc[~fit, self.features].to_numpy(np.float32),
            "y_val": train.loc[~fit, TARGET].to_numpy(np.float64),
            "log_columns": self.log_columns,
        }


def load_training_set(settings: Settings) -> TrainingSet:
    from salesops.features import feast_ops

    workspace = Workspace(settings.workspace)
    manifest = workspace.read_json(workspace.build_manifest)
    if manifest is None:
        raise PreconditionError("no features to train on",
                                hint="run `salesops features build` first")
    store = feast_ops.open_store(workspace)
    keys = pd.read_parquet(workspace.offline_data / "sales_target.parquet", columns=KEYS)
    with feast_ops.quiet_feast(workspace):
        service = store.get_feature_service("training_features")
        frame = store.get_historical_features(entity_df=keys, features=service).to_df()
    frame = frame[KEYS + list(MODEL_FEATURES) + [TARGET]]
    frame = frame.sort_values(KEYS, kind="stable").reset_index(drop=True)
    missing = frame.columns[frame.isna().any()].tolist()
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
                       fingerprint=manifest["fingerprint"])
