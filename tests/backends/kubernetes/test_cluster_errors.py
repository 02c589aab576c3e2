"""Failures a user meets on a real cluster, each one clear line with exit code 6."""

from __future__ import annotations

from tests.backends.kubernetes.apiserver import write_kubeconfig
from tests.helpers import free_port

NS = "salesops"


def test_no_kubeconfig(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "kubernetes")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = cli("infra", "status")
    assert result.exit_code == 6
    assert "no Kubernetes configuration" in result.stderr and result.stdout == ""


def test_unreachable_api_server(cli, tmp_path, monkeypatch):
    write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{free_port()}")  # nothing listens
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kc"))
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "kubernetes")
    result = cli("--json", "infra", "status")
    assert result.exit_code == 6
    assert "cannot reach the Kubernetes API server" in result.stderr
    assert result.json()["type"] == "cluster_error"


def test_forbidden_names_verb_resource_and_namespace(cli, apiserver):
    apiserver.forbidden.add(("create", "secrets", NS))
    result = cli("infra", "up")
    assert result.exit_code == 6
    assert "forbidden: cannot create secrets in namespace 'salesops'" in result.stderr
    assert "'create' on secrets" in result.stderr


def test_missing_trainer_crd(cli, apiserver):
    cli("infra", "up")
    apiserver.installed_crds.discard("trainjobs")
    result = cli("train", "submit")
    assert result.exit_code == 6
    assert "Kubeflow Trainer" in result.stderr and "not installed" in result.stderr


def test_missing_kserve_crd(cli, apiserver):
    cli("infra", "up")
    apiserver.installed_crds.discard("inferenceservices")
    result = cli("serve", "deploy")
    assert result.exit_code == 6 and "KServe" in result.stderr and "not installed" in result.stderr


def test_missing_namespace_is_not_a_missing_crd(cli, apiserver):
    result = cli("train", "submit")
    assert result.exit_code == 4
    assert "not installed" not in result.stderr
    assert "namespace 'salesops' does not exist (run `salesops infra up` first)" in result.stderr


def test_server_errors_are_retried(cli, apiserver, monkeypatch):
    from salesops.backends.kubernetes import client

    monkeypatch.setattr(client, "RETRY_WAIT_S", 0.01)
    calls = {"n": 0}
    original = apiserver.handle

    def flaky(method, path, *args):
        calls["n"] += 1
        if calls["n"] <= 2:
            return 503, {"kind": "Status", "code": 503, "message": "etcd leader changed"}
        return original(method, path, *args)

    apiserver.handle = flaky
    result = cli("--json", "infra", "status")
    assert result.exit_code == 0, result.stderr
