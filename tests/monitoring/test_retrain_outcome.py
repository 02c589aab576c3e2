"""How `drift --retrain` reads a retraining that ran elsewhere (a TrainJob: the gate runs
in its pod, the registry tells), and when a deploy record shows a server to hand over to."""

from salesops.monitoring.drift import trainjob_outcome
from salesops.monitoring.redeploy import serving

JOB = {"name": "salesops-train-abc", "namespace": "salesops"}


def test_a_completed_trainjob_that_moved_the_champion_promoted_it():
    outcome = trainjob_outcome({**JOB, "state": "Complete"}, before="3", after="4")
    assert (outcome["promoted"], outcome["version"]) == (True, "4")
    assert outcome["reason"] == "TrainJob salesops-train-abc Complete; the gate promoted v4"


def test_a_trainjob_that_left_the_champion_or_failed_promoted_nothing():
    for state, after, champion in (("Complete", "3", "still v3"), ("Failed", "3", "still v3"),
                                   ("Failed", "4", "v4")):  # moved, but the job failed
        outcome = trainjob_outcome({**JOB, "state": state}, before="3", after=after)
        assert (outcome["promoted"], outcome["version"]) == (False, None), state
        assert f"the champion is {champion} (" in outcome["reason"]
    first = trainjob_outcome({**JOB, "state": "Complete"}, before=None, after="1")
    assert first["promoted"] and first["version"] == "1"


def test_a_deploy_record_shows_a_server_on_either_backend():
    assert serving({"running": True, "pid": 12, "model_version": "1"})  # local
    assert serving({"name": "salesops", "exists": True, "ready": False})  # InferenceService
    assert not serving({"running": False, "pid": None})
    assert not serving({"name": "salesops", "exists": False, "ready": False})
