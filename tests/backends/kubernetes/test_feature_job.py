"""`features build` on Kubernetes is a batch/v1 Job whose pod runs the same command next to
the cluster's Postgres (issue 15, defect 7: it needed a port-forward from the laptop):
`--dry-run` prints it, `--wait` follows it and its log to the end, a failed Job exits 1 with
its container's error in one line; `features status | logs`; `--local` builds here."""

from __future__ import annotations

import pytest
import yaml

from salesops.backends.kubernetes.job_spec import BUILD, JOB_NAME_LABEL, WORKSPACE
from tests.backends.kubernetes.conftest import later
from tests.backends.kubernetes.test_dry_run import docs, k8s, validate  # noqa: F401
from tests.conftest import SMALL

NS = "salesops"


def strict(manifests: list[dict]) -> None:
    """kubernetes-validate, strict (unknown fields are errors), at its newest schema."""
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")
    for manifest in manifests:
        kv.validate(manifest, kv.latest_version(), strict=True)


def jobs(apiserver) -> list[dict]:
    return [obj for (plural, _, _), obj in apiserver.objects.items() if plural == "jobs"]


def run_job(apiserver, outcome: dict, log: list[str], container_status: dict | None = None,
            init_failure: tuple[dict, list[str]] | None = None):
    """Play the Job controller and the kubelet: once the Job exists, its pod runs and
    writes its log, then the Job reaches `outcome`. `init_failure`: the workspace init
    container's status and log; the build never starts."""
    def act():
        (job,) = jobs(apiserver)
        name = job["metadata"]["name"]
        apiserver.set_status("jobs", NS, name, {"active": 1})
        status = {"containerStatuses": [container_status]} if container_status else None
        init_logs, phase = {WORKSPACE: []}, "Running"
        if init_failure is not None:
            status = {"initContainerStatuses": [init_failure[0]]}
            init_logs, phase = {WORKSPACE: init_failure[1]}, "Failed"
        apiserver.add_pod(NS, f"{name}-x7k2p", {JOB_NAME_LABEL: name, "job-name": name},
                          phase, log, containers=(BUILD,), status=status, owner=job,
                          init_logs=init_logs)
        apiserver.set_status("jobs", NS, name, {"conditions": [outcome]})

    return later(lambda: bool(jobs(apiserver)), act)


@pytest.mark.slow  # the validator's process: ~3 s
def test_dry_run_prints_a_valid_job_running_the_same_build(cli, k8s, validate):  # noqa: F811
    result = cli("features", "build", "--stores", "5", "--weeks", "80", "--append-weeks", "2",
                 "--shift", "temperature=+10", "--dry-run")
    assert result.exit_code == 0, result.stderr
    (job,) = docs(result.stdout)
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    assert job["metadata"]["name"].startswith("salesops-features-")
    assert job["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "salesops"
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] > 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (init,) = pod["initContainers"]
    (build,) = pod["containers"]
    assert init["name"] == WORKSPACE and init["command"] == ["salesops", "infra", "up"]
    assert build["command"] == ["salesops", "features", "build", "--stores", "5", "--weeks",
                                "80", "--append-weeks", "2", "--shift", "temperature=+10"]
    env = {e["name"]: e.get("value") for e in build["env"]}
    assert "SALESOPS_BACKEND__KIND" not in env  # the pod builds in the pod
    assert env["SALESOPS_FEATURE_STORE__PROFILE"] == "postgres"
    assert "@salesops-postgres.salesops.svc:5432/" in env["SALESOPS_FEATURE_STORE__POSTGRES_URL"]
    assert env["SALESOPS_DATA__STORES"] == "5"
    validate(result.stdout)
    strict([job])


def test_dry_run_json_is_a_list_and_local_backends_refuse(cli, k8s, monkeypatch):  # noqa: F811
    result = cli("--json", "features", "build", "--dry-run")
    assert result.exit_code == 0 and result.json()["items"][0]["kind"] == "Job"
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "local")
    refused = cli("features", "build", "--dry-run")
    assert refused.exit_code == 2 and "backend.kind = kubernetes" in refused.stderr
    both = cli("features", "build", "--dry-run", "--wait")
    assert both.exit_code == 2 and "exclude each other" in both.stderr
    waited = cli("features", "build", "--wait")  # refused before building, not after
    assert waited.exit_code == 2 and "--wait is for backend.kind = kubernetes" in waited.stderr
    assert "no workspace" not in waited.stderr


def test_a_csv_import_is_refused_for_a_job(cli, k8s, tmp_path):  # noqa: F811
    result = cli("features", "build", "--path", str(tmp_path), "--dry-run")
    assert result.exit_code == 2
    assert "a Job's pod cannot see" in result.stderr and "--local" in result.stderr


