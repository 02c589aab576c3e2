"""`predict --input FILE --output FILE`: offline scoring through the served model, vectorized.

A file with every model feature column is scored as it is. A file of entity keys (store,
dept) gets each series' next-week features from the online store first, exactly as the
server would. The output is the input plus `week` (for entity files), `forecast` and
`model_version`, as CSV or parquet by its suffix. In an entity file, a series the server
would refuse (ended, too short, unknown) keeps its row with no forecast and the reason in a
`refused` column: real files list many ended series, and one should not void the rest. A
file of which no row can be forecast is refused as a whole (exit 3). What kind a file is
comes from its header (`batch_input`), checked before anything heavy is loaded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesops.config import Settings
from salesops.errors import DataError, PreconditionError
from salesops.serving.batch_input import WEEK, InputFile, inspect_input
from salesops.serving.entities import BadRequest
from salesops.serving.scorer import Scorer, resolve_version
from salesops.workspace import Workspace

PROBE_ROWS = 256


def score_file(settings: Settings, source: Path, target: Path, version: str | None = None,
               alias: str | None = None, header: InputFile | None = None) -> dict[str, Any]:
    """Score `source` into `target`; `header`: `inspect_input(source, target)` if already
    done. `seconds` and `rows_per_s` time the scoring itself (online lookup and model);
    `load_seconds` is reading the file and loading the model and the online store."""
    header = header or inspect_input(source, target)
    started = time.perf_counter()
    frame = _read(source).rename(columns=header.renames)
    if frame.empty:
        raise DataError(f"{source} has no rows")
    scorer = Scorer.load(settings, resolve_version(settings, version, alias))
    online = _open_online(settings, scorer) if header.mode == "entities" else None
    loaded = time.perf_counter()
    served, refused = np.ones(len(frame), dtype=bool), None
    if online is None:
        inputs = scorer.conform(frame)
    else:
        rows, served, refused = _lookup(online, frame)
        inputs = scorer.frame(rows.stores, rows.depts, rows.features)
        weeks = np.full(len(frame), None, dtype=object)
        weeks[served] = pd.to_datetime(rows.weeks).date
        if WEEK in frame.columns:
            _check_weeks(source, frame[WEEK], weeks, served)
        frame = frame.assign(week=weeks)
    if len(inputs) > PROBE_ROWS:  # the probe runs pyfunc on PROBE_ROWS: no gain below that
        scorer.enable_fast_path(inputs.head(PROBE_ROWS))
    scored = scorer.predict(inputs)
    columns = {}
    for name, values in scored.columns().items():  # forecast, p10, p50, p90
        columns[name] = np.full(len(frame), np.nan)
        columns[name][served] = values
    seconds = time.perf_counter() - loaded
    frame = frame.assign(**columns, model_version=scorer.version)
    if refused is not None:
        frame = frame.assign(refused=refused)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if target.suffix == ".csv":
            frame.to_csv(target, index=False)
        else:
            frame.to_parquet(target, index=False)
    except OSError as exc:  # a full disk reports no file name: name it
        raise OSError(exc.errno, exc.strerror, str(target)) from exc
    return {"input": str(source), "output": str(target), "mode": header.mode, "rows": len(frame),
            "refused": int((~served).sum()),
            "model_name": scorer.name, "model_version": scorer.version,
            "seconds": round(seconds, 4), "load_seconds": round(loaded - started, 2),
            "rows_per_s": round(len(frame) / seconds) if seconds > 0 else None}


def _read(source: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(source) if source.suffix == ".csv" else pd.read_parquet(source)
    except ValueError as exc:  # a bad byte past the header, a broken row, a corrupt page
        raise DataError(f"{source} cannot be read: {str(exc).splitlines()[0]}") from None


def _open_online(settings: Settings, scorer: Scorer):
    from salesops.features.feast_ops import open_store
    from salesops.serving.online import OnlineFeatures

    workspace = Workspace(settings.workspace)
    online = OnlineFeatures(open_store(workspace), workspace, scorer.features,
                            settings=settings)
    if online.size == 0:
        raise PreconditionError("the online store holds no feature rows",
                                hint="run `salesops features build` first")
    return online


def _lookup(online, frame: pd.DataFrame):
    keys = [_integer_column(frame, name) for name in ("store", "dept")]
    rows, served, reasons = online.lookup_servable(*keys)
    if not served.any():  # nothing to write: say why, as the server would
        try:
            online.lookup(*keys)
        except BadRequest as exc:
            raise DataError(f"no row of the file can be forecast: {exc}") from None
    return rows, served, reasons


def _check_weeks(source: Path, asked: pd.Series, weeks: np.ndarray, served: np.ndarray) -> None:
    """Rows that name a week must name the one forecast: a row asking for another week would
    otherwise get next week's forecast under its own label, or have its week overwritten."""
    dates = pd.to_datetime(asked, errors="coerce", utc=True).dt.date.to_numpy(dtype=object)
    named = served & asked.notna().to_numpy()
    wrong = np.flatnonzero(named & (dates != weeks))
    if len(wrong):
        row = wrong[0]
        raise DataError(f"{source}: {len(wrong):,} row(s) ask for a week that is not the one "
                        f"forecast (first: row {row + 1} asks for {asked.iloc[row]!s}, the "
                        f"feature store forecasts {weeks[row]}); only the next week can be "
                        "forecast: leave the week column out or set it to that week")


def _integer_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64)
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        raise DataError(f"column {name}: every value must be an integer id")
    # 2**63 is exact in float64; anything from there on does not fit an int64 id
    too_big = np.flatnonzero(np.abs(values) >= 2.0**63)
    if len(too_big):
        raise DataError(f"column {name}: {frame[name].iloc[too_big[0]]} (row "
                        f"{too_big[0] + 1}) is out of range for an id")
    return values.astype(np.int64)
