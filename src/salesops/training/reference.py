"""A gradient-boosted reference beside the model: LightGBM on exactly its rows (opt-in).

`train submit --reference lightgbm` (or `training.reference = "lightgbm"`): once the model
has trained, rank 0 fits LightGBM on the same fitted weeks, inputs and store/dept ids the
network read (the encoded rows every rank shares: standardizing a column changes no tree),
stops it early on the same validation weeks, and scores the holdout. Its row in the holdout
table and its `reference_lightgbm_*` metrics in MLflow say how the model compares with what
wins retail forecasting competitions; the gate does not read it. Its config is fixed here
(benchmarks/lightgbm_reference.py's best on both synthetic data sets, never tuned on a
holdout): Tweedie on the sales, which the network's target floors at 0 as Tweedie needs.

Why an option and not only a benchmark: a practitioner asks the question of their own data,
in the run they would deploy, and MLflow keeps the answer beside the run. LightGBM is the
`reference` extra (scripts/install.sh installs it); without it the option is refused
before any training starts.
"""

from __future__ import annotations

import os

import numpy as np

from salesops.errors import PreconditionError

NAME = "lightgbm"
#: fixed in advance; the same as benchmarks/lightgbm_reference.py's "tweedie" config
PARAMS = {"objective": "tweedie", "tweedie_variance_power": 1.2, "learning_rate": 0.05,
          "num_leaves": 63, "min_data_in_leaf": 50, "feature_fraction": 0.8,
          "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "metric": "l1",
          "verbose": -1, "seed": 0}
ROUNDS, PATIENCE = 3000, 100


def check_available(reference: str) -> None:
    """Refuse `reference` up front when its package is missing (exit 4)."""
    if reference != NAME:
        return
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        raise PreconditionError(
            "training.reference = \"lightgbm\" needs LightGBM, which is not installed",
            hint="pip install 'salesops[reference]' (scripts/install.sh installs it)") from None


def lightgbm_forecasts(train_rows, val_rows, scalers, holdout_x: np.ndarray,
                       holdout_ids: np.ndarray, threads: int | None = None) -> dict:
    """Holdout forecasts of LightGBM fitted on `train_rows`, stopped on `val_rows` (both
    `rows.Rows`); `holdout_x` scaled as they are. Returns forecasts, rounds and seconds."""
    import time

    import lightgbm

    started = time.perf_counter()

    def table(x, ids):
        return np.column_stack([np.asarray(x, np.float32), np.asarray(ids, np.float32)])

    width = train_rows.x.shape[1]
    categorical = [width, width + 1]  # store, dept
    fit = lightgbm.Dataset(table(train_rows.x, train_rows.ids), scalers.decode_y(train_rows.y),
                           categorical_feature=categorical, free_raw_data=True)
    val = lightgbm.Dataset(table(val_rows.x, val_rows.ids), scalers.decode_y(val_rows.y),
                           reference=fit, categorical_feature=categorical)
    params = {**PARAMS, "num_threads": threads or os.cpu_count() or 1}
    booster = lightgbm.train(params, fit, ROUNDS, valid_sets=[val],
                             callbacks=[lightgbm.early_stopping(PATIENCE, verbose=False)])
    forecast = booster.predict(table(holdout_x, holdout_ids), num_iteration=booster.best_iteration)
    return {"forecast": np.clip(forecast, 0.0, None), "rounds": int(booster.best_iteration),
            "seconds": time.perf_counter() - started}
