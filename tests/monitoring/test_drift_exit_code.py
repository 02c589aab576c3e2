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
