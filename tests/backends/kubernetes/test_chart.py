"""charts/salesops, rendered by real Helm (helm-python-sdk: Helm v4's engine, offline, where
`lookup` finds nothing): conventional (release namespace, names and labels from the release,
`required`, only URL-safe passwords, the Secret kept with Postgres' claim) and, with its
default values and release
`salesops` in namespace `salesops`, equal to `salesops infra up --dry-run` but for:

* Helm's labels: `helm.sh/chart`, `app.kubernetes.io/instance` and `/version`, and
  `app.kubernetes.io/managed-by: Helm` where salesops writes `salesops` (that label is how
  `infra down` tells the two apart); the selectors carry `instance` too, so that two
  releases can share a namespace;
* no Namespace: the chart installs into the release namespace (`helm uninstall` must not
  delete it, nor the data in it);
* the Secret: the dry run never prints it; its keys are those `infra up` creates;
* the `helm.sh/resource-policy: keep` of the artifacts PVC and the Secret
  (persistence.keepOnUninstall);
* the first line of the ConfigMap's `feature_store.yaml`, a comment saying who renders it
  and where to change it (Helm's values, not salesops.toml).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import helm_python
import pytest
import yaml

from salesops.backends.kubernetes import names
from salesops.backends.kubernetes.infra_objects import infra_objects, new_credentials
from salesops.config import Settings
from tests.backends.kubernetes.test_dry_run import validate  # noqa: F401

CHART = Path(__file__).resolve().parents[3] / "charts" / "salesops"
HELM_ONLY_LABELS = {"helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/version"}
HELM_ONLY_ANNOTATIONS = {"helm.sh/resource-policy"}
SALESOPS_MANAGED = {(names.MANAGED_BY_KEY, names.HELM): names.MANAGED_BY[names.MANAGED_BY_KEY]}


def render(values: dict | None = None, name: str = "salesops",
           namespace: str = "salesops") -> list[dict]:
    manifests = helm_python.Chart.load(CHART).render(values or {}, name=name, namespace=namespace)
    return [doc for path, text in sorted(manifests.items()) if path.endswith(".yaml")
            for doc in yaml.safe_load_all(text) if doc]


def notes(values: dict | None = None, name: str = "salesops") -> str:
    manifests = helm_python.Chart.load(CHART).render(values or {}, name=name, namespace="ns")
    return manifests["salesops/templates/NOTES.txt"]


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def secret_data(secret: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def without_helm(obj):
    """An object as salesops would write it: Helm's labels and annotations out, managed-by
    salesops, nulls pruned (as the API server does)."""
    if isinstance(obj, dict):
        obj = {k: without_helm(v) for k, v in obj.items() if v is not None}
        for key in ("labels", "matchLabels", "selector", "annotations"):
            strings = obj.get(key)
            if isinstance(strings, dict) and all(isinstance(v, str) for v in strings.values()):
                obj[key] = {k: SALESOPS_MANAGED.get((k, v), v) for k, v in strings.items()
                            if k not in HELM_ONLY_LABELS | HELM_ONLY_ANNOTATIONS} or None
        return {k: v for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [without_helm(v) for v in obj]
    return obj


def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """`$(VAR)` in a container's args, as the kubelet expands it."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), text)


