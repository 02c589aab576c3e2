"""Checks on the engineered frames before anything is written (pandera).

A failure raises `DataError` naming the frame, the columns, the check and the first failing
rows by their keys, so a user can find them; nothing has been written at that point.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa

from salesops.errors import DataError
from salesops.features.engineering import FeatureFrames
from salesops.data.calendar import MAX_OFFSET_WEEKS
from salesops.features.schema import (
    DEPT_FEATURES,
    HOLIDAY_OFFSET_FEATURES,
    MIN_HISTORY_WEEKS,
    STORE_FEATURES,
    TARGET,
    TIMESTAMP,
    YEAR_FEATURES,
)

_KEY = pa.Column("int64", pa.Check.ge(1))
_TS = pa.Column("datetime64[us, UTC]")
_NONNEG = pa.Check.ge(0)


def _float(*checks: pa.Check, nullable: bool = False) -> pa.Column:
    return pa.Column("float64", list(checks), nullable=nullable)


def _int(low: int, high: int) -> pa.Column:
    return pa.Column("int64", pa.Check.in_range(low, high), nullable=False)


def _dept_schema() -> pa.DataFrameSchema:
    columns = {"store": _KEY, "dept": _KEY, TIMESTAMP: _TS}
    for name in DEPT_FEATURES:
        # lags and means may be negative (returns, data.negative_sales = "keep"); spreads not
        nonneg = name.startswith("sales_std_")
        # the year features are null until a series has a year of history
        nullable = name in YEAR_FEATURES
        columns[name] = _float(_NONNEG, nullable=nullable) if nonneg else _float(nullable=nullable)
    columns["sales_zero_share_8"] = _float(pa.Check.in_range(0, 1))
    return pa.DataFrameSchema(columns, strict=True)


def _store_schema() -> pa.DataFrameSchema:
    ranges = {
        "week_of_year": (1, 53), "month": (1, 12), "quarter": (1, 4),
        "is_holiday": (0, 1), "has_markdown": (0, 1), "markdown_known": (0, 1),
        "store_type": (0, 2),
        "weeks_to_holiday": (0, 52), "weeks_since_holiday": (0, 52),
        "store_size": (1, 10_000_000),
        **{name: (-MAX_OFFSET_WEEKS, MAX_OFFSET_WEEKS) for name in HOLIDAY_OFFSET_FEATURES},
    }
    columns = {"store": _KEY, TIMESTAMP: _TS}
    for name in STORE_FEATURES:
        if name in ranges:
            columns[name] = _int(*ranges[name])
        elif name in ("week_sin", "week_cos"):
            columns[name] = _float(pa.Check.in_range(-1, 1))
        elif name in ("fuel_price", "cpi"):
            columns[name] = _float(_NONNEG)
        elif name == "markdown_total":  # corrections can make a week's total negative
            columns[name] = _float()
        elif name == "unemployment":
            columns[name] = _float(pa.Check.in_range(0, 100))
        else:  # temperature (°F)
            columns[name] = _float(pa.Check.in_range(-80, 140))
    return pa.DataFrameSchema(columns, strict=True)


def _target_schema() -> pa.DataFrameSchema:
    # a week of returns is negative (data.negative_sales = "keep"); an unknown week has no row
    columns = {"store": _KEY, "dept": _KEY, TIMESTAMP: _TS, TARGET: _float()}
    return pa.DataFrameSchema(columns, strict=True)


SCHEMAS = {"dept_weekly": _dept_schema, "store_weekly": _store_schema, "sales_target": _target_schema}
#: each frame's key: no two rows may share it (checked over the whole frame, see `_repeated`)
KEYS = {"dept_weekly": ["store", "dept", TIMESTAMP], "store_weekly": ["store", TIMESTAMP],
        "sales_target": ["store", "dept", TIMESTAMP]}
#: rows pandera checks at once: its checks' temporaries are one slice's (a whole 10M-row
#: frame at once took 1.5 GB more, the build's peak)
SLICE_ROWS = 1 << 20


def validate(frames: FeatureFrames) -> None:
    """Validate every frame; raise one `DataError` describing all failing checks."""
    raise_problems(problems(frames))


def problems(frames: FeatureFrames, need_rows: bool = True) -> list[str]:
    """What fails in the frames, one line per check. A build validating a part of the data
    at a time collects every part's, and checks the rows of all parts (`missing_rows`)
    instead of each part's: one part's stores may all be too short."""
    found: list[str] = []
    for name, frame in frames.frames().items():
        if frame.empty:
            if need_rows:
                found.append(_no_rows(name))
            continue
        schema, cases = SCHEMAS[name](), []
        for start in range(0, len(frame), SLICE_ROWS):
            try:
                schema.validate(frame.iloc[start:start + SLICE_ROWS], lazy=True)
            except pa.errors.SchemaErrors as exc:
                cases.append(exc.failure_cases)
        if cases:  # a frame-wide failure (a missing column, a dtype) shows once per slice
            found.extend(_describe(name, frame, pd.concat(cases).drop_duplicates()))
        found.extend(_repeated(name, frame, KEYS[name]))
    return found


def missing_rows(rows: Mapping[str, int]) -> list[str]:
    """The views without a row (`rows`: each view's row count over every part)."""
    return [_no_rows(name) for name, count in rows.items() if not count]


def _no_rows(name: str) -> str:
    return f"{name}: no rows (too little history? features need {MIN_HISTORY_WEEKS} weeks)"


def raise_problems(problems: list[str]) -> None:
    if problems:
        shown = "; ".join(problems[:4])
        more = f" (+{len(problems) - 4} more)" if len(problems) > 4 else ""
        raise DataError(f"feature validation failed, nothing written: {shown}{more}")


def _repeated(name: str, frame: pd.DataFrame, keys: list[str]) -> list[str]:
    """The rows whose key an earlier row has. A frame in strictly increasing key order (as
    engineering writes them) has none, which one pass over the keys shows; any other order
    is checked by hashing."""
    if not set(keys) <= set(frame.columns):
        return []  # the schema's strict check names the missing column
    if _strictly_increasing([frame[key] for key in keys]):
        return []
    repeated = np.flatnonzero(frame.duplicated(keys).to_numpy())
    if not len(repeated):
        return []
    where = ", ".join(_row_label(frame, frame.index[i]) for i in repeated[:3])
    return [f"{name}: {len(repeated)} row(s) repeat a key ({', '.join(keys)}): {where}"]


def _strictly_increasing(columns: list[pd.Series]) -> bool:
    """Whether each row's key is greater than the row's before, comparing column by column
    (False for keys that are not numbers or timestamps: those are hashed instead)."""
    if not all(pd.api.types.is_numeric_dtype(c) or pd.api.types.is_datetime64_any_dtype(c)
               for c in columns):
        return False
    increasing, tied = np.zeros(len(columns[0]) - 1, bool), np.ones(len(columns[0]) - 1, bool)
    for column in columns:
        values = column.array.asi8 if pd.api.types.is_datetime64_any_dtype(column) else (
            column.to_numpy())
        increasing |= tied & (values[1:] > values[:-1])
        tied &= values[1:] == values[:-1]
    return bool(increasing.all())


def _describe(name: str, frame: pd.DataFrame, cases: pd.DataFrame) -> list[str]:
    lines = []
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        rows = [int(i) for i in group["index"].dropna().unique()[:3]]
        where = ", ".join(_row_label(frame, i) for i in rows)
        if pd.isna(column):  # a frame-wide check (a missing column): the case names it
            cases_named = ", ".join(str(case) for case in group["failure_case"].unique()[:3])
            lines.append(f"{name}: {check} fails for {cases_named}")
            continue
        count = group["index"].nunique() or len(group)
        lines.append(f"{name}.{column}: {count} row(s) fail {check}" + (f" ({where})" if where else ""))
    return lines


def _row_label(frame: pd.DataFrame, index: int) -> str:
    row = frame.loc[index]
    keys = [f"{k}={row[k]}" for k in ("store", "dept") if k in frame]
    week = pd.Timestamp(row[TIMESTAMP]).date().isoformat()
    return " ".join(keys + [f"week={week}"])
