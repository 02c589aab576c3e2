"""`predict --input FILE --output FILE`: offline scoring through the served model, vectorized.

A file with every model feature column is scored as it is. A file of entity keys (store,
dept) gets each series' next-week features from the online store first, exactly as the
server would. The output is the input plus `week` (for entity files), `forecast` and
`model_version`, as CSV or parquet by its suffix. In an entity file, a series the server
would refuse (ended, too short, unknown) keeps its row with no forecast and the reason in a
`refused` column: real files list many ended series, and one should not void the rest. A
file of which no row can be forecast is refused as a whole (exit 3).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesops.config import Settings
from salesops.errors import DataError, PreconditionError, UsageError
from salesops.serving.entities import BadRequest
from salesops.serving.scorer import Scorer, resolve_version
from salesops.workspace import Workspace

FORMATS = (".csv", ".parquet")
PROBE_ROWS = 256


def score_file(settings: Settings, source: Path, target: Path, version: str | None = None,
               alias: str | None = None) -> dict[str, Any]:
    for path in (source, target):
        if path.suffix not in FORMATS:
            raise UsageError(f"{path}: use a .csv or .parquet file")
    if not source.is_file():
        raise DataError(f"{source} does not exist")
    frame = pd.read_csv(source) if source.suffix == ".csv" else pd.read_parquet(source)
    if frame.empty:
        raise DataError(f"{source} has no rows")
    scorer = Scorer.load(settings, resolve_version(settings, version, alias))
    started = time.perf_counter()
    served, refused = np.ones(len(frame), dtype=bool), None
    if all(name in frame.columns for name in scorer.columns):
        mode, inputs = "features", scorer.conform(frame)
    elif _entity_columns(frame):
        mode = "entities"
        frame = frame.rename(columns=_entity_columns(frame))
        rows, served, refused = _online_rows(settings, scorer, frame)
        inputs = scorer.frame(rows.stores, rows.depts, rows.features)
        weeks = np.full(len(frame), None, dtype=object)
        weeks[served] = pd.to_datetime(rows.weeks).date
        frame = frame.assign(week=weeks)
    else:
        missing = [name for name in scorer.columns if name not in frame.columns]
        raise DataError(f"{source} needs columns store and dept, or every model input "
                        f"(missing {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''})")
    scorer.enable_fast_path(inputs.head(PROBE_ROWS))
    forecasts = np.full(len(frame), np.nan)
    forecasts[served] = scorer.predict(inputs)
    seconds = time.perf_counter() - started
    frame = frame.assign(forecast=forecasts, model_version=scorer.version)
    if refused is not None:
        frame = frame.assign(refused=refused)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".csv":
        frame.to_csv(target, index=False)
    else:
        frame.to_parquet(target, index=False)
    return {"input": str(source), "output": str(target), "mode": mode, "rows": len(frame),
            "refused": int((~served).sum()),
            "model_name": scorer.name, "model_version": scorer.version,
            "seconds": round(seconds, 3), "rows_per_s": round(len(frame) / max(seconds, 1e-9))}


def _online_rows(settings: Settings, scorer: Scorer, frame: pd.DataFrame):
    from salesops.features.feast_ops import open_store
    from salesops.serving.online import OnlineFeatures

    keys = [_integer_column(frame, name) for name in ("store", "dept")]
    workspace = Workspace(settings.workspace)
    online = OnlineFeatures(open_store(workspace), workspace, scorer.features,
                            settings=settings)
    if online.size == 0:
        raise PreconditionError("the online store holds no feature rows",
                                hint="run `salesops features build` first")
    rows, served, reasons = online.lookup_servable(*keys)
    if not served.any():  # nothing to write: say why, as the server would
        try:
            online.lookup(*keys)
        except BadRequest as exc:
            raise DataError(f"no row of the file can be forecast: {exc}") from None
    return rows, served, reasons


def _entity_columns(frame: pd.DataFrame) -> dict[str, str]:
    """The file's store and dept columns (any case, spaces around), renamed to ours; {}
    without both."""
    found = {str(column).strip().lower(): column for column in frame.columns}
    if "store" not in found or "dept" not in found:
        return {}
    return {found[name]: name for name in ("store", "dept")}


def _integer_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64)
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        raise DataError(f"column {name}: every value must be an integer id")
    return values.astype(np.int64)
