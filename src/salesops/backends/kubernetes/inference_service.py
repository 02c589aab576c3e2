"""Deploying the InferenceService, waiting until Ready, its status, canary traffic, removal:
the Kubernetes serving backend. The cluster is connected on first use, so that `manifests`
(`--dry-run`) needs none."""

from __future__ import annotations

from typing import Any

from salesops.backends.base import DeployRequest, Progress
from salesops.backends.kubernetes import names
from salesops.backends.kubernetes.apply import apply, delete
from salesops.backends.kubernetes.client import ClusterBackend
from salesops.backends.kubernetes.isvc_spec import (
    MODE_ANNOTATION,
    canary_unsupported,
    inference_service,
    traffic_patch,
)
from salesops.backends.kubernetes.readiness import isvc_ready
from salesops.backends.kubernetes.resources import Resource
from salesops.config import Settings
from salesops.errors import CheckFailed, PreconditionError, UsageError
from salesops.polling import poll



class InferenceServices(ClusterBackend):
    @property
    def resource(self) -> Resource:
        return Resource(self.api, "InferenceService", self.namespace)

    def manifests(self, request: DeployRequest) -> list[dict[str, Any]]:
        """What `deploy` would apply (`--dry-run`)."""
        if request.canary is not None:
            check_canary(self.settings, request.canary)
        return [inference_service(self.settings, request.version, request.alias,
                                  request.canary)]

    def deploy(self, request: DeployRequest, progress: Progress) -> dict:
        canary = request.canary
        manifest = inference_service(self.settings, request.version, request.alias, canary)
        if canary is not None:
            check_canary(self.settings, canary)
            if self.resource.get(names.INFERENCE_SERVICE) is None:
                raise PreconditionError("no InferenceService to put a canary beside",
                                        hint="deploy once without --canary first")
        state, live = apply(self.api, manifest, progress)
        if canary is None and (live.get("spec") or {}).get("predictor", {}).get(
                "canaryTrafficPercent") is not None:
            # a plain deploy ends a canary split (null removes the field in a merge patch)
            self.resource.patch(names.INFERENCE_SERVICE, traffic_patch(None))
        progress(f"InferenceService {names.INFERENCE_SERVICE}: {state}"
                 + (f", canary at {canary} %" if canary is not None else ""))
        return self.wait_ready(progress) if request.wait else self.status()

    def wait_ready(self, progress: Progress) -> dict:
        timeout_s = self.settings.kubernetes.ready_timeout_s
        seen = {"detail": None}

        def ready() -> dict | None:
            obj = self._read()
            is_ready, detail = isvc_ready(obj)
            if is_ready and _observed(obj):
                return describe(obj)
            if detail != seen["detail"]:
                progress(f"waiting for InferenceService {names.INFERENCE_SERVICE} ({detail})")
                seen["detail"] = detail
            return None

        record = poll(ready, timeout_s, self.poll_s)
        if record is None:
            raise CheckFailed(f"InferenceService {names.INFERENCE_SERVICE} not ready after "
                              f"{timeout_s:g} s (kubernetes.ready_timeout_s): {seen['detail']}")
        progress(f"ready at {record['url']}")
        return record

    def served(self) -> tuple[str, str] | None:
        """None: what the InferenceService serves is the cluster's to say, and `models
        promote` does not contact it."""
        return None

    def status(self) -> dict:
        obj = self.resource.get(names.INFERENCE_SERVICE)
        return describe(obj) if obj is not None else {"name": names.INFERENCE_SERVICE,
                                                      "exists": False, "ready": False}

    def stop(self, progress: Progress) -> dict:
        state = delete(self.api, {"kind": "InferenceService", "metadata": {
            "name": names.INFERENCE_SERVICE, "namespace": self.namespace}}, progress)
        return {"name": names.INFERENCE_SERVICE, "exists": False, "ready": False,
                "stopped": state == "removed"}

    def promote(self, progress: Progress) -> dict:
        return self.move_traffic(True, progress)

    def rollback(self, progress: Progress) -> dict:
        return self.move_traffic(False, progress)

    def move_traffic(self, promote: bool, progress: Progress) -> dict:
        """Promote: all traffic to the canary (latest) revision; rollback: none to it."""
        reason = canary_unsupported(self.settings)
        if reason:
            raise UsageError(f"no canary traffic to move: {reason}")
        obj = self._read()
        if (obj["spec"].get("predictor") or {}).get("canaryTrafficPercent") is None:
            raise PreconditionError("no canary in progress",
                                    hint="`salesops serve deploy --canary PCT` starts one")
        self.resource.patch(names.INFERENCE_SERVICE, traffic_patch(None if promote else 0))
        progress("canary promoted: 100 % to the latest revision" if promote
                 else "canary rolled back: 100 % to the previous revision")
        return describe(self._read())

    def _read(self) -> dict:
        obj = self.resource.get(names.INFERENCE_SERVICE)
        if obj is None:
            raise PreconditionError(f"no InferenceService {names.INFERENCE_SERVICE!r} in "
                                    f"namespace {self.namespace!r}",
                                    hint="run `salesops serve deploy`")
        return obj


def check_canary(settings: Settings, percent: int) -> None:
    if not 0 <= percent <= 100:
        raise UsageError("--canary must be a percentage between 0 and 100")
    reason = canary_unsupported(settings)
    if reason:
        raise UsageError(f"--canary is not available in Standard mode: {reason}")


def describe(obj: dict) -> dict:
    ready, detail = isvc_ready(obj)
    predictor = (obj.get("spec") or {}).get("predictor") or {}
    command = ((predictor.get("containers") or [{}])[0]).get("command") or []
    status = obj.get("status") or {}
    traffic = ((status.get("components") or {}).get("predictor") or {}).get("traffic") or []
    return {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace"),
            "exists": True, "ready": ready, "detail": detail, "url": status.get("url"),
            "deployment_mode": (obj["metadata"].get("annotations") or {}).get(MODE_ANNOTATION),
            "model": " ".join(command[-2:]) if len(command) >= 2 else None,
            "canary_percent": predictor.get("canaryTrafficPercent"),
            "traffic": [{k: t.get(k) for k in ("revisionName", "percent", "tag", "latestRevision")}
                        for t in traffic]}


def _observed(obj: dict) -> bool:
    """Ready for *this* spec, not the previous one."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    generation = obj["metadata"].get("generation")
    return observed is None or generation is None or observed >= generation
