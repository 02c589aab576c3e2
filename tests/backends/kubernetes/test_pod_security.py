"""Every pod the Kubernetes backend generates meets the `restricted` Pod Security Standard,
has its probes and its resources (issue 15, defect 5: none had a securityContext, the
TrainJob, predictor and Postgres pods had no liveness probe; checkov failed 63 checks).

`pod_specs(settings)` collects the pod specs from every generator in `MANIFESTS` (one
function per command that prints manifests) through `POD_SPEC_PATHS` (where each kind keeps
its pod). A new generator is one entry in `MANIFESTS`; a new kind, one in `POD_SPEC_PATHS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from salesops.backends.kubernetes.cronjob_spec import scheduler_objects
from salesops.backends.kubernetes.infra_objects import infra_objects, new_credentials
from salesops.backends.kubernetes.isvc_spec import inference_service
from salesops.backends.kubernetes.job_spec import feature_job
from salesops.backends.kubernetes.trainjob_spec import trainjob
from salesops.config import Settings


def _trainjob_pod(job: dict) -> dict:
    """The node pod as the Trainer builds it: the runtime's `node` container with the
    trainer's image, command, env and resourcesPerNode, and our runtimePatches on top."""
    trainer = job["spec"]["trainer"]
    (patch,) = job["spec"]["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod = dict(node["template"]["spec"]["template"]["spec"])
    pod["containers"] = [{**container, "image": trainer["image"], "command": trainer["command"],
                          "env": trainer["env"], "resources": trainer["resourcesPerNode"]}
                         for container in pod["containers"]]
    return pod


#: kind -> the pod spec(s) in a manifest of that kind
POD_SPEC_PATHS: dict[str, Callable[[dict], dict]] = {
    "Deployment": lambda o: o["spec"]["template"]["spec"],
    "StatefulSet": lambda o: o["spec"]["template"]["spec"],
    "Job": lambda o: o["spec"]["template"]["spec"],
    "CronJob": lambda o: o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    "TrainJob": _trainjob_pod,
    "InferenceService": lambda o: o["spec"]["predictor"],
}
#: kinds whose pods run to completion: no port, no "ready" state, so no probes (a hung
#: TrainJob rank ends at the collective timeout; Trainer v2.3's ContainerPatch cannot carry
#: probes anyway)
BATCH_KINDS = {"Job", "CronJob", "TrainJob"}

#: every generator of manifests, with settings that switch on what it can contain
MANIFESTS: dict[str, Callable[[Settings], list[dict]]] = {
    "infra up": lambda s: infra_objects(s, new_credentials()),
    "infra up (artifacts in a bucket)": lambda s: infra_objects(
        s.model_copy(update={"kubernetes": s.kubernetes.model_copy(
            update={"artifact_uri": "s3://bucket/mlflow"})}), new_credentials()),
    "train submit": lambda s: [trainjob(s, "salesops-train-x")],
    "train submit (GPUs)": lambda s: [trainjob(s.model_copy(update={
        "kubernetes": s.kubernetes.model_copy(update={"gpus_per_node": 1})}), "salesops-train-x")],
    "serve deploy": lambda s: [inference_service(s, version="3")],
    "serve deploy (Knative canary)": lambda s: [inference_service(
        s.model_copy(update={"kubernetes": s.kubernetes.model_copy(
            update={"deployment_mode": "Knative"})}), version="4", canary_percent=20)],
    "features build": lambda s: [feature_job(s, "salesops-features-x", ["--append-weeks", "1"])],
    "drift --schedule": lambda s: scheduler_objects(s, "0 6 * * 1"),
}


@dataclass(frozen=True)
class PodSpec:
    source: str  # "<generator>: <Kind>/<name>"
    kind: str
    spec: dict
    image: str  # the salesops image of these settings: its containers need a writable HOME


def pod_specs(settings: Settings) -> list[PodSpec]:
    """Every pod spec the backend generates with `settings`, as plain dicts."""
    found = []
    for generator, build in MANIFESTS.items():
        for manifest in build(settings):
            if (path := POD_SPEC_PATHS.get(manifest["kind"])) is not None:
                source = f"{generator}: {manifest['kind']}/{manifest['metadata']['name']}"
                found.append(PodSpec(source, manifest["kind"], path(manifest),
                                     settings.kubernetes.image))
    return found


#: volume types the restricted profile allows
ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                   "persistentVolumeClaim", "projected", "secret"}


