"""Fault injection for the tests that kill commands at chosen points (tests/faults/).

`checkpoint(name)` is a no-op unless `SALESOPS_FAULT_KILL` names that point; then the
process sends itself SIGKILL there, exactly as `kill -9` from outside would, but at a
deterministic instant. The points are listed in the fault-injection tests; production
runs never set the variable.
"""

from __future__ import annotations

import os
import signal

ENV = "SALESOPS_FAULT_KILL"


def checkpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
