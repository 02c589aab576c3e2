"""What "ready" means for each kind, read from an object's status (pure functions)."""

from __future__ import annotations

from typing import Any


def condition(obj: dict, kind: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def is_true(obj: dict, kind: str) -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def workload_state(obj: dict) -> tuple[bool, str]:
    """(ready, detail) for any object `infra up` creates."""
    kind = obj.get("kind")
    status: dict[str, Any] = obj.get("status") or {}
    if kind in ("Deployment", "StatefulSet"):
        want = (obj.get("spec") or {}).get("replicas", 1)
        ready = status.get("readyReplicas") or 0
        return ready >= want, f"{ready}/{want} ready"
    if kind == "PersistentVolumeClaim":
        phase = status.get("phase", "Pending")
        # WaitForFirstConsumer classes bind only when MLflow's pod is scheduled
        return True, phase
    if kind == "Namespace":
        phase = status.get("phase", "Active")
        return phase == "Active", phase
    return True, ""


def trainjob_state(obj: dict) -> str:
    """`Complete`, `Failed`, `Suspended` or `Running` (Trainer v2 condition types)."""
    for kind in ("Complete", "Failed", "Suspended"):
        if is_true(obj, kind):
            return kind
    return "Running" if (obj.get("status") or {}).get("jobsStatus") else "Created"


def isvc_ready(obj: dict) -> tuple[bool, str]:
    if is_true(obj, "Ready"):
        return True, "Ready"
    cond = condition(obj, "Ready") or {}
    reasons = [f"{c.get('type')}: {c.get('reason') or c.get('message') or c.get('status')}"
               for c in (obj.get("status") or {}).get("conditions") or []
               if c.get("status") != "True"]
    return False, "; ".join(reasons) or cond.get("message") or "no status yet"


def job_state(obj: dict) -> str:
    """A batch/v1 Job's `Complete`, `Failed`, `Running` (a pod active) or `Created`. The
    controller sets `SuccessCriteriaMet` / `FailureTarget` first and the terminal condition
    once its pods are gone: only the terminal ones count as the end."""
    for kind in ("Complete", "Failed"):
        if is_true(obj, kind):
            return kind
    return "Running" if (obj.get("status") or {}).get("active") else "Created"