def test_chart_lints_clean():
    report = helm_python.lint(CHART, {"database": {"password": "x"}}, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_chart_with_default_values_equals_infra_up_dry_run(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "kubernetes")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    result = cli("infra", "up", "--dry-run")
    assert result.exit_code == 0, result.stderr
    dry_run = {(o["kind"], o["metadata"]["name"]): o
               for o in yaml.safe_load_all(result.stdout) if o}
    chart = {(o["kind"], o["metadata"]["name"]): o
             for o in render({"database": {"password": new_credentials()["password"]}})}
    secret = chart.pop(("Secret", "salesops-db"))
    built = one(infra_objects(Settings(), new_credentials()), "Secret")
    assert sorted(secret["data"]) == sorted(built["data"])
    assert without_helm(secret["metadata"]) == without_helm(built["metadata"])
    assert dry_run.pop(("Namespace", "salesops"))
    assert sorted(chart) == sorted(dry_run)
    for key, ours in dry_run.items():
        assert without_helm(without_header(chart[key])) == without_helm(without_header(ours)), key


def without_header(obj: dict) -> dict:
    """A ConfigMap with its feature_store.yaml's first line (the "rendered by" comment) out."""
    if obj["kind"] != "ConfigMap":
        return obj
    text = obj["data"]["feature_store.yaml"]
    assert text.startswith("# rendered by ")
    return {**obj, "data": {**obj["data"], "feature_store.yaml": text.split("\n", 1)[1]}}


def test_feature_store_comment_points_at_the_release_values():
    text = one(render(name="team-a"), "ConfigMap")["data"]["feature_store.yaml"]
    header = text.splitlines()[0]
    assert header.startswith("# rendered by the salesops Helm chart (release team-a)")
    assert "helm upgrade" in header and "salesops infra up" not in header
    assert "salesops.toml" not in header


@pytest.mark.slow  # the validator's process: ~4 s
@pytest.mark.parametrize("values", [
    {"database": {"password": "p.ss_w~rd-1"}, "persistence": {"keepOnUninstall": False}},
    {"database": {"existingSecret": "vault-db"}, "mlflow": {"artifactUri": "s3://m/x"},
     "persistence": {"storageClass": "fast"}, "imagePullSecrets": [{"name": "regcred"}]},
])
def test_rendered_objects_validate_strict(values, validate):  # noqa: F811
    objects = render(values, name="team-a", namespace="ns")
    assert "0 errors" in validate(yaml.safe_dump_all(objects))
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")
    for obj in objects:
        kv.validate(obj, kv.latest_version(), strict=True)


def test_install_fails_clearly_without_a_password_source():
    with pytest.raises(helm_python.HelmRenderError,
                       match="database.existingSecret or database.password is required"):
        render({"database": {"generatePassword": False}})
    assert render({"database": {"generatePassword": False, "password": "x"}})
    assert render({"database": {"generatePassword": False, "existingSecret": "db"}})


def test_generated_password_by_default():
    """Offline, `lookup` finds no Secret, so a fresh password is generated. On a cluster the
    `salesops.password` helper reads the release's Secret first (`lookup "v1" "Secret"`), so
    an upgrade keeps the password Postgres was initialised with; GitOps renders (no lookup)
    set database.generatePassword=false instead."""
    first, second = (secret_data(one(render(), "Secret"))["password"] for _ in range(2))
    assert re.fullmatch(r"[A-Za-z0-9]{32}", first) and first != second
    helper = (CHART / "templates" / "_helpers.tpl").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace (include "salesops.secretName" .)' in helper


def test_existing_secret_is_used_and_none_created():
    objects = render({"database": {"existingSecret": "vault-db"}})
    assert [o for o in objects if o["kind"] == "Secret"] == []
    text = yaml.safe_dump(objects)
    refs = re.findall(r"secretKeyRef:\n\s+key: \S+\n\s+name: (\S+)", text)
    assert len(refs) == 4 and set(refs) == {"vault-db"}
    rules = one(objects, "Role")["rules"]
    assert ["vault-db"] in [r["resourceNames"] for r in rules if r["resources"] == ["secrets"]]
    assert "salesops-db" not in text


@pytest.mark.parametrize("password", ["p@ss:w/rd%", "a b+c", "'\"yes\": [1]", "p#1", "ü"])
def test_install_refuses_a_password_that_is_not_url_safe(password):
    """salesops' own pods (feature Job, TrainJob, predictor, CronJob) expand the Secret's raw
    `password` into `postgresql://salesops:$(SALESOPS_PG_PASSWORD)@...`, and the ConfigMap's
    registry URL holds `${SALESOPS_PG_PASSWORD}` as it is: no encoding in the chart can reach
    them, so the install must stop with the schema's message instead."""
    with pytest.raises(helm_python.HelmValuesError,
                       match=r"'/database/password': .* does not match pattern"):
        render({"database": {"password": password}})


@pytest.mark.parametrize("password", ["abc123", "A.b_c~d-e", "f" * 48])
def test_url_safe_password_reaches_every_url_as_it_is(password):
    """What Postgres is initialised with is what every URL holds, with no encoded copy."""
    from sqlalchemy.engine import make_url

    objects = render({"database": {"password": password}})
    data = secret_data(one(objects, "Secret"))
    assert sorted(data) == ["database", "password", "username"]
    assert data["password"] == password
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: data[e["valueFrom"]["secretKeyRef"]["key"]] for e in container["env"]
           if "valueFrom" in e}
    (uri,) = [kubelet_expand(a, env) for a in container["args"] if a.startswith("postgresql:")]
    assert make_url(uri).password == password and make_url(uri).host == "salesops-postgres"
    registry = yaml.safe_load(one(objects, "ConfigMap")["data"]["feature_store.yaml"])
    url = make_url(registry["registry"]["path"].replace("${SALESOPS_PG_PASSWORD}", password))
    assert url.password == password


