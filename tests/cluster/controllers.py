"""The controllers' part: turn the stored objects into pods and write back their status the
way the real controllers do, so that salesops' own waiting code sees them progress.

* Deployment, StatefulSet: one pod per object (replicas are not scaled), replaced when the
  spec changes; `readyReplicas` / `availableReplicas` once its readiness probe passes. The
  Postgres StatefulSet (an image named postgres…) has no pod: the Service proxy answers for
  it and it is ready once the machine's server accepts connections.
* InferenceService (KServe Standard mode): the predictor as a pod behind the Service
  `<name>-predictor` (port 80 → the container's port), `status.url` and the Ready
  conditions for the spec's generation; a new spec starts a new pod, the Service switches
  to it when it is ready, then the old one stops.
* Job (batch/v1): one pod run to its end, `succeeded` / `failed` and the conditions
  (no retries: a failure fails the Job at once, loudly). A CronJob runs only when a test
  calls `tick()`, which creates a Job from its jobTemplate as the CronJob controller does.
* TrainJob: see `trainjob.py`.

A pod that exits non-zero is recorded in `failures` with its log, for the test to show.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
import traceback
from datetime import UTC, datetime

from tests.cluster.pod import PodError, suffix
from tests.cluster.trainjob import TrainJobController

POD_FIELDS = {"containers", "volumes", "serviceAccountName", "securityContext", "nodeSelector",
              "tolerations", "affinity", "initContainers", "imagePullSecrets",
              "terminationGracePeriodSeconds", "automountServiceAccountToken"}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Controllers:
    def __init__(self, server, kubelet, services) -> None:
        self.server, self.kubelet, self.services = server, kubelet, services
        self.failures: list[str] = []
        self.owned: dict[tuple[str, str, str], dict] = {}  # (plural, ns, name) -> state
        self.trainjobs = TrainJobController(self)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception:  # a harness bug must show, not hang the test
                self.fail(f"controller error:\n{traceback.format_exc()}")
            time.sleep(0.2)

    def fail(self, message: str) -> None:
        if message not in self.failures:
            self.failures.append(message)

    # -- one pass -------------------------------------------------------------------------
    def reconcile(self) -> None:
        postgres = [s for s in self.server.snapshot("statefulsets") if _is_postgres(s)]
        ready = {name: pod for name, pod in self.kubelet.pods.items() if pod.ready}
        self.services.reconcile(ready, [_template_labels(s) for s in postgres])
        for pod in list(self.kubelet.pods.values()):
            self.observe(pod)
        for plural in ("deployments", "statefulsets"):
            for obj in self.server.snapshot(plural):
                self.guard(obj, self.workload, obj, plural)
        for obj in self.server.snapshot("inferenceservices"):
            self.guard(obj, self.inference_service, obj)
        for obj in self.server.snapshot("jobs"):
            self.guard(obj, self.job, obj)
        for obj in self.server.snapshot("trainjobs"):
            self.guard(obj, self.trainjobs.reconcile, obj)

    def guard(self, obj: dict, fn, *args) -> None:
        try:
            fn(*args)
        except PodError as exc:
            self.fail(f"{obj['kind']}/{obj['metadata']['name']}: CreateContainerConfigError: {exc}")

    def observe(self, pod) -> None:
        """Probe, publish the Pod object's phase, readiness, container states and logs;
        note a failure."""
        code = pod.poll()
        if pod.stopping:
            return
        probe = pod.container.get("readinessProbe")
        main_runs = code is None and pod.running is pod.container
        pod.ready = main_runs and (pod.ready or self.kubelet.probe(pod, probe))
        phase = ("Pending" if code is None and not main_runs else "Running" if code is None
                 else "Succeeded" if code == 0 else "Failed")
        status = {"phase": phase, "podIP": pod.ip, "conditions": [
            {"type": "Ready", "status": "True" if pod.ready else "False"}],
            "initContainerStatuses": [self._state(pod, c) for c in pod.spec.get("initContainers") or []],
            "containerStatuses": [self._state(pod, pod.container)]}
        self.server.update_status("pods", pod.namespace, pod.name, status)
        with self.server.lock:
            for container in pod.steps:
                key = ((pod.namespace, pod.name) if container is pod.container
                       else (pod.namespace, pod.name, container["name"]))
                self.server.logs[key] = pod.log(container["name"]).splitlines()
        if code not in (None, 0):
            failed = pod.running["name"]
            self.fail(f"pod {pod.name} container {failed} exited {code}; its log ends:\n"
                      f"{_tail(pod.log(failed))}")

    @classmethod
    def _state(cls, pod, container: dict) -> dict:
        """A containerStatus with the fields the API server always sets."""
        image = container.get("image", "")
        return {"image": image, "imageID": f"{image}@sha256:{'0' * 64}", "restartCount": 0,
                "started": pod.running is container, **cls._run_state(pod, container)}

    @staticmethod
    def _run_state(pod, container: dict) -> dict:
        name = container["name"]
        if name in pod.exits:
            code = pod.exits[name]
            terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}
            if code and container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
                terminated["message"] = "\n".join(pod.log(name).splitlines()[-80:])[-2048:]
            return {"name": name, "ready": False, "state": {"terminated": terminated}}
        if pod.running is container and pod.exit_code is None:
            return {"name": name, "ready": pod.ready, "state": {"running": {"startedAt": now()}}}
        return {"name": name, "ready": False, "state": {"waiting": {"reason": "PodInitializing"}}}

    def run_pod(self, name: str, namespace: str, labels: dict, spec: dict, **kwargs):
        self.server.put({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": namespace, "labels": labels}, "spec": spec,
            "status": {"phase": "Pending"}})
        return self.kubelet.start(name, namespace, labels, spec, **kwargs)

    def stop_pod(self, pod, remove: bool = True) -> None:
        pod.stopping = True
        pod.stop()
        if remove:
            self.server.remove("pods", pod.namespace, pod.name)

    # -- Deployment / StatefulSet ---------------------------------------------------------
    def workload(self, obj: dict, plural: str) -> None:
        meta, spec = obj["metadata"], obj["spec"]
        key = (plural, meta["namespace"], meta["name"])
        generation = meta.get("generation", 1)
        state = self.owned.setdefault(key, {"pods": [], "generation": None})
        if _is_postgres(obj):
            ready = _accepts(("127.0.0.1", 5432))
            if state["generation"] is None:
                self.server.put({"apiVersion": "v1", "kind": "Pod", "metadata": {
                    "name": f"{meta['name']}-0", "namespace": meta["namespace"],
                    "labels": _template_labels(obj)}, "spec": spec["template"]["spec"],
                    "status": {"phase": "Running"}})
                state["generation"] = generation
            self._workload_status(plural, meta, generation, 1 if ready else 0)
            return
        if state["generation"] != generation:
            state["generation"] = generation
            template = spec["template"]
            pod_name = (f"{meta['name']}-0" if plural == "statefulsets"
                        else f"{meta['name']}-{suffix()}-{suffix()}")
            if plural == "statefulsets" or (spec.get("strategy") or {}).get("type") == "Recreate":
                for old in state["pods"]:
                    self.stop_pod(old)
                state["pods"] = []
            state["pods"].append(self.run_pod(pod_name, meta["namespace"],
                                              template["metadata"].get("labels") or {},
                                              template["spec"]))
        current = state["pods"][-1]
        if current.ready:
            for old in state["pods"][:-1]:
                self.stop_pod(old)
            state["pods"] = [current]
        self._workload_status(plural, meta, generation, 1 if current.ready else 0)

    def _workload_status(self, plural, meta, generation, ready: int) -> None:
        self.server.update_status(plural, meta["namespace"], meta["name"], {
            "observedGeneration": generation, "replicas": 1, "updatedReplicas": 1,
            "readyReplicas": ready, "availableReplicas": ready})

    # -- InferenceService -----------------------------------------------------------------
    def inference_service(self, obj: dict) -> None:
        meta = obj["metadata"]
        ns, name, generation = meta["namespace"], meta["name"], meta.get("generation", 1)
        key = ("inferenceservices", ns, name)
        state = self.owned.setdefault(key, {"pods": [], "generation": None})
        predictor = obj["spec"]["predictor"]
        labels = {"serving.kserve.io/inferenceservice": name, "component": "predictor",
                  "app": f"isvc.{name}-predictor"}
        service = f"{name}-predictor"
        if self.server.lookup("services", ns, service) is None:
            port = ((predictor["containers"][0].get("ports") or [{}])[0]).get("containerPort", 8080)
            self.server.put({"apiVersion": "v1", "kind": "Service", "metadata": {
                "name": service, "namespace": ns, "labels": labels}, "spec": {
                "selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": port}]}})
        if state["generation"] != generation:
            state["generation"] = generation
            spec = {k: copy.deepcopy(v) for k, v in predictor.items() if k in POD_FIELDS}
            state["pods"].append(self.run_pod(f"{service}-{suffix()}-{suffix()}", ns,
                                              {**labels, "generation": str(generation)}, spec))
            state["pending"] = generation
        current = state["pods"][-1]
        status = copy.deepcopy(obj.get("status") or {})
        if current.ready:
            for old in state["pods"][:-1]:
                self.stop_pod(old)
            state["pods"] = [current]
            url = f"http://{service}.{ns}.svc.cluster.local"
            status.update(url=url, address={"url": url}, observedGeneration=state["pending"],
                          conditions=[{"type": t, "status": "True", "lastTransitionTime": now()}
                                      for t in ("IngressReady", "PredictorReady", "Ready")],
                          components={"predictor": {"url": url, "traffic": [
                              {"revisionName": current.name, "percent": 100,
                               "latestRevision": True}]}})
        elif not status.get("conditions"):
            status["conditions"] = [{"type": "PredictorReady", "status": "False",
                                     "reason": "ProgressDeadlineExceeded" if current.poll()
                                     else "Progressing"},
                                    {"type": "Ready", "status": "False"}]
        self.server.update_status("inferenceservices", ns, name, status)

    # -- Job / CronJob --------------------------------------------------------------------
    def job(self, obj: dict) -> None:
        meta = obj["metadata"]
        key = ("jobs", meta["namespace"], meta["name"])
        state = self.owned.get(key)
        if state is None:
            template = obj["spec"]["template"]
            labels = {**(template.get("metadata", {}).get("labels") or {}),
                      "job-name": meta["name"], "batch.kubernetes.io/job-name": meta["name"]}
            pod = self.run_pod(f"{meta['name']}-{suffix()}", meta["namespace"], labels,
                               copy.deepcopy(template["spec"]))
            state = self.owned[key] = {"pod": pod, "start": now()}
        code = state["pod"].poll()
        status = {"startTime": state["start"], "active": 1 if code is None else 0}
        if code == 0:
            status.update(succeeded=1, completionTime=now(), conditions=[
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"}])
        elif code is not None:
            status.update(failed=1, conditions=[
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit"}])
        self.server.update_status("jobs", meta["namespace"], meta["name"], status)

    def tick(self, namespace: str, cronjob: str) -> str:
        """One scheduled run of a CronJob: the Job the CronJob controller would create."""
        cron = self.server.lookup("cronjobs", namespace, cronjob)
        if cron is None:
            raise AssertionError(f"no CronJob {namespace}/{cronjob}")
        template = copy.deepcopy(cron["spec"]["jobTemplate"])
        name = f"{cronjob}-{int(time.time() // 60)}"
        meta = template.get("metadata") or {}
        self.server.put({"apiVersion": "batch/v1", "kind": "Job", "metadata": {
            **meta, "name": name, "namespace": namespace,
            "annotations": {**(meta.get("annotations") or {}),
                            "batch.kubernetes.io/cronjob-scheduled-timestamp": now()},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cronjob,
                                 "uid": cron["metadata"]["uid"], "controller": True}]},
            "spec": template["spec"]})
        return name


def _is_postgres(obj: dict) -> bool:
    if obj.get("kind") != "StatefulSet":
        return False
    containers = obj["spec"]["template"]["spec"]["containers"]
    return containers[0].get("image", "").split("/")[-1].startswith("postgres")


def _template_labels(obj: dict) -> dict:
    return obj["spec"]["template"]["metadata"].get("labels") or {}


def _accepts(address) -> bool:
    try:
        socket.create_connection(address, 1).close()
        return True
    except OSError:
        return False


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])
