"""What a `predict --input` file holds, decided from its header alone, before pandas, the model
or the feature store are loaded (they take seconds; a wrong file is refused at once).

A file is one of two kinds:

* entity keys: `store` and `dept` (any case, spaces around), and no model feature; other
  columns (an id, a note) are carried through to the output. Features come from the
  online store, as for the server. A `week` column is optional: each row's week must be
  the one the store forecasts (the next week), else the file is refused, not relabelled.
* feature rows: the keys and every model feature (the year features `sales_lag_52`, ... are
  checked once the model is loaded: only a model trained with `training.history_weeks` >=
  56 reads them).

A file with some features but not all is neither: scoring it as entity keys would ignore its
features, and as feature rows it lacks inputs, so it is refused (exit 3) naming what is
missing. So are an empty file, a header without rows, a binary or non-UTF-8 CSV and a file
that is not parquet.
"""

from __future__ import annotations

import codecs
import csv
import errno
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from salesops.errors import DataError, UsageError
from salesops.features.schema import ENTITY_KEYS, MODEL_FEATURES, YEAR_FEATURES

FORMATS = (".csv", ".parquet")
#: optional in an entity file: the week each row asks for, which must be the one forecast
WEEK = "week"
#: every model reads these (see `training.dataset.model_features`)
CORE_FEATURES = [name for name in MODEL_FEATURES if name not in YEAR_FEATURES]
#: bytes of a CSV read to check that it is text
SNIFF_BYTES = 1 << 16
SHOWN = 8


@dataclass(frozen=True)
class InputFile:
    path: Path
    mode: str  # "entities" or "features"
    #: the file's column -> our name, for the keys and features whose name differs in case
    #: or spaces
    renames: dict[str, str]
    rows: int | None  # known without reading the data (parquet), else None


def inspect_input(source: Path, target: Path) -> InputFile:
    """Check `--input`/`--output` and classify the input from its header; DataError (exit 3)
    or UsageError (exit 2) with one line otherwise."""
    for path in (source, target):
        if path.suffix not in FORMATS:
            raise UsageError(f"{path}: use a .csv or .parquet file")
    if not source.is_file():
        raise DataError(f"{source} does not exist" if not source.exists()
                        else f"{source} is not a file")
    _check_writable(target)
    try:
        if source.stat().st_size == 0:
            raise DataError(f"{source} is empty")
        columns, rows = (_csv_header(source) if source.suffix == ".csv"
                         else _parquet_header(source))
    except PermissionError as exc:
        raise DataError(f"cannot read {source}: {exc.strerror}") from None
    if rows == 0:
        raise DataError(f"{source} has a header but no rows")
    return _classify(source, columns, rows)


def _classify(source: Path, columns: list[str], rows: int | None) -> InputFile:
    by_name: dict[str, str] = {}
    for column in columns:
        name = column.strip().lower()
        if name in by_name and name in (*ENTITY_KEYS, WEEK, *MODEL_FEATURES):
            raise DataError(f"{source}: columns {by_name[name]!r} and {column!r} are both "
                            f"{name}")
        by_name[name] = column
    ours = [*ENTITY_KEYS, WEEK, *MODEL_FEATURES]
    renames = {by_name[name]: name for name in ours if name in by_name and by_name[name] != name}
    if not any(name in by_name for name in MODEL_FEATURES):
        missing = [key for key in ENTITY_KEYS if key not in by_name]
        if missing:
            raise DataError(f"{source} needs the columns store and dept (entity keys), or "
                            f"every model feature; missing {', '.join(missing)} (it has "
                            f"{_names(columns)})")
        return InputFile(source, "entities", renames, rows)
    missing = [name for name in (*ENTITY_KEYS, *CORE_FEATURES) if name not in by_name]
    if missing:
        raise DataError(f"{source} has model features but not all of them: missing "
                        f"{_names(missing)}; give entity keys only (store, dept) or complete "
                        "feature rows")
    return InputFile(source, "features", renames, rows)


def _csv_header(source: Path) -> tuple[list[str], int | None]:
    """The header of a UTF-8 CSV, and 0 when no data row follows it (else None: unknown)."""
    with source.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if b"\0" in head:
        raise DataError(f"{source} is not a CSV text file (it holds binary data)")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError as exc:
        raise DataError(f"{source} is not UTF-8 text (byte 0x{head[exc.start]:02x} at offset "
                        f"{exc.start}); save it as UTF-8 CSV") from None
    with source.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            raise DataError(f"{source} is empty")
        has_row = any(any(cell.strip() for cell in row) for row in reader)
    return header, None if has_row else 0


def _parquet_header(source: Path) -> tuple[list[str], int]:
    import pyarrow.parquet as pq  # the footer only; pyarrow is light next to pandas

    try:
        parquet = pq.ParquetFile(source)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{source} is not a parquet file ({str(exc).splitlines()[0]})") from None
    return list(parquet.schema_arrow.names), parquet.metadata.num_rows


def _check_writable(target: Path) -> None:
    """Fail now, not after the scoring, when the output cannot be written."""
    folder = target.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if target.is_dir():
        raise UsageError(f"--output {target} is a folder; name a .csv or .parquet file")
    if not folder.is_dir():
        raise UsageError(f"--output {target}: {folder} is not a folder")
    if not os.access(target if target.exists() else folder, os.W_OK):
        raise UsageError(f"cannot write {target}: {os.strerror(errno.EACCES)}")
    try:  # a real file: permissions are not all (root, /proc, a read-only mount)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" (+{len(names) - SHOWN} more)" if len(names) > SHOWN else "")
