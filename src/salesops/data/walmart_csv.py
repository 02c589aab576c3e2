"""Import real data in the Kaggle "Walmart Recruiting - Store Sales Forecasting" layout.

A directory with ``train.csv`` (Store, Dept, Date, Weekly_Sales, IsHoliday),
``features.csv`` (Store, Date, Temperature, Fuel_Price, MarkDown1..MarkDown5, CPI,
Unemployment, IsHoliday) and ``stores.csv`` (Store, Type, Size). Header names match
case-insensitively, ignoring underscores and spaces; dates are ISO (``2010-02-05``); ``NA``
or an empty field is a missing value.

Every problem becomes one :class:`~salesops.errors.DataError` line naming the file, the
column and the first offending line (the header is line 1), never a pandas traceback.
Reading checks only that the files are readable; what to do with returns, missing weeks,
unrecorded markdowns and the like is `salesops.data.cleaning`'s, by the `data.*` policies.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from salesops.data.cleaning import clean
from salesops.data.dataset import COVARIATES, STORE_TYPES, SalesDataset
from salesops.data.raw import RawData
from salesops.data.report import DataReport
from salesops.errors import DataError

if TYPE_CHECKING:
    from salesops.config import DataSection

TRAIN, FEATURES, STORES = "train.csv", "features.csv", "stores.csv"
#: Kaggle header -> contract column, per file.
COLUMNS = {
    TRAIN: {"Store": "store", "Dept": "dept", "Date": "date", "Weekly_Sales": "weekly_sales",
            "IsHoliday": "is_holiday"},
    FEATURES: {"Store": "store", "Date": "date", "Temperature": "temperature",
               "Fuel_Price": "fuel_price", **{f"MarkDown{i}": f"markdown{i}" for i in range(1, 6)},
               "CPI": "cpi", "Unemployment": "unemployment", "IsHoliday": "is_holiday"},
    STORES: {"Store": "store", "Type": "type", "Size": "size"},
}
_HINT = "expected the Kaggle Walmart layout: train.csv, features.csv, stores.csv"
_TRUE, _FALSE = {"true", "t", "1", "yes"}, {"false", "f", "0", "no"}
_WEEK = pd.Timedelta(weeks=1)


def load_walmart_csv(path: Path, policy: DataSection) -> tuple[SalesDataset, DataReport]:
    """Read a Walmart-layout directory and clean it by `policy` (see `salesops.data.cleaning`)."""
    return clean(read_walmart_csv(path), policy)


def read_walmart_csv(path: Path) -> RawData:
    """The three files as they are: checked for readability, not yet cleaned."""
    directory = Path(path)
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "not found"
        raise DataError(f"data directory {what}: {directory}", hint=_HINT)
    for name in (TRAIN, FEATURES, STORES):
        if not (directory / name).is_file():
            raise DataError(f"{name} not found in {directory}", hint=_HINT)
    files = {name: _Csv(directory, name) for name in (STORES, TRAIN, FEATURES)}
    stores = _parse_stores(files[STORES])
    return RawData(sales=_parse_train(files[TRAIN], stores), features=_parse_features(
        files[FEATURES]), stores=stores, line_endings={
        name: csv.line_ending for name, csv in files.items() if csv.line_ending != "LF"})


def files_digest(path: Path) -> dict[str, str | None]:
    """A content hash of each of the three files (None where one is missing)."""
    digests: dict[str, str | None] = {}
    for name in (TRAIN, FEATURES, STORES):
        try:
            with open(Path(path) / name, "rb") as handle:
                digests[name] = hashlib.file_digest(handle, "sha256").hexdigest()[:16]
        except OSError:
            digests[name] = None
    return digests


def write_walmart_csv(raw: RawData, directory: Path, cr_only: tuple[str, ...] = ()) -> Path:
    """Write `raw` as Kaggle's train.csv, features.csv, stores.csv (NA where missing).

    `cr_only` names files to write with old-Mac CR line endings, as some exports have.
    """
    directory.mkdir(parents=True, exist_ok=True)
    flag = {True: "TRUE", False: "FALSE"}
    sales, features = raw.sales, raw.features
    tables = {
        TRAIN: pd.DataFrame(
            {"Store": sales["store"], "Dept": sales["dept"],
             "Date": sales["date"].dt.strftime("%Y-%m-%d"),
             "Weekly_Sales": sales["weekly_sales"], "IsHoliday": sales["is_holiday"].map(flag)}),
        FEATURES: pd.DataFrame(
            {"Store": features["store"], "Date": features["date"].dt.strftime("%Y-%m-%d"),
             **{kaggle: features[ours] for kaggle, ours in COLUMNS[FEATURES].items()
                if ours in COVARIATES},
             "IsHoliday": features["is_holiday"].map(flag)}),
        STORES: raw.stores.rename(columns={v: k for k, v in COLUMNS[STORES].items()}),
    }
    for name, table in tables.items():
        table.to_csv(directory / name, index=False, na_rep="NA",
                     lineterminator="\r" if name in cr_only else "\n")
    return directory


class _Csv:
    """One file read as text, with contract column names and messages that point into it."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        self.line_ending = _line_ending(directory / name)
        try:
            # utf-8-sig: a spreadsheet's byte-order mark would otherwise stick to "Store"
            raw = pd.read_csv(directory / name, dtype=str, skipinitialspace=True,
                              encoding="utf-8-sig", skip_blank_lines=False)
        except pd.errors.EmptyDataError:
            raise DataError(f"{name} is empty", hint=_HINT) from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{name} is not a readable CSV file: {reason}") from None
        except OSError as exc:
            raise DataError(f"cannot read {directory / name}: {exc.strerror or exc}") from None
        found = {_key(column): column for column in raw.columns}
        wanted = COLUMNS[name]
        missing = [column for column in wanted if _key(column) not in found]
        if missing:
            raise DataError(
                f"{name} is missing column(s): {', '.join(missing)}",
                hint=f"found: {', '.join(map(str, raw.columns))}",
            )
        # blank lines are skipped, but counted: messages name the line a user's editor shows
        blank = raw.isna().all(axis=1).to_numpy()
        self.lines = np.flatnonzero(~blank) + 2  # the header is line 1
        raw = raw[~blank].reset_index(drop=True)
        if raw.empty:
            raise DataError(f"{name} has a header but no data rows")
        self.header = {contract: str(found[_key(kaggle)]).strip()
                       for kaggle, contract in wanted.items()}
        self.text = raw[[found[_key(kaggle)] for kaggle in wanted]].set_axis(
            list(wanted.values()), axis=1
        )

    def fail(self, column: str, position: int, problem: str) -> DataError:
        header = self.header[column]
        return DataError(f"{self.name}: column {header}: {problem} "
                         f"(line {self.lines[position]})")

    def numbers(self, column: str, *, required: bool = True, integer: bool = False) -> pd.Series:
        text = self.text[column]
        values = pd.to_numeric(text, errors="coerce")
        bad = (values.isna() & text.notna()) | ~np.isfinite(values.fillna(0))
        if integer:
            bad |= values.notna() & (values != values.round())
        if required:
            bad |= text.isna()
        if bad.any():
            position = int(np.argmax(bad.to_numpy()))
            kind = "an integer" if integer else "a number"
            raise self.fail(column, position, _unreadable(text.iloc[position], kind))
        if column in ("store", "dept") and (values < 1).any():  # ids, as Feast keys them
            position = int(np.argmax((values < 1).to_numpy()))
            raise self.fail(column, position, f"{text.iloc[position]!r} is not an id (ids are "
                            "whole numbers from 1)")
        return values.astype("int64") if integer else values.astype("float64")

    def dates(self) -> pd.Series:
        text = self.text["date"].str.strip()
        values = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
        if values.isna().any():
            position = int(np.argmax(values.isna().to_numpy()))
            raise self.fail("date", position, _unreadable(text.iloc[position], "a YYYY-MM-DD date"))
        return values.astype("datetime64[us, UTC]")

    def flags(self) -> pd.Series:
        text = self.text["is_holiday"].str.strip().str.lower()
        bad = ~text.isin(_TRUE | _FALSE)
        if bad.any():
            position = int(np.argmax(bad.to_numpy()))
            raise self.fail("is_holiday", position,
                            _unreadable(self.text["is_holiday"].iloc[position], "TRUE/FALSE"))
        return text.isin(_TRUE)

    def duplicated(self, frame: pd.DataFrame, keys: list[str]) -> None:
        duplicate = frame.duplicated(keys).to_numpy()
        if duplicate.any():
            position = int(np.argmax(duplicate))
            row = frame.iloc[position]
            where = ", ".join(f"{self.header[k]} {_show(row[k])}" for k in keys)
            raise DataError(f"{self.name}: duplicate row for {where} "
                            f"(line {self.lines[position]})")


