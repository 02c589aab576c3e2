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


#: container waiting reasons the kubelet does not get out of by itself: a wrong or missing
#: image, a Secret or ConfigMap the pod names that is not there. ErrImagePull is not one: it
#: is the first failed try, and the kubelet retries it until it settles in ImagePullBackOff.
CANNOT_START = frozenset({"ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                          "CreateContainerConfigError", "CreateContainerError"})


def pod_waiting(pod: dict | None) -> tuple[str, str, str] | None:
    """Why a pod's run has not started yet, as (container, reason, message): the first
    container waiting with a reason (init containers first), else the pod's PodScheduled
    condition when it is False (container "" then). A container that cannot start
    (`CANNOT_START`) comes before one that is only on its way."""
    status = (pod or {}).get("status") or {}
    found = []
    for entry in [*(status.get("initContainerStatuses") or []),
                  *(status.get("containerStatuses") or [])]:
        state = (entry.get("state") or {}).get("waiting") or {}
        if state.get("reason"):
            found.append((entry.get("name", "?"), state["reason"], state.get("message") or ""))
    scheduled = condition(pod or {}, "PodScheduled") or {}
    if scheduled.get("status") == "False":
        found.append(("", scheduled.get("reason") or "Unschedulable",
                      scheduled.get("message") or ""))
    stuck = [entry for entry in found if entry[1] in CANNOT_START]
    return next(iter(stuck or found), None)