def problems(pod: PodSpec) -> Iterator[str]:
    """What keeps `pod` from the restricted profile, its probes or its resources."""
    spec = pod.spec
    context = spec.get("securityContext", {})
    if context.get("runAsNonRoot") is not True:
        yield "pod: runAsNonRoot is not true"
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        if not isinstance(context.get(key), int) or context[key] == 0:
            yield f"pod: {key} is not a numeric non-root id ({context.get(key)!r})"
    if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        yield "pod: seccompProfile is not RuntimeDefault"
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            yield f"pod: {key}"
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for name, volume in volumes.items():
        if not set(volume) - {"name"} <= ALLOWED_VOLUMES:
            yield f"volume {name}: not allowed in the restricted profile"
    containers = [(c, False) for c in spec.get("initContainers", [])] + [
        (c, True) for c in spec["containers"]]
    for container, main in containers:
        yield from (f"container {container['name']}: {p}"
                    for p in container_problems(pod, container, main, volumes))


def container_problems(pod: PodSpec, container: dict, main: bool, volumes: dict) -> Iterator[str]:
    context = container.get("securityContext", {})
    if context.get("allowPrivilegeEscalation") is not False:
        yield "allowPrivilegeEscalation is not false"
    if context.get("privileged"):
        yield "privileged"
    capabilities = context.get("capabilities", {})
    if "ALL" not in capabilities.get("drop", []) or capabilities.get("add"):
        yield "capabilities: not drop [ALL] and nothing added"
    if context.get("readOnlyRootFilesystem") is not True:
        yield "readOnlyRootFilesystem is not true"
    if any(port.get("hostPort") for port in container.get("ports", [])):
        yield "hostPort"
    mounts = {m["mountPath"]: volumes.get(m["name"], {}) for m in container.get("volumeMounts", [])}
    if "emptyDir" not in mounts.get("/tmp", {}):
        yield "no emptyDir at /tmp"
    home = next((e.get("value") for e in container.get("env", []) if e["name"] == "HOME"), None)
    if container.get("image") == pod.image and not (
            home and any(home == path or home.startswith(path + "/") for path in mounts)):
        yield f"HOME ({home}) is not on a writable mount"
    resources = container.get("resources", {})
    if not {"cpu", "memory"} <= set(resources.get("requests", {})):
        yield "no cpu and memory requests"
    if "memory" not in resources.get("limits", {}):
        yield "no memory limit"
    if main and pod.kind not in BATCH_KINDS:
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in container:
                yield f"no {probe}"


def test_every_generator_is_collected():
    sources = [pod.source for pod in pod_specs(Settings())]
    for kind in ("StatefulSet/salesops-postgres", "Deployment/salesops-mlflow",
                 "TrainJob/salesops-train-x", "InferenceService/salesops"):
        assert any(source.endswith(kind) for source in sources), kind


@pytest.mark.parametrize("pod", pod_specs(Settings()), ids=lambda pod: pod.source)
def test_pod_is_restricted_probed_and_bounded(pod):
    assert list(problems(pod)) == []


def test_the_checks_catch_a_pod_without_them():
    """The test above is only as good as `problems`: a bare pod fails every check."""
    bare = PodSpec("bare", "Deployment", {"containers": [
        {"name": "c", "image": "i", "ports": [{"containerPort": 1, "hostPort": 1}]}],
        "hostNetwork": True, "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}, "i")
    found = list(problems(bare))
    assert len(found) == 17, found  # 6 of the pod, 1 of the volume, 10 of the container


def test_liveness_and_readiness_ask_the_right_thing():
    """Postgres: pg_isready over TCP; MLflow: /health; the predictor: KServe's V2 live and
    ready routes (ready is the model's, `serving.app`); each behind a start-up probe."""
    pods = {pod.source.split(": ")[1]: pod.spec["containers"][0]
            for pod in pod_specs(Settings()) if pod.kind not in BATCH_KINDS}
    postgres = pods["StatefulSet/salesops-postgres"]
    assert postgres["livenessProbe"]["exec"]["command"][:3] == ["pg_isready", "-h", "127.0.0.1"]
    assert pods["Deployment/salesops-mlflow"]["livenessProbe"]["httpGet"]["path"] == "/health"
    predictor = pods["InferenceService/salesops"]
    assert predictor["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert predictor["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    for container in pods.values():
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 600  # ready_timeout_s


def test_postgres_runs_as_the_image_user_with_its_writable_paths():
    postgres = next(pod.spec for pod in pod_specs(Settings())
                    if pod.source.endswith("StatefulSet/salesops-postgres"))
    assert postgres["securityContext"]["runAsUser"] == 999
    (container,) = postgres["containers"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"} <= mounts
    pgdata = next(e["value"] for e in container["env"] if e["name"] == "PGDATA")
    assert pgdata.startswith("/var/lib/postgresql/data/")
