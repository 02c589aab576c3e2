"""Pure builder for the KServe v1beta1 `InferenceService` and its canary traffic edits.

The predictor is a custom container (the salesops image running `salesops serve run`),
built from the `kserve` SDK models with `kubernetes.client` containers. Canary traffic:

* Knative mode: `spec.predictor.canaryTrafficPercent`. The updated predictor becomes the
  latest revision and gets PCT %; the previously rolled-out revision keeps the rest.
  Promote removes the field (100 % to the latest), rollback sets it to 0.
* Standard mode: the KServe 0.20 CRD has `spec.canary[]` (`{predictor, trafficPercent}`, a
  named canary predictor beside the stable one), but KServe's admission webhook only
  accepts it when the *stable* predictor is a model with a `storageUri`; ours is a custom
  container, so a Standard-mode canary is refused here with that reason instead of being
  sent to a cluster that would reject it (see `canary_unsupported`).
"""

from __future__ import annotations

from typing import Any

from salesops.backends.kubernetes import names
from salesops.backends.kubernetes import pod_security as pss
from salesops.backends.kubernetes.manifests import to_manifest
from salesops.backends.kubernetes.pod_env import env_vars
from salesops.config import Settings

API_VERSION = "serving.kserve.io/v1beta1"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
CONTAINER = "kserve-container"
#: KServe's V2 liveness route: the server process answers (the model may still be loading
#: or have failed; readiness, `names.HEALTH_PATH`, is the model's)
LIVE_PATH = "/v2/health/live"


def canary_unsupported(settings: Settings) -> str | None:
    """Why `--canary` cannot be used with these settings, or None."""
    if settings.kubernetes.deployment_mode == "Knative":
        return None
    return ("KServe's spec.canary[] (Standard mode) needs a stable predictor with a model "
            "storageUri, and the salesops predictor is a custom container; use "
            "kubernetes.deployment_mode = \"Knative\" for canary traffic")


def serve_command(version: str | None, alias: str | None, settings: Settings) -> list[str]:
    which = (["--model-version", version] if version
             else ["--alias", alias or settings.serving.model_alias])
    return ["salesops", "serve", "run", "--host", "0.0.0.0", "--port",
            str(names.PREDICTOR_PORT), *which]


def inference_service(settings: Settings, version: str | None = None, alias: str | None = None,
                      canary_percent: int | None = None) -> dict[str, Any]:
    """The whole object; `canary_percent` (Knative only) sends that share to this spec."""
    from salesops import kserve_import  # noqa: F401  (kserve would parse our command line)

    from kserve import (V1beta1InferenceService, V1beta1InferenceServiceSpec,  # noqa: I001
                        V1beta1PredictorSpec)
    from kubernetes import client

    k8s = settings.kubernetes
    # The server listens only once the model is loaded (`serving.server`): the start-up
    # probe gives the load as long as `serve deploy --wait` waits.
    container = client.V1Container(
        name=CONTAINER, image=k8s.image, command=serve_command(version, alias, settings),
        env=[client.V1EnvVar.from_dict(env) for env in [*env_vars(settings), *pss.scratch_env()]],
        ports=[client.V1ContainerPort(name="http1", container_port=names.PREDICTOR_PORT,
                                      protocol="TCP")],
        **pss.probes(pss.http_check(LIVE_PATH, names.PREDICTOR_PORT),
                     pss.http_check(names.HEALTH_PATH, names.PREDICTOR_PORT),
                     startup_s=k8s.ready_timeout_s),
        resources=client.V1ResourceRequirements(
            requests={"cpu": k8s.cpu, "memory": k8s.memory}, limits={"memory": k8s.memory}),
        security_context=pss.container_security_context(),
        volume_mounts=[
            client.V1VolumeMount(name="workspace", mount_path=names.POD_WORKSPACE),
            client.V1VolumeMount(name="feature-store", read_only=True, sub_path="feature_store.yaml",
                                 mount_path=names.POD_FEATURE_REPO + "/feature_store.yaml"),
            pss.tmp_mount()])
    predictor = V1beta1PredictorSpec(
        containers=[container], min_replicas=k8s.min_replicas, max_replicas=k8s.max_replicas,
        service_account_name=names.SERVICE_ACCOUNT,
        canary_traffic_percent=canary_percent, security_context=pss.pod_security_context(),
        volumes=[client.V1Volume(name="workspace", empty_dir=client.V1EmptyDirVolumeSource()),
                 client.V1Volume(name="feature-store", config_map=client.V1ConfigMapVolumeSource(
                     name=names.FEATURE_STORE_CONFIG)),
                 pss.tmp_volume()])
    isvc = V1beta1InferenceService(
        api_version=API_VERSION, kind="InferenceService",
        metadata=client.V1ObjectMeta(name=names.INFERENCE_SERVICE, namespace=k8s.namespace,
                                     labels=names.labels("serving"),
                                     annotations={MODE_ANNOTATION: k8s.deployment_mode}),
        spec=V1beta1InferenceServiceSpec(predictor=predictor))
    return to_manifest(isvc)


def traffic_patch(percent: int | None) -> dict[str, Any]:
    """A merge patch moving canary traffic: None removes the split (promote), 0 rolls back."""
    return {"spec": {"predictor": {"canaryTrafficPercent": percent}}}
