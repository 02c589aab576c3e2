"""Pure builders for the objects `infra up` creates, in the order they are applied (on the
`ray` profile without `ray.address`, the RayCluster of `raycluster_spec` last).

Each function takes the settings (and, for the Secret, the credentials) and returns a
manifest dict built from `kubernetes.client` models. No API calls here.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from pydantic import SecretStr

from salesops.backends.kubernetes import names
from salesops.backends.kubernetes import pod_security as pss
from salesops.backends.kubernetes.manifests import to_manifest
from salesops.backends.kubernetes.raycluster_spec import batch_engine, ray_cluster
from salesops.config import Settings

POSTGRES_DATA = "/var/lib/postgresql/data"
#: the server's unix socket and lock file: the image's default, on the read-only root
POSTGRES_SOCKETS = "/var/run/postgresql"
MLFLOW_ARTIFACTS = "/mlflow/artifacts"
#: RSS of the whole process tree of the generated `mlflow server` (the CLI process and one
#: uvicorn worker, no job runner; mlflow 3.17.2, read-only root): 520 MiB after API calls,
#: 523 MiB after five runs with params, metrics and a 30 MiB artifact each, uploaded and
#: downloaded through the server (tests/backends/kubernetes/test_mlflow_pod.py measures it
#: again). mlflow's defaults (4 workers, job execution: a job runner and 7 huey consumer
#: processes) measured 15 processes and 2.7 GiB, OOM-killed at the old 1Gi limit.
MLFLOW_MEASURED_RSS_MIB = 525
#: request = limit, ~2x the measurement: a guaranteed amount, and room for large searches
MLFLOW_MEMORY = "1Gi"


def new_credentials() -> dict[str, str]:
    """Fresh database credentials; hex, so they need no escaping inside a URL."""
    return {"username": names.DB_USER, "password": secrets.token_hex(24),
            "database": names.DB_NAME}


def infra_objects(settings: Settings, credentials: dict[str, str]) -> list[dict[str, Any]]:
    objects = [namespace(settings), service_account(settings), role(settings),
               role_binding(settings), db_secret(settings, credentials), data_pvc(settings),
               feature_store_config(settings), postgres_service(settings),
               postgres_statefulset(settings), mlflow_service(settings),
               mlflow_deployment(settings)]
    if settings.feature_store.profile == "ray" and not settings.ray.address:
        objects.append(ray_cluster(settings))  # `ray.address`: a cluster of the user's
    return objects


def _meta(settings: Settings, name: str, component: str):
    from kubernetes import client

    return client.V1ObjectMeta(name=name, namespace=settings.kubernetes.namespace,
                               labels=names.labels(component))


def namespace(settings: Settings) -> dict:
    from kubernetes import client

    return to_manifest(client.V1Namespace(api_version="v1", kind="Namespace",
                       metadata=client.V1ObjectMeta(name=settings.kubernetes.namespace,
                                                    labels=names.labels("namespace"))))


def service_account(settings: Settings) -> dict:
    from kubernetes import client

    return to_manifest(client.V1ServiceAccount(
        api_version="v1", kind="ServiceAccount",
        metadata=_meta(settings, names.SERVICE_ACCOUNT, "identity"),
        automount_service_account_token=False))


def role(settings: Settings) -> dict:
    """What the pods may do: read their own config and credentials, nothing else."""
    from kubernetes import client

    rules = [client.V1PolicyRule(api_groups=[""], resources=["configmaps"],
                                 resource_names=[names.FEATURE_STORE_CONFIG], verbs=["get"]),
             client.V1PolicyRule(api_groups=[""], resources=["secrets"],
                                 resource_names=[names.DB_SECRET], verbs=["get"])]
    return to_manifest(client.V1Role(api_version="rbac.authorization.k8s.io/v1", kind="Role",
                                     metadata=_meta(settings, names.SERVICE_ACCOUNT, "identity"),
                                     rules=rules))


def role_binding(settings: Settings) -> dict:
    from kubernetes import client

    return to_manifest(client.V1RoleBinding(
        api_version="rbac.authorization.k8s.io/v1", kind="RoleBinding",
        metadata=_meta(settings, names.SERVICE_ACCOUNT, "identity"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                  name=names.SERVICE_ACCOUNT),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name=names.SERVICE_ACCOUNT,
                                       namespace=settings.kubernetes.namespace)]))


def db_secret(settings: Settings, credentials: dict[str, str]) -> dict:
    from kubernetes import client

    data = {key: base64.b64encode(value.encode()).decode() for key, value in credentials.items()}
    return to_manifest(client.V1Secret(api_version="v1", kind="Secret", type="Opaque",
                                       metadata=_meta(settings, names.DB_SECRET, "database"),
                                       data=data))


def data_pvc(settings: Settings) -> dict:
    """Where MLflow keeps artifacts, unless `kubernetes.artifact_uri` names an object store."""
    from kubernetes import client

    return to_manifest(client.V1PersistentVolumeClaim(
        api_version="v1", kind="PersistentVolumeClaim",
        metadata=_meta(settings, names.DATA_PVC, "storage"),
        spec=_volume_claim_spec(settings)))


def _volume_claim_spec(settings: Settings):
    """One ReadWriteOnce volume of `kubernetes.storage_size` (MLflow's PVC, Postgres' data)."""
    from kubernetes import client

    k8s = settings.kubernetes
    return client.V1PersistentVolumeClaimSpec(
        access_modes=["ReadWriteOnce"], storage_class_name=k8s.storage_class,
        resources=client.V1VolumeResourceRequirements(requests={"storage": k8s.storage_size}))


def feature_store_config(settings: Settings) -> dict:
    """The `postgres` profile's feature_store.yaml; the password stays `${VAR}` (Feast expands
    it from the pod's environment). On `ray`, with the RayCluster as its `batch_engine`."""
    from kubernetes import client

    from salesops.stores.feast_yaml import render_feature_store_yaml
    from salesops.workspace import Workspace

    namespace = settings.kubernetes.namespace
    fs = settings.feature_store.model_copy(update={
        "profile": "postgres", "online": "default", "redis_url": None,
        "postgres_url": SecretStr(names.postgres_url(namespace, "${" + names.PASSWORD_ENV + "}"))})
    text = render_feature_store_yaml(settings.model_copy(update={"feature_store": fs}),
                                     Workspace(names.POD_WORKSPACE))
    if settings.feature_store.profile == "ray":  # materialize on the RayCluster
        import yaml

        text += yaml.safe_dump({"batch_engine": batch_engine(settings)}, sort_keys=False)
    return to_manifest(client.V1ConfigMap(
        api_version="v1", kind="ConfigMap",
        metadata=_meta(settings, names.FEATURE_STORE_CONFIG, "feature-store"),
        data={"feature_store.yaml": text}))


