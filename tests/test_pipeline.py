"""`pipeline run`: the whole local lifecycle, idempotent on re-run (a real server on loopback)."""

import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def small_config(workspace, monkeypatch):
    for key, value in {"DATA__STORES": "3", "DATA__DEPTS": "4", "DATA__WEEKS": "100",
                       "TRAINING__EPOCHS": "2", "TRAINING__HOLDOUT_WEEKS": "8",
                       "SERVING__PORT": str(free_port())}.items():
        monkeypatch.setenv(f"SALESOPS_{key}", value)
    return workspace


def _states(result) -> dict[str, str]:
    return {step["name"]: step["state"] for step in result.json()["steps"]}


def test_pipeline_runs_the_lifecycle_and_reruns_only_what_is_stale(cli, small_config):
    try:
        # A champion on these features exists (forced: 2 epochs on 12 series would not pass
        # the gate), so the first run builds, skips training, deploys and predicts.
        assert cli("infra", "up").exit_code == 0
        assert cli("features", "build").exit_code == 0
        assert cli("train", "submit", "--force-promote").exit_code == 0
        first = cli("pipeline", "run", "--json")
        assert first.exit_code == 0, first.stderr
        assert _states(first) == {"infra up": "skipped", "features build": "skipped",
                                  "train submit": "skipped", "serve deploy": "done",
                                  "predict": "done"}
        summary = first.json()
        assert summary["model_version"] == "1" and len(summary["predictions"]) == 3
        assert all(p["forecast"] >= 0 and p["week"] for p in summary["predictions"])

        again = cli("pipeline", "run", "--json")
        assert _states(again)["serve deploy"] == "skipped"
        assert again.json()["url"] == summary["url"]

        # New weeks make the champion stale: a model is trained on them; whatever the gate
        # says, v1 stays champion or v2 replaces it, and the server serves the champion.
        assert cli("features", "build", "--append-weeks", "1").exit_code == 0
        third = cli("pipeline", "run", "--json")
        assert third.exit_code == 0, third.stderr
        states = _states(third)
        assert states["features build"] == "skipped" and states["train submit"] == "done"
        champion = cli("models", "list", "--json").json()
        serving = next(r["version"] for r in champion if "champion" in r["aliases"])
        assert third.json()["model_version"] == serving
    finally:
        cli("serve", "stop")


def test_pipeline_without_a_passing_model_fails_cleanly(cli, small_config, monkeypatch):
    monkeypatch.setenv("SALESOPS_TRAINING__PROMOTE_MARGIN", "0.99")  # nothing can pass
    result = cli("pipeline", "run")
    assert result.exit_code == 1
    assert "no champion to serve" in result.stderr
    assert cli("serve", "status", "--json").json()["running"] is False


def test_pipeline_refuses_the_kubernetes_backend(cli, workspace, monkeypatch):
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "kubernetes")
    result = cli("pipeline", "run")
    assert result.exit_code == 2 and "train submit --wait" in result.stderr
