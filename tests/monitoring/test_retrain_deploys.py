"""`drift --retrain`: a champion the gate promotes is deployed where a server runs (the
running local server hands over to the new version), and nowhere when none runs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def promoting_gate(cli, drift_ws, monkeypatch):
    """Drifted data (demand 40 % down) and a gate that promotes: the gate's own `force`
    path, the one `train submit --force-promote` takes. A model of a few epochs on the test
    data never beats the last-week baseline, so `auto` would refuse; the gate itself is
    tested in tests/training, this is about what follows a promotion. (`--nodes 1` trains
    in this process, so the gate called is this one.)"""
    from salesops.training import registry

    decide = registry.decide
    monkeypatch.setattr(registry, "decide", lambda bars, margin, champion, mode: decide(
        bars, margin, champion, "force"))
    monkeypatch.setenv("SALESOPS_TRAINING__EPOCHS", "2")
    assert cli("features", "build", "--append-weeks", "8", "--shift",
               "demand=0.6").exit_code == 0
    return drift_ws


def test_a_promoted_champion_takes_over_the_running_server(cli, promoting_gate):
    try:
        assert cli("serve", "deploy").exit_code == 0
        before = cli("serve", "status", "--json").json()
        assert before["model_version"] == "1"
        result = cli("drift", "--retrain")
        assert result.exit_code == 1, result.stderr  # drift found (and handled)
        assert "retrained: v2 promoted" in result.stdout
        assert "new champion: deployed v2 at " in result.stdout
        after = cli("serve", "status", "--json").json()
        assert (after["model_version"], after["running"], after["ready"]) == ("2", True, True)
        assert after["pid"] != before["pid"] and after["url"] == before["url"]
        answer = cli("predict", "--store", "1", "--dept", "1", "--json").json()
        assert answer["model_version"] == "2"
    finally:
        assert cli("serve", "stop").exit_code == 0


def test_without_a_running_server_it_says_it_did_not_deploy(cli, promoting_gate):
    result = cli("drift", "--retrain", "--json")
    assert result.exit_code == 1, result.stderr
    retrain = result.json()["retrain"]
    assert (retrain["version"], retrain["promoted"]) == ("2", True)
    assert retrain["deploy"] == {"deployed": False, "version": "2",
                                 "reason": "not deployed: no server running"}
    assert cli("serve", "status", "--json").json()["running"] is False  # none was started
    text = cli("drift", "--retrain")  # v3, the same way, said in words
    assert "new champion: not deployed: no server running" in text.stdout
