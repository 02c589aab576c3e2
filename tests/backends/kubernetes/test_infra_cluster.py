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


def install_chart(apiserver, namespace_labels: dict | None = None) -> set:
    """What `helm install salesops charts/salesops -n salesops --create-namespace` leaves on
    the server: the chart's objects (Helm's labels and release annotations), the Postgres
    claim the StatefulSet controller makes from its template, a namespace salesops did not
    create. Returns the objects' keys."""
    from tests.backends.kubernetes.apiserver import CORE_PLURALS, GROUP_PLURALS
    from tests.backends.kubernetes.test_chart import render

    plurals = {kind: plural for kinds in (CORE_PLURALS, *GROUP_PLURALS.values())
               for plural, kind in kinds.items()}
    apiserver.objects[("namespaces", "", NS)] = {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NS, "uid": "u", "labels": namespace_labels or {}}}
    objects = render({"database": {"password": "x"}}, name="salesops", namespace=NS)
    statefulset = next(o for o in objects if o["kind"] == "StatefulSet")
    template = statefulset["spec"]["volumeClaimTemplates"][0]
    objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "spec": template["spec"],
                    "metadata": {"name": f"data-{names.POSTGRES}-0", "namespace": NS,
                                 "labels": template["metadata"]["labels"]}})
    for obj in objects:
        obj["metadata"].update(uid=f"uid-{obj['metadata']['name']}", annotations={
            "meta.helm.sh/release-name": "salesops", "meta.helm.sh/release-namespace": NS})
        apiserver.objects[(plurals[obj["kind"]], NS, obj["metadata"]["name"])] = obj
    return set(apiserver.objects)


def test_down_keeps_what_a_helm_release_owns(cli, apiserver):
    installed = install_chart(apiserver)
    result = cli("--json", "infra", "down", "--yes")
    assert result.exit_code == 0, result.stderr
    components = result.json()["components"]
    assert set(apiserver.objects) == installed
    found = [c for c in components if c["state"] != "missing"]  # no drift schedule here
    assert {(c["state"], c["detail"]) for c in found if c["kind"] != "Namespace"} == {
        ("kept", "managed by Helm")}
    assert len(found) == 12  # the 10 objects, Postgres' claim, the namespace
    (namespace,) = [c for c in components if c["kind"] == "Namespace"]
    assert (namespace["state"], namespace["detail"]) == ("kept", "not created by salesops")
    assert [p for m, p, _ in apiserver.requests if m == "DELETE"] == []


def test_down_keeps_foreign_objects_and_the_namespace_that_holds_them(cli, apiserver):
    assert cli("infra", "up").exit_code == 0
    key = ("configmaps", NS, names.FEATURE_STORE_CONFIG)
    apiserver.objects[key]["metadata"]["labels"] = {"team": "data"}  # someone else's now
    result = cli("--json", "infra", "down", "--yes")
    assert result.exit_code == 0, result.stderr
    states = {(c["kind"], c["name"]): (c["state"], c["detail"])
              for c in result.json()["components"]}
    assert states[("ConfigMap", names.FEATURE_STORE_CONFIG)] == ("kept", "not created by salesops")
    assert states[("Deployment", names.MLFLOW)] == ("removed", "")
    assert states[("Namespace", NS)] == ("kept", "holds objects salesops did not create")
    assert set(apiserver.objects) == {("namespaces", "", NS), key}


def test_down_removes_feature_jobs_and_the_drift_schedule(cli, namespace):
    """`infra down` left the feature-build Jobs, the drift CronJob and its service account
    and Role behind: it deleted only what `infra up` creates."""
    from tests.backends.kubernetes.test_feature_job import jobs

    assert cli("features", "build").exit_code == 0
    assert cli("drift", "--schedule", "@weekly").exit_code == 0
    assert jobs(namespace) and namespace.get("cronjobs", "salesops", "salesops-drift")
    result = cli("--json", "infra", "down", "--yes")
    assert result.exit_code == 0, result.stderr
    left = [k for k in namespace.objects if k[0] in ("jobs", "cronjobs", "roles", "serviceaccounts")]
    assert left == [], left


def _ready(apiserver) -> None:
    """The chart's workloads running, as their controllers would report them."""
    for (plural, _, _), obj in apiserver.objects.items():
        if plural in ("deployments", "statefulsets"):
            obj["status"] = {"replicas": 1, "readyReplicas": 1}


def test_up_keeps_a_team_namespace_as_it_is_and_down_leaves_it(cli, apiserver):
    """`infra up` merge-patched an existing namespace with salesops' managed-by label, and
    `infra down` then deleted it with everything else the team ran in it."""
    apiserver.objects[("namespaces", "", NS)] = {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NS, "uid": "u", "labels": {"team": "retail"}}}
    result = cli("--json", "infra", "up")
    assert result.exit_code == 0, result.stderr
    (namespace,) = [c for c in result.json()["components"] if c["kind"] == "Namespace"]
    assert namespace["state"] == "kept" and "not created by salesops" in namespace["detail"]
    assert apiserver.get("namespaces", NS, NS)["metadata"]["labels"] == {"team": "retail"}
    down = cli("--json", "infra", "down", "--yes")
    assert down.exit_code == 0, down.stderr
    assert apiserver.get("namespaces", NS, NS) is not None


def test_up_on_a_helm_release_changes_nothing_and_down_still_keeps_it(cli, apiserver):
    """After `infra up` on a Helm install, every object carried salesops' label (patched on
    409) and `infra down` deleted the release, its Secret and the artifacts volume."""
    installed = install_chart(apiserver)
    _ready(apiserver)
    result = cli("--json", "infra", "up")
    assert result.exit_code == 0, result.stderr
    assert {c["state"] for c in result.json()["components"]} == {"kept"}
    assert [p for m, p, _ in apiserver.requests if m == "PATCH"] == []
    down = cli("--json", "infra", "down", "--yes")
    assert down.exit_code == 0, down.stderr
    assert installed <= set(apiserver.objects)


def test_serve_deploy_refuses_an_inference_service_someone_else_made(cli, namespace):
    namespace.objects[("inferenceservices", NS, names.INFERENCE_SERVICE)] = {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": names.INFERENCE_SERVICE, "namespace": NS, "uid": "x",
                     "labels": {"team": "ml"}}, "spec": {"predictor": {}}}
    result = cli("serve", "deploy", "--model-version", "2")
    assert result.exit_code == 4, result.stderr
    assert "not created by salesops" in result.stderr
    assert namespace.objects[("inferenceservices", NS, names.INFERENCE_SERVICE)]["spec"] == {
        "predictor": {}}
