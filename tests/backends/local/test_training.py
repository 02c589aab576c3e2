"""The local training backend: what it refuses (a local run has no object to print or to
follow) and the records it returns; and `train` on the local backend through the CLI."""

from __future__ import annotations

import pytest

from salesops.backends import training_backend
from salesops.backends.base import TrainRecord, TrainRequest
from salesops.backends.local.training import LocalTraining
from salesops.config import load_settings
from salesops.errors import PreconditionError, UsageError

KUBERNETES_ONLY = ("is for backend.kind = kubernetes (it prints or follows Kubernetes "
                   "objects)")


@pytest.fixture
def local(workspace) -> LocalTraining:
    backend = training_backend(load_settings(overrides={"training": {"nodes": 1}}))
    assert isinstance(backend, LocalTraining) and backend.completes_in_submit
    return backend


@pytest.mark.parametrize("call, what", [
    (lambda b: b.manifests(TrainRequest()), "--dry-run"),
    (lambda b: b.status("x"), "`train status`"),
    (lambda b: b.logs("x"), "`train logs`"),
    (lambda b: b.wait("x", print, print), "--wait"),
    (lambda b: b.submit(TrainRequest(wait=True), print), "--wait"),
])
def test_what_only_kubernetes_has_is_a_usage_error_in_one_line(local, call, what):
    with pytest.raises(UsageError) as err:
        call(local)
    assert err.value.message == f"{what} {KUBERNETES_ONLY}"
    assert err.value.hint == 'set [backend] kind = "kubernetes"'
    assert err.value.exit_code == 2


def test_submit_checks_its_inputs_before_it_launches_anything(local):
    steps, calls = [], []

    def missing() -> None:
        raise PreconditionError("no features to train on")

    request = TrainRequest(worker=calls.append, publish=calls.append, require_inputs=missing,
                           preflight=lambda: calls.append("preflight"))
    with pytest.raises(PreconditionError):
        local.submit(request, steps.append)
    assert steps == ["building the training set from the feature store"] and calls == []


def test_submit_runs_the_worker_then_publishes_its_result(local):
    steps = []
    request = TrainRequest(worker=_worker, worker_args=(3,),
                           publish=lambda result: {"run_id": "r1", "reason": "better",
                                                   "value": result})
    record = local.submit(request, steps.append)
    assert record.finished and record.state == "Complete" and record.name == "r1"
    assert record.to_dict() == {"run_id": "r1", "reason": "better", "value": (3, "0", "1")}


def test_one_node_trains_in_this_process_with_no_thread_beside_it(workspace):
    """With one node the rank is this process: `meanwhile` would take the GIL from the
    training (at the lowest priority, on a busy machine, 3x the run's time), so it does
    not run; with two it does, in this process while the ranks train in theirs."""
    import threading

    ran = []
    for nodes in (1, 2):
        backend = training_backend(load_settings(overrides={"training": {"nodes": nodes}}))
        request = TrainRequest(worker=_worker, worker_args=(nodes,), publish=lambda r: {},
                               meanwhile=lambda: ran.append(threading.current_thread().name))
        backend.submit(request, lambda step: None)
    assert ran == ["salesops-meanwhile"]


def _worker(value: int):
    import os

    return value, os.environ["RANK"], os.environ["WORLD_SIZE"]


def test_a_trainjob_record_gives_today_s_json():
    record = TrainRecord(name="j", namespace="ns", state="Created", nodes=2)
    assert not record.finished
    assert record.to_dict() == {"name": "j", "namespace": "ns", "state": "Created",
                                "message": "", "nodes": 2, "conditions": [], "jobs": []}


def test_cli_refuses_status_logs_and_wait_on_the_local_backend(cli, workspace):
    for args, what in ((["train", "status", "x"], "`train status`"),
                       (["train", "logs", "x"], "`train logs`"),
                       (["train", "submit", "--wait"], "--wait"),
                       (["train", "submit", "--dry-run", "--wait"], "--dry-run")):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert f"error: {what} {KUBERNETES_ONLY}" in result.stderr
        assert result.stdout == ""


def _bad_data_worker():
    from salesops.errors import DataError

    raise DataError("week 12 has no sales", hint="check the raw files")


def _dying_worker():
    import os

    if os.environ["RANK"] == "1":
        os._exit(9)
    import time

    time.sleep(60)


@pytest.mark.parametrize("nodes", [1, 2])
def test_a_worker_s_error_reaches_the_caller_with_its_kind_and_exit_code(workspace, nodes):
    from salesops.errors import DataError

    backend = training_backend(load_settings(overrides={"training": {"nodes": nodes}}))
    published = []
    with pytest.raises(DataError) as err:
        backend.submit(TrainRequest(worker=_bad_data_worker, publish=published.append), print)
    assert (err.value.message, err.value.hint, err.value.exit_code) == (
        "week 12 has no sales", "check the raw files", 3)
    assert published == []


@pytest.mark.slow
def test_a_rank_that_dies_fails_the_run_and_registers_nothing(workspace):
    from salesops.errors import CheckFailed

    backend = training_backend(load_settings(overrides={"training": {"nodes": 2}}))
    published = []
    with pytest.raises(CheckFailed) as err:
        backend.submit(TrainRequest(worker=_dying_worker, publish=published.append), print)
    assert err.value.message == "training failed: rank 1 exited with code 9 without a result"
    assert err.value.hint == "nothing was registered" and published == []
