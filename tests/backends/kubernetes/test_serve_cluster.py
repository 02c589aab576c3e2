"""`serve deploy | status | stop | promote | rollback` with an InferenceService, against the
stand-in (the test plays the KServe controller)."""

from __future__ import annotations

from salesops.backends.kubernetes import names
from tests.backends.kubernetes.conftest import later

NS = "salesops"
URL = "http://salesops.salesops.example.com"


def isvc(apiserver) -> dict | None:
    return apiserver.get("inferenceservices", NS, names.INFERENCE_SERVICE)


def become_ready(apiserver):
    """Not ready first (the predictor starts), then Ready for the current generation."""
    def act():
        apiserver.set_status("inferenceservices", NS, names.INFERENCE_SERVICE, {"conditions": [
            {"type": "PredictorReady", "status": "False", "reason": "ContainerCreating"},
            {"type": "Ready", "status": "False"}]})
        generation = isvc(apiserver)["metadata"]["generation"]
        apiserver.set_status("inferenceservices", NS, names.INFERENCE_SERVICE, {
            "observedGeneration": generation, "url": URL,
            "conditions": [{"type": "PredictorReady", "status": "True"},
                           {"type": "Ready", "status": "True"}],
            "components": {"predictor": {"traffic": [
                {"revisionName": "salesops-predictor-00001", "percent": 100,
                 "latestRevision": True}]}}})

    polled = f"/inferenceservices/{names.INFERENCE_SERVICE}"
    return later(lambda: any(p.endswith(polled) for p in apiserver.verbs("GET")), act)


def test_deploy_wait_prints_the_url(cli, namespace):
    thread = become_ready(namespace)
    result = cli("--json", "serve", "deploy", "--model-version", "3", "--wait")
    thread.join()
    assert result.exit_code == 0, result.stderr
    assert result.json()["ready"] is True and result.json()["url"] == URL
    assert f"ready at {URL}" in result.stderr
    predictor = isvc(namespace)["spec"]["predictor"]
    assert predictor["containers"][0]["command"][-2:] == ["--model-version", "3"]
    status = cli("--json", "serve", "status").json()
    assert status["model"] == "--model-version 3" and status["traffic"][0]["percent"] == 100


def test_deploy_without_wait_returns_at_once_and_stop_deletes(cli, namespace):
    result = cli("--json", "serve", "deploy")
    assert result.exit_code == 0 and result.json()["ready"] is False
    assert isvc(namespace)["spec"]["predictor"]["containers"][0]["command"][-2:] == [
        "--alias", "champion"]
    stopped = cli("--json", "serve", "stop")
    assert stopped.json()["stopped"] is True and isvc(namespace) is None
    assert cli("--json", "serve", "status").json()["exists"] is False


def test_knative_canary_promote_and_rollback(cli, namespace, monkeypatch):
    monkeypatch.setenv("SALESOPS_KUBERNETES__DEPLOYMENT_MODE", "Knative")
    no_base = cli("serve", "deploy", "--canary", "10")
    assert no_base.exit_code == 4 and "deploy once without --canary" in no_base.stderr
    assert cli("serve", "deploy", "--model-version", "3").exit_code == 0
    assert cli("serve", "promote").exit_code == 4  # no canary yet

    canary = cli("--json", "serve", "deploy", "--model-version", "4", "--canary", "20")
    assert canary.exit_code == 0, canary.stderr
    predictor = isvc(namespace)["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 20
    assert predictor["containers"][0]["command"][-1] == "4"
    rolled = cli("--json", "serve", "rollback")
    assert rolled.exit_code == 0 and rolled.json()["canary_percent"] == 0

    cli("serve", "deploy", "--model-version", "5", "--canary", "30")
    promoted = cli("--json", "serve", "promote")
    assert promoted.exit_code == 0 and promoted.json()["canary_percent"] is None
    assert "canaryTrafficPercent" not in isvc(namespace)["spec"]["predictor"]

    cli("serve", "deploy", "--model-version", "6", "--canary", "30")
    cli("serve", "deploy", "--model-version", "6")  # a plain deploy ends the split
    assert "canaryTrafficPercent" not in isvc(namespace)["spec"]["predictor"]


def test_standard_mode_has_no_canary_traffic_to_move(cli, namespace):
    result = cli("serve", "promote")
    assert result.exit_code == 2 and "custom container" in result.stderr


def test_promote_needs_kubernetes(cli, monkeypatch):
    monkeypatch.delenv("SALESOPS_BACKEND__KIND", raising=False)
    result = cli("serve", "rollback")
    assert result.exit_code == 2 and "backend.kind = kubernetes" in result.stderr


def test_drift_retrain_rolls_the_inference_service_to_a_promoted_champion(cli, namespace):
    """`drift --retrain` trained and promoted, but the predictor kept serving the old version:
    the new champion is now deployed where an InferenceService serves (its predictor rolls)."""
    from salesops.config import load_settings
    from salesops.monitoring.redeploy import deploy_champion

    assert cli("serve", "deploy", "--model-version", "1").exit_code == 0
    lines = []
    outcome = deploy_champion(load_settings(), "2", None, lines.append)
    assert outcome["deployed"] is True and outcome["version"] == "2", outcome
    command = isvc(namespace)["spec"]["predictor"]["containers"][0]["command"]
    assert command[-2:] == ["--model-version", "2"]
    assert isvc(namespace)["metadata"]["generation"] == 2


def test_drift_retrain_starts_no_inference_service(namespace):
    """Nothing served, nothing started: a retraining is no reason to begin serving."""
    from salesops.config import load_settings
    from salesops.monitoring.redeploy import NOT_RUNNING, deploy_champion

    outcome = deploy_champion(load_settings(), "2", None, lambda line: None)
    assert outcome == {"deployed": False, "version": "2", "reason": NOT_RUNNING}
    assert isvc(namespace) is None