def test_submit_creates_the_job_and_says_how_to_follow_it(cli, namespace):
    result = cli("--json", "features", "build", "--seed", "7")
    assert result.exit_code == 0, result.stderr
    record = result.json()
    assert record["state"] == "Created" and record["namespace"] == NS
    (job,) = jobs(namespace)
    assert job["metadata"]["name"] == record["name"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["--seed", "7"]
    assert f"salesops features logs {record['name']} --follow" in result.stderr


def test_wait_streams_the_log_to_success(cli, namespace):
    thread = run_job(namespace, {"type": "Complete", "status": "True"},
                     ["data: 65,520 rows read",
                      "wrote the week of 2025-01-03 for 630 series online"])
    result = cli("--json", "features", "build", "--wait")
    thread.join()
    assert result.exit_code == 0, result.stderr
    assert result.json()["state"] == "Complete"
    assert "data: 65,520 rows read" in result.stderr
    assert "for 630 series online" in result.stderr
    assert ": Complete" in result.stderr
    assert "salesops features logs" not in result.stderr  # followed already


def test_wait_on_a_failed_job_exits_1_with_the_containers_error(cli, namespace):
    error = "error: the data has 20 weeks (2023-01-06 … 2023-05-19); training needs at least 30"
    thread = run_job(
        namespace,
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
         "message": "Job has reached the specified backoff limit"},
        ["data: 1,120 rows read", error],
        {"name": BUILD, "image": "x", "imageID": "x", "ready": False, "restartCount": 0,
         "state": {"terminated": {"exitCode": 3, "reason": "Error",
                                  "message": f"data: 1,120 rows read\n{error}\n"}}})
    result = cli("features", "build", "--weeks", "80", "--wait")
    thread.join()
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Job salesops-features-")
    assert last.endswith(f"failed: container build exited 3: {error}")
    assert "data: 1,120 rows read" in result.stderr  # the log, streamed


def test_wait_on_a_failed_workspace_init_shows_its_log_and_error(cli, namespace):
    """The build container never started: its log cannot be read, the init container's is
    what tells."""
    error = "error: PostgreSQL at salesops-postgres.salesops.svc:5432 does not answer"
    state = {"name": WORKSPACE, "image": "x", "imageID": "x", "ready": False,
             "restartCount": 0, "state": {"terminated": {"exitCode": 5, "message": error}}}
    thread = run_job(namespace, {"type": "Failed", "status": "True",
                                 "reason": "BackoffLimitExceeded",
                                 "message": "Job has reached the specified backoff limit"},
                     [], init_failure=(state, ["checking the stores", error]))
    result = cli("features", "build", "--wait")
    thread.join()
    assert result.exit_code == 1, result.stderr
    assert "checking the stores" in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        f"failed: container workspace exited 5: {error}")


def test_wait_on_a_failed_job_without_a_container_state_names_the_condition(cli, namespace):
    thread = run_job(namespace, {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                 "message": "Job was active longer than specified deadline"}, [])
    result = cli("features", "build", "--wait")
    thread.join()
    assert result.exit_code == 1
    assert "failed: Job was active longer than specified deadline" in result.stderr


def test_status_and_logs_of_a_job(cli, namespace):
    thread = run_job(namespace, {"type": "Complete", "status": "True"}, ["line one", "line two"])
    name = cli("--json", "features", "build").json()["name"]
    thread.join()
    status = cli("--json", "features", "status", name)
    assert status.exit_code == 0 and status.json()["state"] == "Complete"
    logs = cli("features", "logs", name)
    assert logs.exit_code == 0 and logs.stdout == "line one\nline two\n"
    missing = cli("features", "status", "salesops-features-nope")
    assert missing.exit_code == 4 and "no Job 'salesops-features-nope'" in missing.stderr


@pytest.mark.slow
def test_local_builds_here_with_the_kubernetes_backend(cli, workspace, monkeypatch, tmp_path):
    """`--local`: from the laptop against the stores its settings name (on a cluster: its
    Postgres through a port-forward), no Job; no cluster is contacted."""
    assert cli("infra", "up").exit_code == 0
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "kubernetes")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    result = cli("--json", "features", "build", *SMALL, "--local")
    assert result.exit_code == 0, result.stderr
    assert result.json()["rows"] == 3 * 4 * 90 and result.json()["fingerprint"]
    assert cli("features", "build", "--local", "--wait").exit_code == 2


def test_the_job_yaml_is_what_apply_creates(cli, namespace):
    """The printed Job and the created one differ only in their generated names."""
    printed = yaml.safe_load(cli("features", "build", "--dry-run").stdout)
    assert cli("features", "build").exit_code == 0
    (created,) = jobs(namespace)
    for obj in (printed, created):
        obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k in ("labels", "namespace")}
    assert created["spec"] == printed["spec"] and created["metadata"] == printed["metadata"]


def test_the_python_api_follows_the_job_to_its_end(namespace):
    from salesops.config import load_settings
    from salesops.features.submit import submit

    thread = run_job(namespace, {"type": "Complete", "status": "True"}, ["built"])
    lines: list[str] = []
    final = submit(load_settings(), append_weeks=1, on_log=lines.append)
    thread.join()
    assert final["state"] == "Complete" and lines == ["built"]
    (job,) = jobs(namespace)
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == [
        "--append-weeks", "1"]


def test_a_shift_without_append_weeks_is_refused_before_a_job_exists(cli, k8s):  # noqa: F811
    """Refused at once on a laptop, but on Kubernetes the Job was created to fail in its pod."""
    result = cli("features", "build", "--shift", "temperature=+1", "--dry-run")
    assert result.exit_code == 2 and "--append-weeks" in result.stderr
    assert result.stdout == ""