def _service(settings: Settings, name: str, component: str, port: int, port_name: str) -> dict:
    from kubernetes import client

    return to_manifest(client.V1Service(
        api_version="v1", kind="Service", metadata=_meta(settings, name, component),
        spec=client.V1ServiceSpec(selector=names.selector(component), ports=[
            client.V1ServicePort(name=port_name, port=port, target_port=port_name)])))


def postgres_service(settings: Settings) -> dict:
    return _service(settings, names.POSTGRES, "database", names.POSTGRES_PORT, "postgres")


def mlflow_service(settings: Settings) -> dict:
    return _service(settings, names.MLFLOW, "tracking", names.MLFLOW_PORT, "http")


def _secret_env(env_name: str, key: str):
    from kubernetes import client

    return client.V1EnvVar(name=env_name, value_from=client.V1EnvVarSource(
        secret_key_ref=client.V1SecretKeySelector(name=names.DB_SECRET, key=key)))


def _resources(cpu: str, memory: str):
    from kubernetes import client

    return client.V1ResourceRequirements(requests={"cpu": cpu, "memory": memory},
                                         limits={"memory": memory})


def postgres_statefulset(settings: Settings) -> dict:
    """The official image as its own `postgres` user (999), root filesystem read-only: the
    data on its volume, the socket directory and /tmp on emptyDirs."""
    from kubernetes import client

    k8s = settings.kubernetes
    # over TCP, so that the unix-socket-only server of the image's first initdb is not "up"
    ready = pss.exec_check("pg_isready", "-h", "127.0.0.1", "-p", str(names.POSTGRES_PORT),
                           "-U", names.DB_USER, "-d", names.DB_NAME)
    container = client.V1Container(
        name="postgres", image=k8s.postgres_image,
        ports=[client.V1ContainerPort(name="postgres", container_port=names.POSTGRES_PORT)],
        env=[_secret_env("POSTGRES_USER", "username"), _secret_env("POSTGRES_PASSWORD", "password"),
             _secret_env("POSTGRES_DB", "database"),
             client.V1EnvVar(name="PGDATA", value=POSTGRES_DATA + "/pgdata")],
        **pss.probes(ready, startup_s=k8s.ready_timeout_s), resources=_resources("250m", "512Mi"),
        security_context=pss.container_security_context(),
        volume_mounts=[client.V1VolumeMount(name="data", mount_path=POSTGRES_DATA),
                       client.V1VolumeMount(name="sockets", mount_path=POSTGRES_SOCKETS),
                       pss.tmp_mount()])
    claim = client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data", labels=names.labels("database")),
        spec=_volume_claim_spec(settings))
    volumes = [client.V1Volume(name="sockets", empty_dir=client.V1EmptyDirVolumeSource()),
               pss.tmp_volume()]
    return to_manifest(client.V1StatefulSet(
        api_version="apps/v1", kind="StatefulSet",
        metadata=_meta(settings, names.POSTGRES, "database"),
        spec=client.V1StatefulSetSpec(
            service_name=names.POSTGRES, replicas=1,
            selector=client.V1LabelSelector(match_labels=names.selector("database")),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=names.labels("database")),
                spec=client.V1PodSpec(
                    automount_service_account_token=False, containers=[container],
                    security_context=pss.pod_security_context(pss.POSTGRES_UID),
                    volumes=volumes)),
            volume_claim_templates=[claim])))


