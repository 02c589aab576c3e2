"""Submitting a TrainJob, following it, and reading its state and its first node's logs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from salesops.backends.base import Progress, TrainRecord, TrainRequest
from salesops.backends.kubernetes.apply import apply
from salesops.backends.kubernetes.client import REQUEST_TIMEOUT_S, ClusterBackend, call
from salesops.backends.kubernetes.readiness import condition, trainjob_state
from salesops.backends.kubernetes.resources import Resource
from salesops.backends.kubernetes.trainjob_spec import NODE, new_name, trainjob
from salesops.errors import CheckFailed, PreconditionError
from salesops.polling import poll

TERMINAL = ("Complete", "Failed")


def first_node_selector(name: str) -> str:
    """The pod of node 0: JobSet labels its pods by TrainJob (JobSet) name, replicated job
    and completion index."""
    return (f"jobset.sigs.k8s.io/jobset-name={name},jobset.sigs.k8s.io/replicatedjob-name={NODE},"
            "batch.kubernetes.io/job-completion-index=0")


class TrainJobs(ClusterBackend):
    """The Kubernetes training backend: a run is a Kubeflow TrainJob whose pods
    train and register (`train run`); `submit` returns once it is created."""

    completes_in_submit = False

    def manifests(self, request: TrainRequest) -> list[dict[str, Any]]:
        """The TrainJob a submission would create (a new unique name each call)."""
        return [trainjob(self.settings, new_name(), request.promote_mode)]

    def submit(self, request: TrainRequest, progress: Progress) -> TrainRecord:
        (manifest,) = self.manifests(request)
        apply(self.api, manifest, progress)
        name = manifest["metadata"]["name"]
        progress(f"submitted TrainJob {name} ({self.settings.training.nodes} node(s)) in "
                 f"namespace {self.namespace}")
        return self.status(name)

    def status(self, name: str) -> TrainRecord:
        job = Resource(self.api, "TrainJob", self.namespace).get(name)
        if job is None:
            raise PreconditionError(f"no TrainJob {name!r} in namespace {self.namespace!r}",
                                    hint="`kubectl get trainjobs` lists them")
        state = trainjob_state(job)
        cond = condition(job, state) or {}
        return TrainRecord(
            name=name, namespace=self.namespace, state=state, message=cond.get("message", ""),
            nodes=((job.get("spec") or {}).get("trainer") or {}).get("numNodes"),
            conditions=(job.get("status") or {}).get("conditions") or [],
            jobs=(job.get("status") or {}).get("jobsStatus") or [])

    def wait(self, name: str, progress: Progress, log: Progress) -> TrainRecord:
        """Follow the conditions and the first node's logs until the job ends; a failed
        job raises CheckFailed (exit 1)."""
        last: str | None = None
        streamed = False

        def read() -> TrainRecord:
            nonlocal last
            record = self.status(name)
            if record.state != last:
                progress(f"TrainJob {name}: {record.state}"
                         + (f" ({record.message})" if record.message else ""))
                last = record.state
            return record

        def ended() -> TrainRecord | None:
            nonlocal streamed
            record = read()
            if not streamed and _started(self._first_pod(name)):
                for line in self.logs(name, follow=True):
                    log(line)
                streamed = True
                record = read()  # the container ended: read the conditions again at once
            return record if record.state in TERMINAL else None

        record = poll(ended, None, self.poll_s)
        assert record is not None  # without a deadline, poll returns only an answer
        if record.state == "Failed":
            raise CheckFailed(f"TrainJob {name} failed: {record.message or 'see its logs'}")
        return record

    def logs(self, name: str, follow: bool = False) -> Iterator[str]:
        pod = self._first_pod(name)
        if pod is None:
            raise PreconditionError(f"TrainJob {name!r} has no pod for its first node yet")
        from kubernetes import client

        api = client.CoreV1Api(self.api)
        pod_name = pod["metadata"]["name"]
        response = call("get", "pods/log", self.namespace, lambda: api.read_namespaced_pod_log(
            pod_name, self.namespace, container=NODE, follow=follow, _preload_content=False,
            _request_timeout=None if follow else REQUEST_TIMEOUT_S))
        buffer = b""
        for chunk in response.stream(4096):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield line.decode(errors="replace")
        if buffer:
            yield buffer.decode(errors="replace")

    def _first_pod(self, name: str) -> dict | None:
        """Node 0's pod, when JobSet has created it."""
        pods = Resource(self.api, "Pod", self.namespace).list(first_node_selector(name))
        return pods[0] if pods else None


def _started(pod: dict | None) -> bool:
    """Logs can be read once the container has started (a pending pod answers 400)."""
    return pod is not None and (pod.get("status") or {}).get("phase") in (
        "Running", "Succeeded", "Failed")
