"""`drift`: per-feature drift, the dataset verdict, prediction drift and error on actuals.

The Python API behind `salesops drift`; see `windows` for what is compared with what,
`features` for which features count, `stats` for when a feature has drifted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesops.config import Settings
from salesops.errors import DataError
from salesops.monitoring import stats
from salesops.monitoring.features import MARKDOWN_VALUED, SALES_VALUED, compared_features
from salesops.monitoring.served import actuals_error, prediction_drift, served_predictions
from salesops.monitoring.windows import (
    Windows,
    find_champion,
    level_of,
    load_windows,
    require_features,
)


@dataclass
class FeatureDrift:
    feature: str
    role: str  # verdict | monitored
    compared_as: str  # value | ÷ level (of the series, see `windows`)
    n_reference: int
    n_current: int
    kind: str | None = None
    test: str | None = None
    psi: float | None = None
    pvalue: float | None = None
    drifted: bool = False
    #: ok | drift | few rows (fewer than drift.min_rows: not compared) | moved (not counted):
    #: a monitored feature past the thresholds (see `features`)
    status: str = "ok"


@dataclass
class DriftResult:
    model: dict[str, Any] | None
    reference: dict[str, Any]
    current: dict[str, Any]
    thresholds: dict[str, Any]
    features: list[FeatureDrift]
    drifted_features: list[str]
    drifted_share: float
    dataset_drift: bool
    predictions: dict[str, Any]
    actuals: dict[str, Any]
    drift: bool
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    retrain: dict[str, Any] | None = None
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("samples")
        return data


def run(settings: Settings, reference: tuple = (None, None), current: tuple = (None, None),
        current_since_deploy: bool = True) -> DriftResult:
    """`reference`/`current`: (from, to) dates or None (defaults: see `windows`)."""
    started = time.perf_counter()
    config = settings.drift
    require_features(settings)  # before MLflow, which would create its database
    champion = find_champion(settings)
    windows = load_windows(settings, champion, reference, current)
    _require_rows(windows, config.min_rows)
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    results = [_compare(name, grain, role, windows, settings, samples) for name, grain, role
               in compared_features(champion.features if champion else None)]
    counted = [r for r in results if r.role == "verdict" and r.status != "few rows"]
    if not counted:
        raise DataError(f"too little data for a verdict: no feature has drift.min_rows = "
                        f"{config.min_rows} rows in both windows",
                        hint="widen the windows or lower drift.min_rows")
    drifted = [r.feature for r in counted if r.drifted]
    share = len(drifted) / len(counted)

    served = served_predictions(settings, champion, windows, current, current_since_deploy)
    predictions = prediction_drift(settings, champion, windows, served, samples)
    actuals = actuals_error(settings, champion, windows, served)
    dataset_drift = share >= config.share_threshold
    return DriftResult(
        model=None if champion is None else {"name": champion.name, "version": champion.version,
                                             "run_id": champion.run_id,
                                             "holdout_start": champion.holdout_start.date()},
        reference={"from": windows.reference_range[0], "to": windows.reference_range[1],
                   "rows": int((windows.dept["window"] == "reference").sum()),
                   "season_weeks": windows.season_weeks},
        current={"from": windows.current_range[0], "to": windows.current_range[1],
                 "rows": int((windows.dept["window"] == "current").sum())},
        thresholds=config.model_dump(), features=results, drifted_features=drifted,
        drifted_share=round(share, 4), dataset_drift=dataset_drift, predictions=predictions,
        actuals=actuals,
        drift=dataset_drift or bool(predictions.get("drifted")) or bool(actuals.get("degraded")),
        notes=windows.notes, seconds=round(time.perf_counter() - started, 2), samples=samples)


def _require_rows(windows: Windows, min_rows: int) -> None:
    for name, period in (("reference", windows.reference_range),
                         ("current", windows.current_range)):
        rows = int((windows.dept["window"] == name).sum())
        if rows < min_rows:
            raise DataError(f"too little data for a verdict: the {name} window ({period[0]} … "
                            f"{period[1]}) holds {rows} rows, drift.min_rows is {min_rows}",
                            hint="widen the window or lower drift.min_rows")


def _compare(name: str, grain: str, role: str, windows: Windows, settings: Settings,
             samples: dict) -> FeatureDrift:
    """One feature's comparison; its two samples go to `samples` (for the report's plots)."""
    config = settings.drift
    frame = windows.dept if grain == "dept" else windows.store
    values, compared_as = _values(frame, name, windows)
    ref = values[(frame["window"] == "reference").to_numpy()]
    cur = values[(frame["window"] == "current").to_numpy()]
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    result = FeatureDrift(name, role, compared_as, len(ref), len(cur))
    if min(len(ref), len(cur)) < config.min_rows:
        result.status = "few rows"
        return result
    found = stats.compare(ref, cur)
    result.kind, result.test = found.kind, found.test
    result.psi, result.pvalue = round(found.psi, 4), float(f"{found.pvalue:.4g}")
    moved = found.drifted(config.psi_threshold, config.ks_pvalue)
    result.drifted = moved and role == "verdict"
    result.status = "drift" if result.drifted else "moved (not counted)" if moved else "ok"
    samples[name] = (ref, cur)
    return result


def _values(frame: pd.DataFrame, name: str, windows: Windows) -> tuple[np.ndarray, str]:
    values = frame[name].to_numpy(dtype=np.float64)
    if name in MARKDOWN_VALUED and "markdown_known" in frame:
        values = np.where(frame["markdown_known"].to_numpy() == 1, values, np.nan)
    if name == "markdown_total":
        level = windows.markdown_levels.reindex(frame["store"].astype("int64"))
        return values / level.to_numpy(dtype=np.float64), "÷ level"
    if name not in SALES_VALUED:
        return values, "value"
    return values / level_of(frame, windows), "÷ level"


def retrain(settings: Settings, progress: str, on_step: Callable[[str], None] | None = None,
            on_log: Callable[[str], None] | None = None,
            config: Path | None = None) -> dict[str, Any]:
    """`train submit` with the usual gate, then the new champion deployed where the champion
    is served (see `redeploy`); the parts of both a drift report needs. `on_step` and
    `on_log` receive progress and a TrainJob's log; `config` is the file a local server is
    to read."""
    from salesops.errors import CheckFailed
    from salesops.monitoring.redeploy import deploy_champion
    from salesops.training.submit import submit

    step = on_step or _ignore
    before = _champion_version(settings)
    try:
        summary = submit(settings, "auto", progress, on_step=on_step, on_log=on_log)
    except CheckFailed as exc:
        return {"ran": True, "error": exc.one_line(), "promoted": False}
    if "metrics" in summary:  # trained here: the summary has the gate's decision
        model = next(row for row in summary["metrics"] if row["name"] == "model")
        result = {"ran": True, "version": summary["version"], "promoted": summary["promoted"],
                  "reason": summary["reason"], "wape": model["wape"],
                  "run_id": summary["run_id"]}
    else:  # a TrainJob's final state: its pod decided the gate, the registry says how
        result = trainjob_outcome(summary, before, _champion_version(settings))
    if result["promoted"]:
        result["deploy"] = deploy_champion(settings, str(result["version"]), config, step)
    return result


def trainjob_outcome(summary: dict[str, Any], before: str | None,
                     after: str | None) -> dict[str, Any]:
    """A followed TrainJob's retraining (its final `summary`): promoted when it completed
    and the registry's champion changed from `before` to `after` meanwhile."""
    name, state = summary["name"], summary["state"]
    promoted = state == "Complete" and after is not None and after != before
    champion = f"{'still ' if after == before else ''}{'v' + after if after else 'none'}"
    reason = (f"TrainJob {name} {state}; the gate promoted v{after}" if promoted else
              f"TrainJob {name} {state}; the champion is {champion} (the gate's reasons: "
              "`salesops train logs`, `salesops models list`)")
    return {"ran": True, "trainjob": name, "state": state, "version": after if promoted
            else None, "promoted": promoted, "reason": reason}


def _champion_version(settings: Settings) -> str | None:
    from salesops.training import registry
    from salesops.training.tracking import Tracking

    Tracking.open(settings, read_only=True)
    return registry.champion_version(settings.mlflow.model_name)


def _ignore(line: str) -> None:
    pass
