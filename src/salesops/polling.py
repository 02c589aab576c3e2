"""The one wait loop: ask a condition every `interval_s` until it answers or time runs out.

Every wait of salesops (a model server becoming ready, a process exiting, Kubernetes
objects becoming Ready, a TrainJob finishing) is this loop; what differs is the condition
and what a timeout means, which stays with the caller: `poll` returns None and the caller
raises the error that names its own setting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(condition: Callable[[], T | None], timeout_s: float | None, interval_s: float,
         *, sleep: Callable[[float], None] = time.sleep) -> T | None:
    """The first answer of `condition` other than None or False; None once `timeout_s`
    has passed without one (None: wait for ever).

    The condition is asked at once, and once more after the deadline has passed, so that a
    short timeout still sees a state reached while it slept. It may raise to end the wait
    early (a server process that died, a job that failed).
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        value = condition()
        if value is not None and value is not False:
            return value
        if deadline is not None and time.monotonic() > deadline:
            return None
        sleep(interval_s)
