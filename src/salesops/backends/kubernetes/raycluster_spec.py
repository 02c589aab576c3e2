"""The KubeRay `RayCluster` of the `ray` profile (a pure builder: no API calls).

One head and one autoscaled worker group, both the salesops image (it holds Ray, from the
`ray` extra) under the restricted Pod Security Standard: Ray's session files go to the /tmp
emptyDir, its object store to a memory-backed /dev/shm. The head runs no tasks (`num-cpus
0`): KubeRay's in-tree autoscaler adds workers, `ray.min_workers` to `ray.max_workers`,
while Feast's tasks wait, and removes them when idle. Feast reaches the head's client port
(`ray_address`, `batch_engine`): the cluster's offline store stays Postgres (the pods share
no parquet files), and `materialize` runs on Ray.
"""

from __future__ import annotations

from typing import Any

from salesops.backends.kubernetes import names
from salesops.backends.kubernetes import pod_security as pss
from salesops.backends.kubernetes.manifests import to_manifest
from salesops.config import Settings

RAY_CLUSTER = "salesops-ray"
#: the Ray of the image: pyproject.toml's `ray` extra pins it (a test checks they agree)
RAY_VERSION = "2.60.0"
CLIENT_PORT = 10001
PORTS = {"gcs-server": 6379, "dashboard": 8265, "client": CLIENT_PORT}
SHM_VOLUME = "dshm"
#: the autoscaler sidecar KubeRay adds to the head: small, and request = limit
AUTOSCALER = {"cpu": "250m", "memory": "512Mi"}
IDLE_TIMEOUT_S = 60


def head_address(settings: Settings) -> str:
    """Where Feast's Ray client connects: `ray.address`, else this cluster's head Service
    (KubeRay names it `<cluster>-head-svc`)."""
    namespace = settings.kubernetes.namespace
    return settings.ray.address or f"ray://{RAY_CLUSTER}-head-svc.{namespace}.svc:{CLIENT_PORT}"


def batch_engine(settings: Settings) -> dict[str, Any]:
    """The `batch_engine` section of the pods' feature_store.yaml."""
    return {"type": "ray.engine", "ray_address": head_address(settings)}


def ray_cluster(settings: Settings) -> dict[str, Any]:
    ray = settings.ray
    workers = {"groupName": "workers", "replicas": ray.min_workers,
               "minReplicas": ray.min_workers, "maxReplicas": ray.max_workers,
               "rayStartParams": {},
               "template": _pod(settings, "ray-worker", ray.worker_cpu, ray.worker_memory)}
    head = {"serviceType": "ClusterIP",
            "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
            "template": _pod(settings, "ray-head", ray.head_cpu, ray.head_memory, head=True)}
    return {
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": RAY_CLUSTER, "namespace": settings.kubernetes.namespace,
                     "labels": names.labels("ray")},
        "spec": {"rayVersion": RAY_VERSION, "enableInTreeAutoscaling": True,
                 "autoscalerOptions": {
                     "upscalingMode": "Default", "idleTimeoutSeconds": IDLE_TIMEOUT_S,
                     "resources": {"requests": AUTOSCALER, "limits": AUTOSCALER},
                     "env": pss.scratch_env(),
                     "volumeMounts": [{"name": pss.TMP_VOLUME, "mountPath": pss.TMP_PATH}],
                     "securityContext": to_manifest(pss.container_security_context())},
                 "headGroupSpec": head, "workerGroupSpecs": [workers]},
    }


def _pod(settings: Settings, component: str, cpu: str, memory: str,
         head: bool = False) -> dict[str, Any]:
    """A head or worker pod template. KubeRay fills in the container's `ray start` command
    and, on the head, the autoscaler's service account (the head needs its token: the
    autoscaler scales the workers through the API server; the workers need none)."""
    from kubernetes import client

    ports = [client.V1ContainerPort(name=name, container_port=port)
             for name, port in PORTS.items()] if head else None
    container = client.V1Container(
        name="ray-head" if head else "ray-worker", image=settings.kubernetes.image,
        image_pull_policy="IfNotPresent", ports=ports,
        env=[client.V1EnvVar(**env) for env in pss.scratch_env()],
        resources=client.V1ResourceRequirements(requests={"cpu": cpu, "memory": memory},
                                                limits={"memory": memory}),
        security_context=pss.container_security_context(),
        volume_mounts=[pss.tmp_mount(),
                       client.V1VolumeMount(name=SHM_VOLUME, mount_path="/dev/shm")])
    shm = client.V1Volume(name=SHM_VOLUME,
                          empty_dir=client.V1EmptyDirVolumeSource(medium="Memory"))
    return to_manifest(client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=names.labels(component)),
        spec=client.V1PodSpec(
            automount_service_account_token=head, containers=[container],
            security_context=pss.pod_security_context(), volumes=[pss.tmp_volume(), shm])))
