"""The pure builders: names, env forwarding, runtime patches, secrets kept out of manifests."""

from __future__ import annotations

import base64

from salesops.backends.kubernetes import names
from salesops.backends.kubernetes.infra_objects import infra_objects, new_credentials
from salesops.backends.kubernetes.isvc_spec import canary_unsupported, inference_service
from salesops.backends.kubernetes.manifests import to_manifest
from salesops.backends.kubernetes.trainjob_spec import new_name, trainjob
from salesops.config import Settings


def env_of(container_env: list[dict]) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container_env}


def test_trainjob_names_are_unique_rfc1035_labels():
    seen = {new_name() for _ in range(50)}
    assert len(seen) == 50
    assert all(len(n) <= 63 and n[0].isalpha() and n == n.lower() for n in seen)


def test_trainjob_forwards_settings_and_patches_the_node_job():
    settings = Settings(training={"nodes": 3, "epochs": 7}, kubernetes={"namespace": "team-a"})
    job = trainjob(settings, "salesops-train-x", "never")
    trainer = job["spec"]["trainer"]
    assert trainer["numNodes"] == 3 and trainer["numProcPerNode"] == 1
    assert trainer["command"][-3:] == ["train", "run", "--no-promote"]
    env = env_of(trainer["env"])
    assert env["SALESOPS_TRAINING__EPOCHS"] == "7"
    assert env["SALESOPS_TRAINING__HIDDEN_SIZES"] == "[256, 128, 64]"
    assert env["SALESOPS_MLFLOW__TRACKING_URI"] == "http://salesops-mlflow.team-a.svc:5000"
    assert env["SALESOPS_FEATURE_STORE__POSTGRES_URL"].startswith(
        "postgresql://salesops:$(SALESOPS_PG_PASSWORD)@salesops-postgres.team-a.svc")
    assert trainer["env"][0]["name"] == names.PASSWORD_ENV  # defined before it is referred to
    assert not any(k.startswith(("SALESOPS_BACKEND", "SALESOPS_KUBERNETES")) for k in env)
    (patch,) = job["spec"]["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod = node["template"]["spec"]["template"]["spec"]
    assert node["name"] == "node" and pod["serviceAccountName"] == names.SERVICE_ACCOUNT
    assert {v["name"] for v in pod["volumes"]} == {"feature-store", "workspace", "tmp"}
    assert "resourcesPerNode" in trainer and "nvidia.com/gpu" not in str(trainer)


def test_no_nulls_and_camel_case_from_both_sdks():
    from kserve import V1beta1PredictorSpec
    from kubernetes import client

    spec = V1beta1PredictorSpec(min_replicas=1, containers=[client.V1Container(
        name="c", image="i", readiness_probe=client.V1Probe(initial_delay_seconds=2))])
    assert to_manifest(spec) == {"containers": [{"image": "i", "name": "c",
                                                 "readinessProbe": {"initialDelaySeconds": 2}}],
                                 "minReplicas": 1}


def test_isvc_has_mode_replicas_resources_and_health_probe():
    settings = Settings(kubernetes={"min_replicas": 2, "max_replicas": 5, "cpu": "2"})
    isvc = inference_service(settings, alias="challenger")
    predictor = isvc["spec"]["predictor"]
    (container,) = predictor["containers"]
    assert isvc["metadata"]["annotations"] == {"serving.kserve.io/deploymentMode": "Standard"}
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 5)
    assert container["resources"]["requests"]["cpu"] == "2"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["command"][:3] == ["salesops", "serve", "run"]
    assert container["command"][-2:] == ["--alias", "challenger"]
    assert "canaryTrafficPercent" not in predictor


def test_canary_is_knative_only():
    assert canary_unsupported(Settings(kubernetes={"deployment_mode": "Knative"})) is None
    assert "custom container" in canary_unsupported(Settings())


def test_the_password_is_only_in_the_secret():
    credentials = new_credentials()
    objects = infra_objects(Settings(), credentials)
    text = str([o for o in objects if o["kind"] != "Secret"])
    assert credentials["password"] not in text
    (secret,) = [o for o in objects if o["kind"] == "Secret"]
    assert base64.b64decode(secret["data"]["password"]).decode() == credentials["password"]
    feature_store = next(o for o in objects if o["kind"] == "ConfigMap")["data"]["feature_store.yaml"]
    assert "${SALESOPS_PG_PASSWORD}" in feature_store
    assert "salesops-postgres.salesops.svc" in feature_store


def test_artifacts_on_the_pvc_or_the_object_store():
    def mlflow(settings):
        return next(o for o in infra_objects(settings, new_credentials()) if o["kind"] == "Deployment")

    def volumes(deployment):
        return {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}

    on_pvc = mlflow(Settings())
    assert volumes(on_pvc)["artifacts"]["persistentVolumeClaim"] == {"claimName": names.DATA_PVC}
    in_bucket = mlflow(Settings(kubernetes={"artifact_uri": "s3://bucket/mlflow"}))
    args = in_bucket["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--artifacts-destination") + 1] == "s3://bucket/mlflow"
    assert set(volumes(in_bucket)) == {"tmp"}  # no PVC: only the scratch emptyDir
