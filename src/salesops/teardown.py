"""Process exit: keep native libraries' shutdown chatter off a finished command's output."""

from __future__ import annotations

import os
import sys


def silence_native_teardown() -> None:
    """DuckDB's bindings (nanobind) print pages of 'leaked instance' reports to stderr while
    the interpreter shuts down; nothing is wrong by then, and our output is complete. Point
    file descriptor 2 at /dev/null for that last phase only."""
    if "duckdb" not in sys.modules:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
