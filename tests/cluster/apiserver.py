"""The stand-in API server as the simulated cluster uses it: no test-side `auto_ready`
(the controllers in `controllers.py` set every status), batch/v1 Jobs and CronJobs served
(unless tests/backends/kubernetes/apiserver.py already serves them), and small helpers for the controllers."""

from __future__ import annotations

import copy

from tests.backends.kubernetes import apiserver as standin

standin.GROUP_PLURALS.setdefault("batch/v1", {"jobs": "Job", "cronjobs": "CronJob"})


class SimApiServer(standin.ApiServer):
    def __init__(self) -> None:
        super().__init__()
        self.auto_ready = False

    # -- for the controllers ------------------------------------------------------------
    def snapshot(self, plural: str) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(obj) for (p, _, _), obj in self.objects.items() if p == plural]

    def lookup(self, plural: str, namespace: str, name: str) -> dict | None:
        with self.lock:
            obj = self.objects.get((plural, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def update_status(self, plural: str, namespace: str, name: str, status: dict) -> None:
        with self.lock:
            obj = self.objects.get((plural, namespace, name))
            if obj is not None and obj.get("status") != status:
                obj["status"] = status
                self._version += 1
                obj["metadata"]["resourceVersion"] = str(self._version)

    def put(self, obj: dict) -> dict:
        """Create or replace an object as a controller does (pods, Services, Jobs)."""
        meta = obj["metadata"]
        plural = PLURALS[obj["kind"]]
        with self.lock:
            self.objects[(plural, meta.get("namespace", ""), meta["name"])] = self._stamp(obj)
        return obj

    def remove(self, plural: str, namespace: str, name: str) -> None:
        with self.lock:
            self.objects.pop((plural, namespace, name), None)
            self.logs.pop((namespace, name), None)


PLURALS = {kind: plural for kinds in [standin.CORE_PLURALS, *standin.GROUP_PLURALS.values()]
           for plural, kind in kinds.items()}
