"""What was served: prediction drift, and the model's error once actuals have arrived.

Served predictions are the champion's rows in the prediction log (the profile's, see
`stores.prediction_store`: on a cluster, the server's table every predictor pod writes),
since its deployment (the deployed server's start, when that server runs the champion), one
per (store, dept, week) (a repeated request counts once). They are compared with the champion's own
predictions on the reference rows, both divided by the series' reference level: a model's
forecasts are smoother than actual sales, so comparing them with the actuals would flag
every good model.

Where the feature store now holds actual sales for served weeks, the model's WAPE on them
is set against its holdout WAPE; above `drift.error_ratio` times that, the error degraded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salesops.config import Settings
from salesops.features.schema import TARGET, TIMESTAMP
from salesops.monitoring import stats
from salesops.monitoring.windows import Champion, Windows, level_of
from salesops.stores.prediction_log import INTERVAL_COLUMNS
from salesops.workspace import Workspace


def served_predictions(settings: Settings, champion: Champion | None, windows: Windows,
                       current: tuple, since_deploy: bool = True) -> pd.DataFrame:
    from salesops.stores import prediction_store

    if champion is None:
        return pd.DataFrame(columns=["store", "dept", "week", "prediction"])
    workspace = Workspace(settings.workspace)
    since = None
    record = workspace.read_json(workspace.server_state)
    if since_deploy and record and str(record.get("model_version")) == champion.version:
        since = pd.Timestamp(record["started_at"], unit="s", tz="UTC")
    log = prediction_store(settings).read(since, model=(champion.name, champion.version))
    if current != (None, None):
        start, end = (pd.Timestamp(windows.current_range[0], tz="UTC"),
                      pd.Timestamp(windows.current_range[1], tz="UTC"))
        log = log[(log["week"] >= start) & (log["week"] <= end)]
    log = log.drop_duplicates(["store", "dept", "week"], keep="last")
    interval = [c for c in INTERVAL_COLUMNS if c in log.columns]
    return log[["store", "dept", "week", "prediction", *interval]].reset_index(drop=True)


def prediction_drift(settings: Settings, champion: Champion | None, windows: Windows,
                     served: pd.DataFrame, samples: dict) -> dict[str, Any]:
    minimum = settings.drift.min_rows
    out: dict[str, Any] = {"served": len(served), "drifted": False}
    if len(served) < minimum:
        out["status"] = (f"not compared: {len(served)} served predictions since the champion's "
                         f"deployment, fewer than drift.min_rows = {minimum}")
        return out
    reference = _reference_rows(champion, windows)
    if len(reference) < minimum:
        out["status"] = f"not compared: {len(reference)} reference rows to score"
        return out
    ref = _champion_predictions(champion, reference) / level_of(reference, windows)
    cur = served["prediction"].to_numpy(np.float64) / level_of(served, windows)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    found = stats.numeric(ref, cur)
    drifted = found.drifted(settings.drift.psi_threshold, settings.drift.ks_pvalue)
    samples["prediction"] = (ref, cur)
    out.update(drifted=drifted, status="drift" if drifted else "ok", psi=round(found.psi, 4),
               pvalue=float(f"{found.pvalue:.4g}"), n_reference=len(ref), n_current=len(cur),
               compared_as="÷ level")
    return out


def actuals_error(settings: Settings, champion: Champion | None, windows: Windows,
                  served: pd.DataFrame) -> dict[str, Any]:
    actual = served.merge(windows.target.rename(columns={TIMESTAMP: "week"}),
                          on=["store", "dept", "week"], how="inner")
    out: dict[str, Any] = {"rows": len(actual), "degraded": False,
                           "holdout_wape": champion.holdout_wape if champion else None}
    if len(actual) < settings.drift.min_rows:
        out["status"] = (f"not compared: actuals for {len(actual)} served predictions, fewer "
                         f"than drift.min_rows = {settings.drift.min_rows}")
        return out
    y = actual[TARGET].to_numpy(np.float64)
    wape = 100 * float(np.abs(y - actual["prediction"]).sum() / max(np.abs(y).sum(), 1e-9))
    holdout = champion.holdout_wape
    degraded = holdout is not None and wape > holdout * settings.drift.error_ratio
    out.update(wape=round(wape, 3), weeks=sorted({w.date().isoformat() for w in actual["week"]}))
    coverage = _coverage(actual, y, settings.drift.min_rows)
    if coverage is not None:
        # the interval is calibrated to hold 80 %: far fewer actuals in it is a model whose
        # uncertainty no longer fits the world, even where its median still does
        low = coverage < settings.drift.min_coverage
        out.update(coverage=round(coverage, 1), coverage_low=low)
        degraded = degraded or low
    out.update(degraded=degraded, status="degraded" if degraded else "ok")
    return out


def _coverage(actual: pd.DataFrame, y: np.ndarray, min_rows: int = 1) -> float | None:
    """% of arrived actuals inside the served P10-P90 interval; None when fewer than
    `min_rows` were served with one (a model saved before the quantile heads has none)."""
    if not set(INTERVAL_COLUMNS) <= set(actual.columns):
        return None
    low, high = (actual[c].to_numpy(np.float64) for c in INTERVAL_COLUMNS)
    known = np.isfinite(low) & np.isfinite(high)
    if known.sum() < max(1, min_rows):
        return None
    return float(100.0 * np.mean((y[known] >= low[known]) & (y[known] <= high[known])))


def _reference_rows(champion: Champion, windows: Windows) -> pd.DataFrame:
    dept = windows.dept[windows.dept["window"] == "reference"]
    store = windows.store.drop(columns="window")
    frame = dept.drop(columns="window").merge(store, on=["store", TIMESTAMP], how="inner")
    return frame.dropna(subset=champion.features).reset_index(drop=True)


def _champion_predictions(champion: Champion, frame: pd.DataFrame) -> np.ndarray:
    import mlflow

    from salesops.forecasts import point_forecast

    model = mlflow.pyfunc.load_model(f"models:/{champion.name}/{champion.version}")
    return point_forecast(model.predict(frame[["store", "dept", *champion.features]]))
