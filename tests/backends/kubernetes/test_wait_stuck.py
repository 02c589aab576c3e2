"""`--wait` on a run whose pod cannot start (reviewer finding on issue 15): a Job counts a
Pending pod as active and a TrainJob is "Running" once JobSet reports, so following only
their states hung on ErrImagePull / ImagePullBackOff / a missing Secret until the Job's
2 h deadline (a TrainJob: for ever). The follower reads the pod's container waiting reasons
and its scheduling condition: a reason that needs someone to change something ends the
wait with exit 1 and one line; a passing one is said once and the wait goes on.

Each stuck pod comes with a watchdog that fails the run after WATCHDOG_S, so that a
follower which ignores the pod ends (with the wrong message) instead of hanging the suite.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from salesops.backends.kubernetes.pod_logs import follow
from salesops.errors import CheckFailed
from salesops.backends.kubernetes.job_spec import BUILD, JOB_NAME_LABEL, WORKSPACE
from salesops.backends.kubernetes.trainjob import first_node_selector
from tests.backends.kubernetes.conftest import later

NS = "salesops"
WATCHDOG_S = 8.0
IMAGE = "ghcr.io/example/salesops:0.1.0"
BACKOFF = f'Back-off pulling image "{IMAGE}"'
WATCHDOG = {"type": "Failed", "status": "True", "reason": "Watchdog",
            "message": "the test's watchdog: the wait never saw the stuck pod"}


def named(apiserver, plural: str) -> list[str]:
    return [name for (p, _, name) in apiserver.objects if p == plural]


def waiting(container: str, reason: str, message: str = "") -> dict:
    """A container status as the kubelet writes it while the container has not started."""
    return {"name": container, "image": IMAGE, "imageID": "", "ready": False,
            "restartCount": 0, "started": False,
            "state": {"waiting": {"reason": reason, **({"message": message} if message else {})}}}


def running(container: str) -> dict:
    return {"name": container, "image": IMAGE, "imageID": "x", "ready": True,
            "restartCount": 0, "started": True,
            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}


def set_pod_status(apiserver, name: str, status: dict) -> None:
    """The kubelet's status update of pod `name` (the stand-in has no helper for it)."""
    with apiserver.lock:
        apiserver.objects[("pods", NS, name)]["status"] = status


def read_twice(apiserver, timeout_s: float = WATCHDOG_S) -> None:
    """Return once the follower has listed pods twice more: it has seen the state set
    before this call (no sleep that a loaded machine could outrun)."""
    def reads() -> int:
        return sum(1 for path in apiserver.verbs("GET") if path.endswith("/pods"))

    start, deadline = reads(), time.monotonic() + timeout_s
    while reads() < start + 2 and time.monotonic() < deadline:
        time.sleep(0.01)


def job_pod(apiserver, status: dict, log: list[str] | None = None) -> str:
    """Play the Job controller: mark the Job active (a Pending pod counts) and add its pod
    in `status`; returns the pod's name."""
    (name,) = named(apiserver, "jobs")
    apiserver.set_status("jobs", NS, name, {"active": 1})
    pod = f"{name}-x7k2p"
    apiserver.add_pod(NS, pod, {JOB_NAME_LABEL: name, "job-name": name}, status["phase"], log,
                      containers=(BUILD,), status={k: v for k, v in status.items()
                                                   if k != "phase"},
                      owner=apiserver.get("jobs", NS, name), init_logs={WORKSPACE: []})
    return pod


def node_pod(apiserver, status: dict, log: list[str] | None = None) -> str:
    """Play Trainer + JobSet: the TrainJob reports its jobs and node 0's pod is `status`."""
    (name,) = named(apiserver, "trainjobs")
    apiserver.set_status("trainjobs", NS, name, {"jobsStatus": [{"name": "node", "active": 1}]})
    pod = f"{name}-node-0-0-abcde"
    labels = dict(part.split("=") for part in first_node_selector(name).split(","))
    apiserver.add_pod(NS, pod, labels, status["phase"], log,
                      status={k: v for k, v in status.items() if k != "phase"})
    return pod


def watchdog(apiserver, plural: str) -> threading.Thread:
    """Fail the run after WATCHDOG_S: a follower that ignores the pod then ends, wrongly."""
    def act():
        time.sleep(WATCHDOG_S)
        for name in named(apiserver, plural):
            with apiserver.lock:
                status = apiserver.objects[(plural, NS, name)].setdefault("status", {})
                status["conditions"] = [WATCHDOG]

    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    return thread


def stuck_job(apiserver, status: dict) -> list[str]:
    pods: list[str] = []
    later(lambda: bool(named(apiserver, "jobs")), lambda: pods.append(job_pod(apiserver, status)))
    watchdog(apiserver, "jobs")
    return pods


def cannot_start(cli, *args: str, prefix: str, pods: list[str], says: str) -> None:
    """`salesops ARGS` ends before the watchdog, exit 1, its last line the run (`prefix`),
    what cannot start (`says`) and how to look at the pod (`pods`: filled while it runs)."""
    start = time.monotonic()
    result = cli(*args)
    took = time.monotonic() - start
    assert result.exit_code == 1, result.stderr
    assert took < WATCHDOG_S, f"took {took:.1f} s"
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {prefix}"), line
    assert line.endswith(f": {says} (`kubectl -n {NS} describe pod {pods[0]}`)"), line


# -- a Job ---------------------------------------------------------------------------------
def test_build_wait_on_an_image_that_cannot_be_pulled_exits_1_at_once(cli, namespace):
    message = f"{BACKOFF}: not found"
    pods = stuck_job(namespace, {"phase": "Pending", "containerStatuses": [
        waiting(BUILD, "ImagePullBackOff", message)]})
    cannot_start(cli, "features", "build", "--wait", prefix="Job salesops-features-",
                 pods=pods, says=f"container build cannot start: ImagePullBackOff: {message}")


