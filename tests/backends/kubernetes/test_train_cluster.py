"""`train submit` (a TrainJob), `--wait` through its conditions and node 0's log, `train
status`, `train logs`, against the stand-in."""

from __future__ import annotations

from salesops.backends.kubernetes.trainjob import first_node_selector
from tests.backends.kubernetes.conftest import later

NS = "salesops"


def trainjobs(apiserver) -> list[str]:
    return [name for (plural, _, name) in apiserver.objects if plural == "trainjobs"]


def run_job(apiserver, outcome: dict, log: list[str]):
    """Play Trainer + JobSet: once the job exists, node 0's pod runs and writes its log,
    then the job reaches `outcome`."""
    def act():
        (name,) = trainjobs(apiserver)
        apiserver.set_status("trainjobs", NS, name, {"jobsStatus": [{"name": "node", "active": 2}]})
        labels = dict(part.split("=") for part in first_node_selector(name).split(","))
        apiserver.add_pod(NS, f"{name}-node-0-0-abcde", labels, "Running", log)
        apiserver.set_status("trainjobs", NS, name, {"conditions": [outcome]})

    return later(lambda: bool(trainjobs(apiserver)), act)


def test_submit_creates_a_new_trainjob_each_time(cli, namespace):
    first = cli("--json", "train", "submit", "--nodes", "2")
    second = cli("--json", "train", "submit", "--nodes", "2")
    assert first.exit_code == 0, first.stderr
    assert first.json()["state"] == "Created" and first.json()["nodes"] == 2
    assert first.json()["name"] != second.json()["name"]
    assert len(trainjobs(namespace)) == 2


def test_wait_follows_conditions_and_logs_to_success(cli, namespace):
    thread = run_job(namespace, {"type": "Complete", "status": "True", "reason": "JobsCompleted",
                                 "message": "TrainJob is completed"}, ["epoch 1 wape 9.1", "done"])
    result = cli("--json", "train", "submit", "--nodes", "2", "--wait")
    thread.join()
    assert result.exit_code == 0, result.stderr
    assert result.json()["state"] == "Complete"
    assert "epoch 1 wape 9.1" in result.stderr and "done" in result.stderr
    assert ": Complete (TrainJob is completed)" in result.stderr


def test_wait_exits_1_when_the_job_fails(cli, namespace):
    thread = run_job(namespace, {"type": "Failed", "status": "True", "reason": "JobFailed",
                                 "message": "jobset failed: node-0 exited 1"}, ["Traceback"])
    result = cli("train", "submit", "--wait")
    thread.join()
    assert result.exit_code == 1
    assert "failed: jobset failed: node-0 exited 1" in result.stderr
    assert "Traceback" in result.stderr


def test_status_and_logs_of_a_job(cli, namespace):
    thread = run_job(namespace, {"type": "Complete", "status": "True"}, ["line one", "line two"])
    name = cli("--json", "train", "submit").json()["name"]
    thread.join()
    status = cli("--json", "train", "status", name)
    assert status.exit_code == 0 and status.json()["state"] == "Complete"
    logs = cli("train", "logs", name)
    assert logs.exit_code == 0 and logs.stdout == "line one\nline two\n"
    missing = cli("train", "status", "salesops-train-nope")
    assert missing.exit_code == 4 and "no TrainJob 'salesops-train-nope'" in missing.stderr
