"""The training set's row arrays: in memory, or, where they would not fit beside the rest of
the work, in a file the kernel pages in and out.

At 100M rows the model inputs alone are 14.5 GB (28 float32 inputs, ids, level, target per
row): more than half of a 24 GB machine, beside the keys and the join's own arrays. Past
`MEMORY_SHARE` of the memory available when the set is built, the arrays are maps of a
file in the workspace (on the data's disk: a temporary directory may be memory itself),
unlinked as soon as it is mapped, so it goes with the process however that ends. Their
pages are the page cache's: written out under pressure instead of the process being
killed, read back as the rows are used.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

#: arrays past this share of the available memory are file-backed
MEMORY_SHARE = 0.4
PREFIX = ".training-rows-"
#: a file of that name older than this is a killed process' (see `_remove_stale`)
STALE_S = 60.0


class RowArrays:
    """Makes the arrays of one training set, deciding once, from their total size, where
    they live."""

    def __init__(self, total_bytes: int, directory: Path) -> None:
        self.directory = directory
        self.in_file = total_bytes > MEMORY_SHARE * available_memory()
        if self.in_file:
            _remove_stale(directory)

    def empty(self, shape: tuple[int, ...], dtype: type | str) -> np.ndarray:
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if not self.in_file or not size:
            return np.empty(shape, dtype=dtype)
        self.directory.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=self.directory, prefix=PREFIX)
        try:
            os.ftruncate(descriptor, size)  # sparse: blocks are taken as rows are written
            return np.memmap(name, dtype=dtype, mode="r+", shape=shape)
        finally:
            os.close(descriptor)
            os.unlink(name)  # the map holds the file; nothing is left behind


def _remove_stale(directory: Path) -> None:
    """Files a process killed between creating and unlinking its file left (a sparse file
    of the set's size: GBs): any older than a minute (a live one is unlinked at once)."""
    import time

    for path in directory.glob(f"{PREFIX}*"):
        try:
            if time.time() - path.stat().st_mtime > STALE_S:
                path.unlink()
        except OSError:
            pass  # another build removed it first


def available_memory() -> int:
    """Bytes the kernel can give without swapping (Linux's MemAvailable), else the free
    physical memory."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
