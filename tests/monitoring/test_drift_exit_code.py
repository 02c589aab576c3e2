"""`drift`'s exit code, and `--exit-zero-after-retrain` (what the drift CronJob runs: a tick
that found drift and retrained is a Job that succeeded)."""

import pytest

from salesops.cli.drift import exit_code

RAN = {"ran": True, "version": "2", "promoted": False, "reason": "the gate kept it"}


@pytest.mark.parametrize(("drift", "retrain", "flag", "code"), [
    (False, None, False, 0),
    (True, None, False, 1),
    (True, None, True, 1),  # drift, but nothing retrained
    (True, RAN, False, 1),
    (True, RAN, True, 0),
    (True, {**RAN, "promoted": True}, True, 0),
    (True, {"ran": True, "error": "training failed", "promoted": False}, True, 1),
    (True, {"ran": True, "trainjob": "t", "state": "Failed", "promoted": False}, True, 1),
    (True, {"ran": True, "trainjob": "t", "state": "Complete", "promoted": False}, True, 0),
])
def test_exit_code(drift, retrain, flag, code):
    assert exit_code(drift, retrain, flag) == code


def test_a_promoted_champion_that_could_not_be_deployed_fails_the_tick():
    """The CronJob's Job was green although the new champion was never deployed (a refused
    patch was only a `reason` string)."""
    from salesops.monitoring.redeploy import NOT_RUNNING

    promoted = {**RAN, "promoted": True}
    failed = {**promoted, "deploy": {"deployed": False, "version": "2",
                                     "reason": "not deployed: forbidden: cannot patch"}}
    assert exit_code(True, failed, True) == 1
    idle = {**promoted, "deploy": {"deployed": False, "version": "2", "reason": NOT_RUNNING}}
    assert exit_code(True, idle, True) == 0
    done = {**promoted, "deploy": {"deployed": True, "version": "2", "reason": "deployed v2"}}
    assert exit_code(True, done, True) == 0