def _parse_stores(csv: _Csv) -> pd.DataFrame:
    kind = csv.text["type"].str.strip().str.upper()
    bad = ~kind.isin(STORE_TYPES)
    if bad.any():
        position = int(np.argmax(bad.to_numpy()))
        raise csv.fail("type", position,
                       _unreadable(csv.text["type"].iloc[position], " or ".join(STORE_TYPES)))
    stores = pd.DataFrame(
        {"store": csv.numbers("store", integer=True), "type": kind,
         "size": csv.numbers("size", integer=True)}
    )
    csv.duplicated(stores, ["store"])
    return stores


def _parse_train(csv: _Csv, stores: pd.DataFrame) -> pd.DataFrame:
    sales = pd.DataFrame(
        {"store": csv.numbers("store", integer=True), "dept": csv.numbers("dept", integer=True),
         "date": csv.dates(), "weekly_sales": csv.numbers("weekly_sales"),
         "is_holiday": csv.flags()}
    )
    csv.duplicated(sales, ["store", "dept", "date"])
    unknown = ~sales["store"].isin(stores["store"]).to_numpy()
    if unknown.any():
        position = int(np.argmax(unknown))
        raise csv.fail("store", position, f"Store {sales['store'].iloc[position]} has sales "
                       f"but is not in {STORES}")
    # Weeks must share one weekday, or no weekly grid (gap filling, lags) makes sense.
    offset = (sales["date"] - sales["date"].min()) % _WEEK != pd.Timedelta(0)
    if offset.any():
        position = int(np.argmax(offset.to_numpy()))
        raise csv.fail("date", position, f"{_show(sales['date'].iloc[position])} is not a whole "
                       f"number of weeks after the first week {_show(sales['date'].min())}")
    return sales.sort_values(["store", "dept", "date"], kind="stable", ignore_index=True)


def _parse_features(csv: _Csv) -> pd.DataFrame:
    features = pd.DataFrame({"store": csv.numbers("store", integer=True), "date": csv.dates()})
    for column in COVARIATES:
        features[column] = csv.numbers(column, required=False)
    features["is_holiday"] = csv.flags()
    csv.duplicated(features, ["store", "date"])
    return features  # in file order: cleaning sorts it


def _line_ending(path: Path) -> str:
    """"CRLF", "CR" or "LF", from the file's first line break."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    cr, lf = head.find(b"\r"), head.find(b"\n")
    if cr < 0:
        return "LF"
    if lf == cr + 1:
        return "CRLF"
    return "CR" if lf < 0 or cr < lf else "LF"


def _unreadable(value: object, expected: str) -> str:
    return "missing value" if pd.isna(value) else f"cannot read {value!r} as {expected}"


def _key(column: object) -> str:
    return str(column).strip().lower().replace("_", "").replace(" ", "")


def _show(value: object) -> str:
    return value.date().isoformat() if isinstance(value, pd.Timestamp) else str(value)
