"""Checks on the engineered frames before anything is written (pandera).

A failure raises `DataError` naming the frame, the columns, the check and the first failing
rows by their keys, so a user can find them; nothing has been written at that point.
"""

from __future__ import annotations

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
    return pa.DataFrameSchema(columns, strict=True, unique=["store", "dept", TIMESTAMP])


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
    return pa.DataFrameSchema(columns, strict=True, unique=["store", TIMESTAMP])


def _target_schema() -> pa.DataFrameSchema:
    # a week of returns is negative (data.negative_sales = "keep"); an unknown week has no row
    columns = {"store": _KEY, "dept": _KEY, TIMESTAMP: _TS, TARGET: _float()}
    return pa.DataFrameSchema(columns, strict=True, unique=["store", "dept", TIMESTAMP])


SCHEMAS = {"dept_weekly": _dept_schema, "store_weekly": _store_schema, "sales_target": _target_schema}


def validate(frames: FeatureFrames) -> None:
    """Validate every frame; raise one `DataError` describing all failing checks."""
    problems: list[str] = []
    for name, frame in frames.frames().items():
        if frame.empty:
            problems.append(f"{name}: no rows (too little history? features need "
                            f"{MIN_HISTORY_WEEKS} weeks)")
            continue
        try:
            SCHEMAS[name]().validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            problems.extend(_describe(name, frame, exc.failure_cases))
    if problems:
        shown = "; ".join(problems[:4])
        more = f" (+{len(problems) - 4} more)" if len(problems) > 4 else ""
        raise DataError(f"feature validation failed, nothing written: {shown}{more}")


def _describe(name: str, frame: pd.DataFrame, cases: pd.DataFrame) -> list[str]:
    lines = []
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        rows = [int(i) for i in group["index"].dropna().unique()[:3]]
        where = ", ".join(_row_label(frame, i) for i in rows)
        count = group["index"].nunique() or len(group)
        lines.append(f"{name}.{column}: {count} row(s) fail {check}" + (f" ({where})" if where else ""))
    return lines


def _row_label(frame: pd.DataFrame, index: int) -> str:
    row = frame.loc[index]
    keys = [f"{k}={row[k]}" for k in ("store", "dept") if k in frame]
    week = pd.Timestamp(row[TIMESTAMP]).date().isoformat()
    return " ".join(keys + [f"week={week}"])
