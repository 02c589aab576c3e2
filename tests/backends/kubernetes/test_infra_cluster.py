"""`infra up | status | down` through the real kubernetes client against the stand-in."""

from __future__ import annotations

import base64

from salesops.backends.kubernetes import names

NS = "salesops"


def password(apiserver) -> str:
    secret = apiserver.get("secrets", NS, names.DB_SECRET)
    return base64.b64decode(secret["data"]["password"]).decode()


def test_up_creates_everything_then_is_idempotent(cli, apiserver):
    first = cli("--json", "infra", "up")
    assert first.exit_code == 0, first.stderr
    states = {(c["kind"], c["name"]): c["state"] for c in first.json()["components"]}
    assert len(states) == 11 and set(states.values()) == {"created"}
    assert states[("StatefulSet", names.POSTGRES)] == "created"
    secret = password(apiserver)
    second = cli("--json", "infra", "up")
    assert {c["state"] for c in second.json()["components"]} == {"unchanged"}
    assert password(apiserver) == secret  # generated once, read back afterwards
    for result in (first, second):
        assert secret not in result.stdout + result.stderr


def test_up_patches_what_differs(cli, apiserver):
    assert cli("infra", "up").exit_code == 0
    apiserver.objects[("configmaps", NS, names.FEATURE_STORE_CONFIG)]["data"] = {"x": "y"}
    result = cli("--json", "infra", "up")
    states = {c["name"]: c["state"] for c in result.json()["components"] if c["kind"] == "ConfigMap"}
    assert states == {names.FEATURE_STORE_CONFIG: "updated"}
    assert "feature_store.yaml" in apiserver.get("configmaps", NS, names.FEATURE_STORE_CONFIG)["data"]
    patches = [(p, t) for m, p, t in apiserver.requests if m == "PATCH"]
    assert patches == [(f"/api/v1/namespaces/{NS}/configmaps/{names.FEATURE_STORE_CONFIG}",
                        "application/merge-patch+json")]


def test_up_waits_for_readiness_with_progress(cli, apiserver):
    from tests.backends.kubernetes.conftest import later

    apiserver.auto_ready = False

    def ready():
        for plural, name in (("statefulsets", names.POSTGRES), ("deployments", names.MLFLOW)):
            apiserver.set_status(plural, NS, name, {"replicas": 1, "readyReplicas": 1})

    polled = f"/namespaces/{NS}/deployments/{names.MLFLOW}"
    later(lambda: any(p.endswith(polled) for p in apiserver.verbs("GET")), ready)
    result = cli("infra", "up")
    assert result.exit_code == 0, result.stderr
    assert f"waiting for StatefulSet/{names.POSTGRES} (0/1 ready)" in result.stderr


def test_up_gives_up_after_the_timeout(cli, apiserver, monkeypatch):
    apiserver.auto_ready = False
    monkeypatch.setenv("SALESOPS_KUBERNETES__READY_TIMEOUT_S", "0.2")
    result = cli("infra", "up")
    assert result.exit_code == 6
    assert "not ready after 0.2 s" in result.stderr and f"Deployment/{names.MLFLOW}" in result.stderr


def test_status_shows_each_object(cli, apiserver):
    before = cli("--json", "infra", "status").json()["components"]
    assert {c["state"] for c in before} == {"missing"}
    cli("infra", "up")
    after = cli("--json", "infra", "status").json()["components"]
    assert {c["state"] for c in after} == {"ready"}
    human = cli("infra", "status")
    assert "salesops-mlflow" in human.stdout and "1/1 ready" in human.stdout


def test_down_needs_yes_and_deletes_the_namespace_objects(cli, apiserver):
    cli("infra", "up")
    apiserver.objects[("trainjobs", NS, "salesops-train-old")] = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
        "metadata": {"name": "salesops-train-old", "namespace": NS, "uid": "u",
                     "labels": dict(names.MANAGED_BY)}, "spec": {}}
    refused = cli("infra", "down")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    result = cli("--json", "infra", "down", "--yes")
    assert result.exit_code == 0, result.stderr
    states = {(c["kind"], c["name"]): c["state"] for c in result.json()["components"]}
    assert states[("TrainJob", "salesops-train-old")] == "removed"
    assert states[("Namespace", NS)] == "removed"
    assert states[("PersistentVolumeClaim", f"data-{names.POSTGRES}-0")] == "missing"
    assert apiserver.objects == {}
    again = cli("--json", "infra", "down", "--yes")
    assert {c["state"] for c in again.json()["components"]} == {"missing"}
