"""The `ray` profile's KubeRay RayCluster: valid against the CRD (../shared/crds/kuberay,
with ../shared/tools/validate_k8s.py), an autoscaling worker group sized by `[ray]`, pods
under the restricted profile, and the pods' Feast config pointing at its head."""

from __future__ import annotations

import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from salesops.backends.kubernetes.infra_objects import infra_objects, new_credentials
from salesops.backends.kubernetes.raycluster_spec import RAY_VERSION, ray_cluster
from salesops.config import load_settings
from tests.backends.kubernetes.test_dry_run import docs, k8s, validate  # noqa: F401 (fixtures)
from tests.backends.kubernetes.test_pod_security import PodSpec, problems

RAY = {"head_cpu": "2", "head_memory": "3Gi", "worker_cpu": "3", "worker_memory": "6Gi",
       "min_workers": 1, "max_workers": 5}


def _settings(**ray):
    return load_settings(overrides={"feature_store": {"profile": "ray"}, "ray": ray})


def _groups(cluster: dict) -> tuple[dict, dict]:
    (workers,) = cluster["spec"]["workerGroupSpecs"]
    return cluster["spec"]["headGroupSpec"], workers


def test_infra_up_dry_run_adds_a_raycluster_that_validates(cli, k8s, validate,  # noqa: F811
                                                          monkeypatch):
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__PROFILE", "ray")
    result = cli("infra", "up", "--dry-run")
    assert result.exit_code == 0, result.stderr
    objects = docs(result.stdout)
    assert [o["kind"] for o in objects][-1] == "RayCluster"
    report = validate(result.stdout)
    assert "RayCluster/salesops-ray (CRD schema ray.io_rayclusters.yaml)" in report


def test_the_other_profiles_make_no_raycluster():
    kinds = [o["kind"] for o in infra_objects(load_settings(), new_credentials())]
    assert "RayCluster" not in kinds


def test_the_worker_group_autoscales_in_the_configured_range():
    cluster = ray_cluster(_settings(**RAY))
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["spec"]["enableInTreeAutoscaling"] is True
    head, workers = _groups(cluster)
    assert (workers["minReplicas"], workers["replicas"], workers["maxReplicas"]) == (1, 1, 5)
    assert head["rayStartParams"]["num-cpus"] == "0"  # tasks go to the autoscaled workers
    for group, cpu, memory in ((head, "2", "3Gi"), (workers, "3", "6Gi")):
        (container,) = group["template"]["spec"]["containers"]
        assert container["resources"] == {"requests": {"cpu": cpu, "memory": memory},
                                          "limits": {"memory": memory}}
        assert container["image"] == "ghcr.io/salesops/salesops:0.1.0"  # kubernetes.image


def test_the_ray_version_is_the_images():
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    assert pyproject["project"]["optional-dependencies"]["ray"] == [f"ray[default]=={RAY_VERSION}"]
    assert ray_cluster(_settings())["spec"]["rayVersion"] == RAY_VERSION


@pytest.mark.parametrize("group", ["head", "workers"])
def test_the_pods_are_restricted_and_pass_strict_core_validation(group):
    settings = _settings(**RAY)
    template = dict(zip(("head", "workers"), _groups(ray_cluster(settings))))[group]["template"]
    # KubeRay adds each container's `ray start` command and its probes: checked as a batch pod
    pod = PodSpec(f"RayCluster {group}", "Job", template["spec"], settings.kubernetes.image)
    assert list(problems(pod)) == []
    mounts = {m["mountPath"] for m in template["spec"]["containers"][0]["volumeMounts"]}
    assert "/dev/shm" in mounts  # Ray's object store, on a memory emptyDir
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                  "spec": template["spec"]},
                                 kubernetes_validate.latest_version(), strict=True)


def test_the_autoscaler_sidecar_is_restricted_and_bounded():
    options = ray_cluster(_settings())["spec"]["autoscalerOptions"]
    context = options["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True and context["capabilities"]["drop"] == ["ALL"]
    assert options["resources"]["limits"]["memory"] == options["resources"]["requests"]["memory"]


def test_the_pods_feast_config_materializes_on_the_clusters_head_or_the_given_one():
    settings = _settings()
    (config_map,) = [o for o in infra_objects(settings, new_credentials())
                     if o["kind"] == "ConfigMap"]
    config = yaml.safe_load(config_map["data"]["feature_store.yaml"])
    assert config["offline_store"]["type"] == "postgres"  # the pods share no parquet files
    assert config["batch_engine"] == {
        "type": "ray.engine", "ray_address": "ray://salesops-ray-head-svc.salesops.svc:10001"}
    given = _settings(address="ray://elsewhere:10001")
    (config_map,) = [o for o in infra_objects(given, new_credentials())
                     if o["kind"] == "ConfigMap"]
    engine = yaml.safe_load(config_map["data"]["feature_store.yaml"])["batch_engine"]
    assert engine["ray_address"] == "ray://elsewhere:10001"
    assert "RayCluster" not in [o["kind"] for o in infra_objects(given, new_credentials())]
