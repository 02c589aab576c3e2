"""The monitoring loop on the cluster: `drift --schedule CRON` creates the CronJob whose
pod appends the week's data and runs `drift --retrain` (with the identity that lets it
submit a TrainJob and update the InferenceService); a second call replaces the schedule;
`--schedule off` removes it; `--dry-run` prints it. Against the stand-in API server."""

from __future__ import annotations

import pytest

from salesops.backends.kubernetes.cronjob_spec import (APPEND_COMMAND, DRIFT_COMMAND,
                                                       EXIT_ZERO_AFTER_RETRAIN, NAME, SCHEDULER)
from tests.backends.kubernetes.test_dry_run import docs, k8s, validate  # noqa: F401
from tests.backends.kubernetes.test_feature_job import strict

NS = "salesops"
OBJECTS = [("serviceaccounts", SCHEDULER), ("roles", SCHEDULER), ("rolebindings", SCHEDULER),
           ("cronjobs", NAME)]


@pytest.mark.slow  # the validator's process: ~3 s
def test_dry_run_prints_the_cronjob_and_its_identity(cli, k8s, validate, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SALESOPS_KUBERNETES__CONTEXT", "my-laptop-context")
    result = cli("drift", "--schedule", "0 6 * * 1", "--dry-run")
    assert result.exit_code == 0, result.stderr
    objects = docs(result.stdout)
    assert [o["kind"] for o in objects] == ["ServiceAccount", "Role", "RoleBinding", "CronJob"]
    cron = objects[-1]
    spec = cron["spec"]
    assert spec["schedule"] == "0 6 * * 1" and spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid" and spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] == 3 and spec["failedJobsHistoryLimit"] == 3
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0  # a rerun would retrain again
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == SCHEDULER and pod["automountServiceAccountToken"]
    assert [(c["name"], c["command"]) for c in pod["initContainers"]] == [
        ("workspace", ["salesops", "infra", "up"]), ("append", APPEND_COMMAND)]
    (drift,) = pod["containers"]
    assert drift["command"] == DRIFT_COMMAND and EXIT_ZERO_AFTER_RETRAIN in DRIFT_COMMAND
    env = {e["name"]: e.get("value") for e in drift["env"]}
    assert env["SALESOPS_BACKEND__KIND"] == "kubernetes"  # it submits the TrainJob
    assert env["SALESOPS_KUBERNETES__NAMESPACE"] == NS
    assert "SALESOPS_KUBERNETES__CONTEXT" not in env  # in the cluster: the service account
    append_env = {e["name"] for e in pod["initContainers"][1]["env"]}
    assert "SALESOPS_BACKEND__KIND" not in append_env  # the append builds in the pod
    validate(result.stdout)
    strict(objects)


def test_schedule_creates_then_replaces_then_removes(cli, namespace):
    created = cli("--json", "drift", "--schedule", "0 6 * * 1")
    assert created.exit_code == 0, created.stderr
    assert set(created.json()["objects"].values()) == {"created"}
    for plural, name in OBJECTS:
        assert namespace.get(plural, NS, name) is not None, plural
        assert namespace.get(plural, NS, name)["metadata"]["labels"][
            "app.kubernetes.io/managed-by"] == "salesops"

    same = cli("--json", "drift", "--schedule", "0  6 * * 1")
    assert set(same.json()["objects"].values()) == {"unchanged"}
    replaced = cli("--json", "drift", "--schedule", "@daily")
    assert replaced.exit_code == 0, replaced.stderr
    assert replaced.json()["objects"][f"CronJob/{NAME}"] == "updated"
    assert namespace.get("cronjobs", NS, NAME)["spec"]["schedule"] == "@daily"
    assert [k for k in namespace.objects if k[0] == "cronjobs"] == [("cronjobs", NS, NAME)]

    # a tick's Job, owned by the CronJob, goes with it
    cron = namespace.get("cronjobs", NS, NAME)
    namespace.objects[("jobs", NS, f"{NAME}-29000000")] = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": f"{NAME}-29000000", "namespace": NS, "uid": "tick",
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                          "name": NAME, "uid": cron["metadata"]["uid"]}]}}
    removed = cli("--json", "drift", "--schedule", "off")
    assert removed.exit_code == 0, removed.stderr
    assert removed.json()["schedule"] is None
    assert set(removed.json()["objects"].values()) == {"removed"}
    assert not [k for k in namespace.objects if k[0] in ("cronjobs", "jobs", "roles")]
    again = cli("--json", "drift", "--schedule", "off")
    assert set(again.json()["objects"].values()) == {"missing"}


def test_a_bad_schedule_and_the_local_backend_are_refused(cli, k8s, monkeypatch):  # noqa: F811
    bad = cli("drift", "--schedule", "every monday", "--dry-run")
    assert bad.exit_code == 2 and "is not a cron schedule: 2 fields" in bad.stderr and bad.stdout == ""
    alone = cli("drift", "--dry-run")
    assert alone.exit_code == 2 and "--schedule CRON" in alone.stderr
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "local")
    local = cli("drift", "--schedule", "0 6 * * 1")
    assert local.exit_code == 2 and "--schedule is for backend.kind = kubernetes" in local.stderr


@pytest.mark.parametrize(("args", "said"), [
    (["--schedule", "99 99 * * *", "--dry-run"], "minute: '99' is outside 0-59"),
    (["--schedule", "0 6 * *", "--dry-run"], "4 fields, a schedule has 5"),
    (["--schedule", "0 6 * * 1", "--retrain", "--dry-run"], "--schedule takes only --dry-run"),
    (["--schedule", "0 6 * * 1", "--report", "r.html"], "not --report"),
    (["--schedule", "0 6 * * 1", "--current-weeks", "3"], "not --current-weeks"),
    (["--exit-zero-after-retrain"], "--exit-zero-after-retrain goes with --retrain"),
])
def test_options_that_do_not_go_together_are_usage_errors(cli, k8s, args, said):  # noqa: F811
    """A cron typo reached the API server (422, exit 6), and options beside --schedule were
    silently ignored."""
    result = cli("drift", *args)
    assert result.exit_code == 2, result.stderr
    assert said in result.stderr and result.stdout == ""


def test_a_schedule_over_imported_data_is_refused(cli, k8s, monkeypatch, tmp_path):  # noqa: F811
    """Each tick's `features build --append-weeks 1` exits 2 on anything but clean synthetic
    data, so the loop would never reach drift: refused when it is scheduled."""
    monkeypatch.setenv("SALESOPS_DATA__REALISM", "retail")
    result = cli("drift", "--schedule", "@weekly", "--dry-run")
    assert result.exit_code == 2 and "clean synthetic data only" in result.stderr