def mlflow_allowed_hosts(namespace: str) -> list[str]:
    """The Host headers `mlflow server` answers (any other gets 403 "Invalid Host header",
    its DNS-rebinding guard; /health is exempt, so a probe passing proves nothing): the
    Service by each name a pod may use, with and without the port, and loopback with any
    port for `kubectl port-forward`. mlflow matches an entry exactly, or with fnmatch when
    it holds `*`; no wildcard on the cluster domain, since `….svc.*` would also match a
    name under someone else's domain."""
    service = names.MLFLOW
    forms = [service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
             f"{service}.{namespace}.svc.cluster.local"]
    return [host for form in forms for host in (form, f"{form}:{names.MLFLOW_PORT}")] + [
        "localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*"]


def mlflow_deployment(settings: Settings) -> dict:
    """MLflow with its backend store on the Postgres above; artifacts are served by MLflow
    itself (`--serve-artifacts`), so only this pod needs the PVC."""
    from kubernetes import client

    k8s = settings.kubernetes
    destination = k8s.artifact_uri or MLFLOW_ARTIFACTS
    backend = names.postgres_url(k8s.namespace, f"$({names.PASSWORD_ENV})").replace(
        f"{names.POSTGRES}.{k8s.namespace}.svc", names.POSTGRES)
    # One worker: the API is light and a worker holds ~250 MiB. No job execution: mlflow
    # 3.x starts a job runner with six huey consumer processes by default, for GenAI jobs
    # this deployment does not run.
    container = client.V1Container(
        name="mlflow", image=k8s.image, image_pull_policy="IfNotPresent",
        command=["mlflow", "server"],
        args=["--host", "0.0.0.0", "--port", str(names.MLFLOW_PORT), "--workers", "1",
              "--allowed-hosts", ",".join(mlflow_allowed_hosts(k8s.namespace)),
              "--backend-store-uri", backend, "--serve-artifacts",
              "--artifacts-destination", destination],
        env=[_secret_env(names.PASSWORD_ENV, "password"),
             client.V1EnvVar(name="MLFLOW_SERVER_ENABLE_JOB_EXECUTION", value="false"),
             client.V1EnvVar(name="MLFLOW_DISABLE_TELEMETRY", value="true"),
             *[client.V1EnvVar(**env) for env in pss.scratch_env()]],
        ports=[client.V1ContainerPort(name="http", container_port=names.MLFLOW_PORT)],
        **pss.probes(pss.http_check("/health", "http"), startup_s=k8s.ready_timeout_s),
        resources=_resources("250m", MLFLOW_MEMORY),
        security_context=pss.container_security_context(),
        volume_mounts=[pss.tmp_mount(), *([] if k8s.artifact_uri else [
            client.V1VolumeMount(name="artifacts", mount_path=MLFLOW_ARTIFACTS)])])
    pvc = client.V1PersistentVolumeClaimVolumeSource(claim_name=names.DATA_PVC)
    volumes = [pss.tmp_volume(), *([] if k8s.artifact_uri else [
        client.V1Volume(name="artifacts", persistent_volume_claim=pvc)])]
    return to_manifest(client.V1Deployment(
        api_version="apps/v1", kind="Deployment",
        metadata=_meta(settings, names.MLFLOW, "tracking"),
        spec=client.V1DeploymentSpec(
            replicas=1, strategy=client.V1DeploymentStrategy(type="Recreate"),
            selector=client.V1LabelSelector(match_labels=names.selector("tracking")),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=names.labels("tracking")),
                spec=client.V1PodSpec(service_account_name=names.SERVICE_ACCOUNT,
                                      security_context=pss.pod_security_context(),
                                      containers=[container], volumes=volumes)))))
