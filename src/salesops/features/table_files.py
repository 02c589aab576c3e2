"""A build's tables written while it engineers them: parquet files in the staged generation,
the offline store's staged tables and the fingerprint, a part at a time, on a thread of
their own.

The build engineers the data a few stores at a time (`data.dataset.store_groups`); each part's
frames are handed here and appended (a row group per part) while the next part is engineered,
and the raw files and the Feast work go on while the last ones are written. pyarrow's
encoding and compression, COPY to a server and the hashing release the GIL, so on two cores
the writing hides behind the engineering instead of following it, and no table is ever whole
in memory: at 100M rows the engineered frames alone would be 13 GB.

The files hold the same rows whatever the parts (a part's rows are whole stores, in order;
a row group per part, of at most `ROW_GROUP_ROWS`), and the fingerprint is the one the whole
frames give. LZ4, dictionaries for all but the float columns (sales features are nearly all
distinct: at 10M rows, Snappy with dictionaries wrote the offline files in 6.5 s and read
them in 3.7; this, 3.3 and 1.4).
"""

from __future__ import annotations

import hashlib
import os
import queue
import tempfile
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow.parquet as pq

    from salesops.data.dataset import SalesDataset
    from salesops.stores.base import OfflineStore
    from salesops.workspace import Generation

#: rows per parquet row group, and per slice of a raw table handed to pyarrow
ROW_GROUP_ROWS = 1 << 20


class TableFiles:
    """Appends frames to the staged generation's files and the offline store's staged tables
    on a writer thread (module docstring). Use as a context manager: leaving it by an
    exception stops the writing (the staged generation is removed with what was written);
    `close` waits for the writing and returns the fingerprint."""

    def __init__(self, generation: Generation, store: OfflineStore,
                 fingerprinted: Collection[str]) -> None:
        self._generation, self._store = generation, store
        self._fingerprinted = set(fingerprinted)
        # each fingerprinted table's row hashes, part after part, in a file of the staged
        # generation: the fingerprint hashes them table by table (`close`)
        self._hashes: dict[str, BinaryIO] = {}
        self._writers: dict[Path, tuple[pq.ParquetWriter, Path]] = {}
        self._staged: set[str] = set()
        self._queue: queue.Queue = queue.Queue(maxsize=1)  # one part waits, one is written
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="write tables", daemon=True)

    def __enter__(self) -> TableFiles:
        self._store.begin_stage()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._thread.is_alive():  # left by an exception: stop, keep nothing
            self._error = self._error or RuntimeError("the build stopped")
            self._queue.put(None)
            self._thread.join()

    def add(self, tables: Mapping[str, pd.DataFrame]) -> None:
        """More rows of the offline tables (the views' and the series table): their files,
        the store's staged tables, the fingerprint of those named so."""
        self._put(("offline", tables))

    def add_raw(self, dataset: SalesDataset) -> None:
        """The cleaned data's tables, as the generation's raw files."""
        from salesops.features.offline import RAW_TABLES

        self._put(("raw", {name: getattr(dataset, name) for name in RAW_TABLES}))

    def close(self) -> str:
        """Wait for everything handed over to be written, close the files, and return the
        fingerprint: a content hash of the fingerprinted tables, training runs' lineage."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._fingerprint()

    def raise_if_failed(self) -> None:
        """The writer's error, if it has failed so far (without waiting for it)."""
        if self._error is not None:
            raise self._error

    def _fingerprint(self) -> str:
        """sha256 over each table's name and its rows' pandas hashes, tables by name: the
        value a build of the whole frames at once computed, so an unchanged data set keeps
        its fingerprint (a champion's lineage tag) whatever the parts."""
        digest = hashlib.sha256()
        for name in sorted(self._hashes):
            digest.update(name.encode())
            with self._hashes[name] as hashes:
                hashes.seek(0)
                while block := hashes.read(1 << 24):
                    digest.update(block)
        self._hashes.clear()
        return digest.hexdigest()[:16]

    def _put(self, item: tuple[str, Mapping[str, pd.DataFrame]]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:  # after a failure, items are taken and dropped
                try:
                    self._write(*item)
                except BaseException as exc:  # noqa: BLE001  (raised in the build's thread)
                    self._error = exc
        try:
            self._close_files(keep=self._error is None)
        except BaseException as exc:  # noqa: BLE001
            self._error = self._error or exc

    def _write(self, kind: str, tables: Mapping[str, pd.DataFrame]) -> None:
        import pandas as pd

        for name, frame in tables.items():
            if kind == "raw":
                for start in range(0, max(len(frame), 1), ROW_GROUP_ROWS):
                    self._append(self._generation.raw / f"{name}.parquet",
                                 frame.iloc[start:start + ROW_GROUP_ROWS])
                continue
            self._append(self._generation.offline_data / f"{name}.parquet", frame)
            self._store.stage(name, frame, append=name in self._staged)
            self._staged.add(name)
            if name in self._fingerprinted:
                if name not in self._hashes:  # unlinked at once: gone with the build
                    self._hashes[name] = tempfile.TemporaryFile(dir=self._generation.root)
                hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
                self._hashes[name].write(memoryview(hashes))

    def _append(self, path: Path, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if path not in self._writers:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            dictionary = [field.name for field in table.schema
                          if not pa.types.is_floating(field.type)]
            writer = pq.ParquetWriter(tmp, table.schema, compression="lz4",
                                      use_dictionary=dictionary, coerce_timestamps="us",
                                      allow_truncated_timestamps=False)
            self._writers[path] = (writer, tmp)
        self._writers[path][0].write_table(table, row_group_size=ROW_GROUP_ROWS)

    def _close_files(self, keep: bool) -> None:
        for path, (writer, tmp) in self._writers.items():
            writer.close()
            if keep:
                os.replace(tmp, path)
        if not keep:
            for hashes in self._hashes.values():
                hashes.close()