def test_generated_secret_is_kept_whenever_postgres_claim_is():
    """Postgres' claim outlives `helm uninstall` (Helm never deletes a volumeClaimTemplate's
    claim), and its database knows only the Secret's password: keepOnUninstall keeps the
    Secret too (a reinstall reads it back with `lookup`), and false deletes the claim too."""
    kept = render()
    assert one(kept, "Secret")["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert "persistentVolumeClaimRetentionPolicy" not in one(kept, "StatefulSet")["spec"]
    assert "`helm uninstall` keeps it, with Postgres' claim" in notes()

    dropped = render({"persistence": {"keepOnUninstall": False}})
    assert "annotations" not in one(dropped, "Secret")["metadata"]
    assert "annotations" not in one(dropped, "PersistentVolumeClaim")["metadata"]
    policy = one(dropped, "StatefulSet")["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert policy == {"whenDeleted": "Delete", "whenScaled": "Retain"}
    assert "`helm uninstall` deletes it and Postgres' claim" in notes(
        {"persistence": {"keepOnUninstall": False}})


def test_no_namespace_object_and_everything_in_the_release_namespace():
    objects = render({"database": {"password": "x"}}, namespace="team-ns")
    assert "Namespace" not in {o["kind"] for o in objects}
    assert {o["metadata"]["namespace"] for o in objects} == {"team-ns"}
    feature_store = one(objects, "ConfigMap")["data"]["feature_store.yaml"]
    assert "salesops-postgres.team-ns.svc" in feature_store


def test_names_and_labels_come_from_the_release():
    objects = render({"database": {"password": "x"}}, name="team-a", namespace="ns")
    assert {o["metadata"]["name"] for o in objects} == {
        "team-a-salesops", "team-a-salesops-db", "team-a-salesops-data",
        "team-a-salesops-feature-store", "team-a-salesops-postgres", "team-a-salesops-mlflow"}
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "team-a"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "salesops-" + yaml.safe_load(
            (CHART / "Chart.yaml").read_text())["version"]
    for service in [o for o in objects if o["kind"] == "Service"]:
        component = service["spec"]["selector"]["app.kubernetes.io/component"]
        (workload,) = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")
                       and o["metadata"]["labels"]["app.kubernetes.io/component"] == component]
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
    mlflow = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert mlflow["serviceAccountName"] == "team-a-salesops"
    claims = [v["persistentVolumeClaim"]["claimName"] for v in mlflow["volumes"]
              if "persistentVolumeClaim" in v]
    assert claims == ["team-a-salesops-data"]
    args = mlflow["containers"][0]["args"]
    hosts = args[args.index("--allowed-hosts") + 1].split(",")
    assert {"team-a-salesops-mlflow.ns.svc:5000", "localhost:*"} <= set(hosts)
    assert "@team-a-salesops-postgres:5432/" in " ".join(mlflow["containers"][0]["args"])
    assert "WARNING" in notes({"database": {"password": "x"}}, name="team-a")
    assert "WARNING" not in notes({"database": {"password": "x"}})


def test_artifact_uri_replaces_the_pvc():
    objects = render({"database": {"password": "x"},
                      "mlflow": {"artifactUri": "s3://models/salesops"}})
    assert "PersistentVolumeClaim" not in {o["kind"] for o in objects}
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]
    assert [m["name"] for m in pod["containers"][0]["volumeMounts"]] == ["tmp"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--artifacts-destination") + 1] == "s3://models/salesops"


def test_pod_settings_are_values():
    settings = {"nodeSelector": {"pool": "ml"},
                "tolerations": [{"key": "ml", "operator": "Exists"}],
                "affinity": {"nodeAffinity": {}},
                "resources": {"limits": {"memory": "3Gi"},
                              "requests": {"cpu": "1", "memory": "3Gi"}},
                "securityContext": {"runAsUser": 1234}, "livenessProbe": {"periodSeconds": 30}}
    objects = render({"database": {"password": "x"}, "imagePullSecrets": [{"name": "regcred"}],
                      "postgres": settings, "mlflow": settings})
    for kind in ("StatefulSet", "Deployment"):
        pod = one(objects, kind)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert pod["nodeSelector"] == settings["nodeSelector"]
        assert pod["tolerations"] == settings["tolerations"]
        assert pod["affinity"] == settings["affinity"]
        assert pod["imagePullSecrets"] == [{"name": "regcred"}]
        for key in ("resources", "securityContext", "livenessProbe"):  # merged into defaults
            assert settings[key].items() <= container[key].items(), (kind, key)


def test_schema_rejects_an_unknown_value():
    with pytest.raises(helm_python.HelmError, match="additional properties 'pasword'"):
        render({"database": {"pasword": "x"}})
