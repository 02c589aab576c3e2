"""Reading a pod's log as lines, and following a batch run (a Job, a TrainJob) to its end:
its state on every change, its pod's log streamed once the container has started, and a
pod that cannot start (a wrong image, a missing Secret) ending the wait at once: a Job counts a
Pending pod as active, a TrainJob is "Running" once JobSet reports, so their states alone
would wait for the Job's deadline (a TrainJob: for ever).

What differs between the kinds is handed in (how to read the run's record, find its pod and
stream its log), so that every `--wait` of a batch run reads the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

from salesops.backends.base import Progress
from salesops.backends.kubernetes.client import REQUEST_TIMEOUT_S, call
from salesops.backends.kubernetes.readiness import CANNOT_START, pod_waiting
from salesops.errors import CheckFailed
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
           poll_s: float, pods: Callable[[], list[dict]] | None = None) -> R:
    """Poll `read()` until the run's state is terminal, saying each new state; the pod's
    log goes to `log` once, as it is written. `what` names the run in messages
    ("Job salesops-features-…"). Until the pod has started, why it waits is said on every
    change, and a container that cannot start raises CheckFailed (exit 1); `pods`: the
    run's other pods, looked at while `pod()` has none."""
    last: str | None = None
    said: str | None = None
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
        elif not streamed:
            say_waiting([current] if current is not None else pods() if pods else [])
        return record if record.state in TERMINAL else None

    def say_waiting(candidates: list[dict]) -> None:
        nonlocal said
        line = waiting_line(what, candidates)
        if line is not None and line != said:
            progress(line)
        said = line

    record = poll(ended, None, poll_s)
    assert record is not None  # without a deadline, poll returns only an answer
    return record


def waiting_line(what: str, candidates: list[dict]) -> str | None:
    """What the first of the pods that wait is waiting for, as a progress line; raises
    CheckFailed when one of them has a container that cannot start."""
    waits = [(pod, why) for pod in candidates if (why := pod_waiting(pod)) is not None]
    for pod, (container, reason, message) in waits:
        if reason in CANNOT_START:
            meta = pod.get("metadata") or {}
            raise CheckFailed(
                f"{what}: container {container} cannot start: {reason}"
                + (f": {message}" if message else ""),
                hint=f"`kubectl -n {meta.get('namespace')} describe pod {meta.get('name')}`")
    if not waits:
        return None
    pod, (container, reason, message) = waits[0]
    who = (f"container {container}" if container
           else f"pod {(pod.get('metadata') or {}).get('name')}")
    return f"{what}: {who}: {reason}" + (f": {message}" if message else "")


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
