"""`salesops.polling.poll`: the one wait loop."""

from __future__ import annotations

import time

import pytest

from salesops.polling import poll


def test_returns_the_first_answer_without_sleeping():
    slept = []
    assert poll(lambda: "ready", 10, 1, sleep=slept.append) == "ready"
    assert slept == []


def test_asks_until_an_answer_sleeping_the_interval_between():
    answers = iter([None, False, None, {"url": "x"}])
    slept = []
    assert poll(lambda: next(answers), 10, 0.25, sleep=slept.append) == {"url": "x"}
    assert slept == [0.25, 0.25, 0.25]


def test_falsy_answers_other_than_none_and_false_count():
    """0 or an empty list is an answer (a count, a list of what failed), not "not yet"."""
    assert poll(lambda: 0, 1, 0.01) == 0
    assert poll(lambda: [], 1, 0.01) == []


def test_times_out_with_none_after_one_last_look():
    calls = []
    started = time.monotonic()
    assert poll(lambda: calls.append(time.monotonic()), 0.2, 0.05) is None
    assert time.monotonic() - started >= 0.2
    assert calls[-1] - started > 0.2  # asked once more after the deadline
    assert len(calls) >= 3


def test_a_zero_timeout_asks_once():
    calls = []
    assert poll(lambda: calls.append(1), 0, 5, sleep=lambda s: None) is None
    assert calls == [1]


def test_no_timeout_waits_for_the_answer():
    answers = iter([None] * 50 + ["done"])
    assert poll(lambda: next(answers), None, 0, sleep=lambda s: None) == "done"


def test_the_condition_ends_the_wait_by_raising():
    def dead():
        raise RuntimeError("the server exited")

    with pytest.raises(RuntimeError, match="exited"):
        poll(dead, 10, 0.01)
