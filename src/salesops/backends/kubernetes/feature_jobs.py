"""`features build` as a Kubernetes Job: create it, follow it (state and the build's log),
read its state and logs. The Job's pod builds next to the in-cluster Postgres, so a laptop
needs no port-forward."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from salesops.backends.base import BuildRequest, JobRecord, Progress
from salesops.backends.kubernetes import pod_logs
from salesops.backends.kubernetes.apply import apply
from salesops.backends.kubernetes.client import ClusterBackend
from salesops.backends.kubernetes.job_spec import (BUILD, JOB_NAME_LABEL, build_command,
                                                 feature_job, new_name)
from salesops.backends.kubernetes.readiness import condition, job_state
from salesops.backends.kubernetes.resources import Resource
from salesops.errors import CheckFailed, PreconditionError, UsageError


class FeatureJobs(ClusterBackend):
    completes_in_submit = False

    def manifests(self, request: BuildRequest) -> list[dict[str, Any]]:
        """The Job a submission would create (a new unique name each call)."""
        if self.settings.data.source == "csv":
            raise UsageError("a CSV import reads files on this machine, which a Job's pod "
                             "cannot see", hint="build from here with `salesops features "
                             "build --local`, the cluster's Postgres through a port-forward")
        return [feature_job(self.settings, new_name(), request.options)]

    def submit(self, request: BuildRequest, progress: Progress) -> JobRecord:
        (manifest,) = self.manifests(request)
        apply(self.api, manifest, progress)
        name = manifest["metadata"]["name"]
        progress(f"submitted Job {name} ({' '.join(build_command(request.options))}) in "
                 f"namespace {self.namespace}")
        return self.status(name)

    def status(self, name: str) -> JobRecord:
        job = Resource(self.api, "Job", self.namespace).get(name)
        if job is None:
            raise PreconditionError(f"no Job {name!r} in namespace {self.namespace!r}",
                                    hint="`kubectl get jobs` lists them")
        state = job_state(job)
        return JobRecord(name=name, namespace=self.namespace, state=state,
                         message=(condition(job, state) or {}).get("message", ""),
                         conditions=(job.get("status") or {}).get("conditions") or [])

    def wait(self, name: str, progress: Progress, log: Progress) -> JobRecord:
        """Follow the Job and its build's log; a failed Job raises CheckFailed (exit 1) with
        the container's exit code and last log line."""
        record = pod_logs.follow(
            f"Job {name}", lambda: self.status(name), lambda: self._pod(name),
            lambda pod: pod_logs.log_lines(self.api, self.namespace, pod["metadata"]["name"],
                                           pod_logs.failed_container(pod, BUILD), follow=True),
            progress, log, self.poll_s)
        if record.state == "Failed":
            raise CheckFailed(f"Job {name} failed: {self._why(name, record)}")
        return record

    def logs(self, name: str, follow: bool = False) -> Iterator[str]:
        pod = self._pod(name)
        if pod is None:
            raise PreconditionError(f"Job {name!r} has no pod yet")
        return pod_logs.log_lines(self.api, self.namespace, pod["metadata"]["name"],
                                  pod_logs.failed_container(pod, BUILD), follow=follow)

    def _pod(self, name: str) -> dict | None:
        pods = Resource(self.api, "Pod", self.namespace).list(f"{JOB_NAME_LABEL}={name}")
        return pods[-1] if pods else None

    def _why(self, name: str, record: JobRecord) -> str:
        """The failed container's exit code and last log line, else the Job's condition."""
        for container, state in pod_logs.terminated(self._pod(name)):
            code = state.get("exitCode")
            if code:
                last = (state.get("message") or "").strip().splitlines()[-1:]
                return f"container {container} exited {code}" + (f": {last[0]}" if last else "")
        return record.message or "see its logs (`salesops features logs " + name + "`)"
