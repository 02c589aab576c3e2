"""Submitting a TrainJob, following it, and reading its state and its first node's logs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from salesops.backends.base import Progress, TrainRecord, TrainRequest
from salesops.backends.kubernetes import pod_logs
from salesops.backends.kubernetes.apply import apply
from salesops.backends.kubernetes.client import ClusterBackend
from salesops.backends.kubernetes.readiness import condition, trainjob_state
from salesops.backends.kubernetes.resources import Resource
from salesops.backends.kubernetes.trainjob_spec import NODE, new_name, trainjob
from salesops.errors import CheckFailed, PreconditionError


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
        record = pod_logs.follow(
            f"TrainJob {name}", lambda: self.status(name), lambda: self._first_pod(name),
            lambda pod: pod_logs.log_lines(self.api, self.namespace, pod["metadata"]["name"],
                                           NODE, follow=True),
            progress, log, self.poll_s,
            pods=lambda: Resource(self.api, "Pod", self.namespace).list(
                f"jobset.sigs.k8s.io/jobset-name={name}"))
        if record.state == "Failed":
            raise CheckFailed(f"TrainJob {name} failed: {record.message or 'see its logs'}")
        return record

    def logs(self, name: str, follow: bool = False) -> Iterator[str]:
        pod = self._first_pod(name)
        if pod is None:
            raise PreconditionError(f"TrainJob {name!r} has no pod for its first node yet")
        return pod_logs.log_lines(self.api, self.namespace, pod["metadata"]["name"], NODE,
                                  follow=follow)

    def _first_pod(self, name: str) -> dict | None:
        """Node 0's pod, when JobSet has created it."""
        pods = Resource(self.api, "Pod", self.namespace).list(first_node_selector(name))
        return pods[0] if pods else None

