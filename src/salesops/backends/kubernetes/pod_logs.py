"""Reading a pod's log as lines, and following a batch run (a Job, a TrainJob) to its end:
its state on every change, its pod's log streamed once the container has started.

What differs between the kinds is handed in (how to read the run's record, find its pod and
stream its log), so that every `--wait` of a batch run reads the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

from salesops.backends.base import Progress
from salesops.backends.kubernetes.client import REQUEST_TIMEOUT_S, call
from salesops.polling import poll

TERMINAL = ("Complete", "Failed")


class Run(Protocol):
    state: str
    message: str


R = TypeVar("R", bound=Run)


def log_lines(api_client, namespace: str, pod_name: str, container: str,
              follow: bool = False) -> Iterator[str]:
    """A container's log, a line at a time as it arrives (`follow`: until it ends)."""
    from kubernetes import client

    api = client.CoreV1Api(api_client)
    response = call("get", "pods/log", namespace, lambda: api.read_namespaced_pod_log(
        pod_name, namespace, container=container, follow=follow, _preload_content=False,
        _request_timeout=None if follow else REQUEST_TIMEOUT_S))
    buffer = b""
    for chunk in response.stream(4096):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")
    if buffer:
        yield buffer.decode(errors="replace")


def started(pod: dict | None) -> bool:
    """Logs can be read once the container has started (a pending pod answers 400)."""
    return pod is not None and (pod.get("status") or {}).get("phase") in (
        "Running", "Succeeded", "Failed")


def follow(what: str, read: Callable[[], R], pod: Callable[[], dict | None],
           stream: Callable[[dict], Iterator[str]], progress: Progress, log: Progress,
           poll_s: float) -> R:
    """Poll `read()` until the run's state is terminal, saying each new state; the pod's
    log goes to `log` once, as it is written. `what` names the run in messages
    ("Job salesops-features-…")."""
    last: str | None = None
    streamed = False

    def look() -> R:
        nonlocal last
        record = read()
        if record.state != last:
            progress(f"{what}: {record.state}" + (f" ({record.message})" if record.message
                                                  else ""))
            last = record.state
        return record

    def ended() -> R | None:
        nonlocal streamed
        record = look()
        current = pod() if not streamed else None
        if not streamed and started(current):
            for line in stream(current):
                log(line)
            streamed = True
            record = look()  # the container ended: read the conditions again at once
        return record if record.state in TERMINAL else None

    record = poll(ended, None, poll_s)
    assert record is not None  # without a deadline, poll returns only an answer
    return record


def failed_container(pod: dict | None, main: str) -> str:
    """The container whose log tells what happened: an init container that failed (the
    main one never started then, and its log cannot be read), else `main`."""
    for container, state in terminated(pod):
        if state.get("exitCode"):
            return container
    return main


def terminated(pod: dict | None) -> list[tuple[str, dict[str, Any]]]:
    """(container, its `terminated` state) for each container of the pod that has ended,
    init containers first."""
    status = (pod or {}).get("status") or {}
    ended = []
    for entry in [*(status.get("initContainerStatuses") or []),
                  *(status.get("containerStatuses") or [])]:
        state = (entry.get("state") or {}).get("terminated")
        if state is not None:
            ended.append((entry.get("name", "?"), state))
    return ended