def test_build_wait_on_a_missing_secret_in_the_init_container_exits_1(cli, namespace):
    """CreateContainerConfigError (a Secret the pod's env names is not there), in the
    workspace init container: the build container is still PodInitializing."""
    message = 'secret "salesops-postgres" not found'
    pods = stuck_job(namespace, {"phase": "Pending",
                                 "initContainerStatuses": [
                                     waiting(WORKSPACE, "CreateContainerConfigError", message)],
                                 "containerStatuses": [waiting(BUILD, "PodInitializing")]})
    cannot_start(cli, "features", "build", "--wait", prefix="Job salesops-features-",
                 pods=pods,
                 says=f"container {WORKSPACE} cannot start: CreateContainerConfigError: {message}")


def test_build_wait_says_pull_errors_once_and_stops_at_the_back_off(cli, namespace):
    """ErrImagePull is the kubelet's first failed try; it retries, and ImagePullBackOff is
    the state it settles in: the first is progress, the second ends the wait."""
    pods: list[str] = []

    def act():
        pods.append(job_pod(namespace, {"phase": "Pending", "containerStatuses": [
            waiting(BUILD, "ErrImagePull", "rpc error: code = NotFound")]}))
        read_twice(namespace)
        set_pod_status(namespace, pods[0], {"phase": "Pending", "containerStatuses": [
            waiting(BUILD, "ImagePullBackOff", BACKOFF)]})

    later(lambda: bool(named(namespace, "jobs")), act)
    watchdog(namespace, "jobs")
    result = cli("features", "build", "--wait")
    assert result.exit_code == 1, result.stderr
    assert result.stderr.count("container build: ErrImagePull: rpc error: code = NotFound") == 1
    assert result.stderr.strip().splitlines()[-1].endswith(
        f"cannot start: ImagePullBackOff: {BACKOFF} (`kubectl -n {NS} describe pod {pods[0]}`)")


def test_build_wait_goes_on_through_scheduling_and_container_creation(cli, namespace):
    """Passing states are said once each and the Job still runs to its end, its log streamed."""
    unschedulable = "0/3 nodes are available: 3 Insufficient cpu."

    def act():
        pod = job_pod(namespace, {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": unschedulable}]}, log=["data: 65,520 rows read"])
        read_twice(namespace)
        set_pod_status(namespace, pod, {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [waiting(BUILD, "ContainerCreating")]})
        read_twice(namespace)
        set_pod_status(namespace, pod, {"phase": "Running", "containerStatuses": [running(BUILD)]})
        (name,) = named(namespace, "jobs")
        namespace.set_status("jobs", NS, name, {"conditions": [
            {"type": "Complete", "status": "True"}]})

    thread = later(lambda: bool(named(namespace, "jobs")), act)
    result = cli("--json", "features", "build", "--wait")
    thread.join()
    assert result.exit_code == 0, result.stderr
    assert result.json()["state"] == "Complete"
    assert result.stderr.count(f"Unschedulable: {unschedulable}") == 1
    assert result.stderr.count("ContainerCreating") == 1
    assert "data: 65,520 rows read" in result.stderr


# -- a TrainJob ----------------------------------------------------------------------------
def test_train_wait_on_an_invalid_image_exits_1_at_once(cli, namespace):
    message = f'Failed to apply default image tag "{IMAGE}:": invalid reference format'
    pods: list[str] = []
    later(lambda: bool(named(namespace, "trainjobs")), lambda: pods.append(node_pod(
        namespace, {"phase": "Pending", "containerStatuses": [
            waiting("node", "InvalidImageName", message)]})))
    watchdog(namespace, "trainjobs")
    cannot_start(cli, "train", "submit", "--wait", prefix="TrainJob salesops-train-",
                 pods=pods, says=f"container node cannot start: InvalidImageName: {message}")


def test_train_wait_on_an_image_pull_back_off_exits_1(cli, namespace):
    pods: list[str] = []
    later(lambda: bool(named(namespace, "trainjobs")), lambda: pods.append(node_pod(
        namespace, {"phase": "Pending", "containerStatuses": [
            waiting("node", "ImagePullBackOff", BACKOFF)]})))
    watchdog(namespace, "trainjobs")
    cannot_start(cli, "train", "submit", "--nodes", "2", "--wait", prefix="TrainJob salesops-",
                 pods=pods, says=f"container node cannot start: ImagePullBackOff: {BACKOFF}")


# -- the follower, for any kind ------------------------------------------------------------
@dataclass
class Record:
    state: str
    message: str = ""


def test_without_its_pod_the_follower_looks_at_the_runs_other_pods():
    """Node 0's pod not there yet, node 1's stuck: `pods` is what tells."""
    other = {"metadata": {"name": "t-node-0-1-xyz", "namespace": NS},
             "status": {"phase": "Pending", "containerStatuses": [
                 waiting("node", "CreateContainerError", "no command")]}}
    lines: list[str] = []
    with pytest.raises(CheckFailed) as failed:
        follow("TrainJob t", lambda: Record("Running"), lambda: None, lambda pod: iter(()),
               lines.append, lines.append, 0, pods=lambda: [other])
    assert failed.value.one_line() == (
        "TrainJob t: container node cannot start: CreateContainerError: no command "
        f"(`kubectl -n {NS} describe pod t-node-0-1-xyz`)")
    assert lines == ["TrainJob t: Running"]
