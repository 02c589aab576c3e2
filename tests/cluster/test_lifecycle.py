"""The whole cluster lifecycle in the simulation: every command as a user runs it, with
`backend.kind = "kubernetes"` against the stand-in API server, every pod salesops creates
run as local processes (see tests/cluster/cluster.py for what is simulated and how).

infra up → features build (the in-cluster Job) → train submit --nodes 2 (two node pods
under torchrun) → the registered model through MLflow's REST API from a pod → serve deploy
(the predictor pod) → predict --url → drift in a pod, over the predictions the server
logged → one tick of the drift CronJob (append a week, drift --retrain, redeploy).
`pytest -s` prints each step's time.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from salesops.backends.kubernetes.cronjob_spec import DRIFT

from tests.cluster.client_pods import mlflow_get, run_job
from tests.cluster.conftest import NAMESPACE

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_the_cluster_lifecycle(laptop):
    cluster = laptop.cluster
    try:
        _lifecycle(laptop, cluster)
    finally:
        print("\n" + laptop.table())


def _lifecycle(laptop, cluster):
    laptop.step("infra up (Postgres, MLflow pods)", "infra", "up")

    laptop.step("features build --wait (Job)", "features", "build", "--wait")

    # forced past the gate, as tests/test_pipeline.py does: 3 epochs on 12 series do not
    # beat the baselines, and the gate is not what this test is about
    laptop.step("train submit --nodes 2 --wait (TrainJob)", "train", "submit", "--nodes", "2",
                "--force-promote", "--wait")
    nodes = cluster.pods("salesops-train-")
    assert sorted(pod.env["PET_NODE_RANK"] for pod in nodes) == ["0", "1"]
    assert all(pod.exit_code == 0 for pod in nodes), cluster.report()

    code, log = mlflow_get(cluster, laptop.config, "mlflow-check",
                           "/api/2.0/mlflow/registered-models/get?name=salesops-demand")
    assert code == 0, f"MLflow's REST API from a pod (defect 1):\n{log}\n{cluster.report()}"
    model = json.loads(log.split(" ", 1)[1])["registered_model"]
    assert {"alias": "champion"}.items() <= (model.get("aliases") or [{}])[0].items() or any(
        a.get("alias") == "champion" for a in model.get("aliases") or []), model

    laptop.step("serve deploy --wait (InferenceService)", "serve", "deploy", "--wait")
    predictor = cluster.service_url(NAMESPACE, "salesops-predictor", 80)
    result = laptop.step("predict --url (the predictor Service)", "--json", "predict", "--url",
                         predictor, "--store", "1", "--dept", "1", "--store", "2", "--dept", "2")
    print(result.stdout)
    _logged(cluster, 2)  # the predictor writes its log every serving.log_flush_s

    start = time.monotonic()
    code, log = run_job(cluster, laptop.config, "drift-check", ["salesops", "--json", "drift"])
    laptop.timings.append(("drift in a pod (served predictions)", time.monotonic() - start,
                           f"exit {code}"))
    assert code in (0, 1), f"drift in a pod:\n{log}\n{cluster.report()}"
    report = json.JSONDecoder().raw_decode(log[log.index("\n{") + 1:])[0]
    assert report["predictions"]["served"] >= 2, (
        f"defect 6: drift in the cluster does not see the predictions the server logged:\n"
        f"{report['predictions']}")

    _monitoring_loop(laptop, cluster)


def _monitoring_loop(laptop, cluster):
    """The drift CronJob, one tick: after four weeks of shifted demand and weather (built by
    the feature Job), the tick appends its week, finds drift, retrains through a TrainJob it
    submits from inside the cluster, and the gate's champion is rolled out."""
    laptop.step("drift --schedule (CronJob)", "drift", "--schedule", "0 6 * * 1")
    laptop.step("features build --append-weeks 4 --shift (Job)", "features", "build",
                "--append-weeks", "4", "--shift", "demand=0.6", "--shift", "temperature=+15",
                "--wait")
    before = {p.name for p in cluster.pods("salesops-predictor-")}
    start = time.monotonic()
    job = cluster.tick(NAMESPACE, "salesops-drift")
    finished = cluster.wait_job(NAMESPACE, job, timeout_s=400)
    laptop.timings.append(("CronJob tick: append, drift --retrain, redeploy",
                           time.monotonic() - start,
                           "ok" if (finished.get("status") or {}).get("succeeded") else "failed"))
    assert (finished.get("status") or {}).get("succeeded"), (
        f"the drift CronJob's tick failed:\n{cluster.report()}")
    (tick,) = cluster.pods(job)
    drift_log = tick.log(DRIFT)
    assert len(cluster.server.snapshot("trainjobs")) == 2, "the tick did not submit a TrainJob"
    isvc = cluster.server.lookup("inferenceservices", NAMESPACE, "salesops")
    deployed = re.search(r"new champion: deployed v(\d+)", drift_log)
    if deployed:  # the gate promoted: drift --retrain itself rolled the predictor
        version = deployed.group(1)
        assert isvc["metadata"]["generation"] == 2, drift_log
    else:
        # the gate kept the retrained version as challenger (3 epochs on 12 series rarely beat
        # the last-week baseline): the TrainJob and the tick still succeed, drift says what
        # happened and deploys nothing; the rollout is then the user's `serve deploy`
        assert "not promoted" in drift_log or "the champion is still" in drift_log, drift_log
        assert isvc["metadata"]["generation"] == 1, "a version the gate kept was deployed"
        version = re.search(r"version (\d+) stays challenger", cluster.report()).group(1)
        laptop.step(f"serve deploy --model-version {version} --wait (rollout)", "serve",
                    "deploy", "--model-version", version, "--wait")
        isvc = cluster.server.lookup("inferenceservices", NAMESPACE, "salesops")
        assert isvc["metadata"]["generation"] == 2, "the new version was not deployed"
    # drift deploys without waiting: the rollout (new pod ready, Service switched, old pod
    # stopped) may still be under way
    deadline = time.monotonic() + 120
    while True:
        after = {p.name for p in cluster.pods("salesops-predictor-") if p.exit_code is None}
        if (after and not after & before) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert after and not after & before, "the predictor was not replaced"
    result = laptop.step("predict --url (after the rollout)", "--json", "predict", "--url",
                         cluster.service_url(NAMESPACE, "salesops-predictor", 80),
                         "--store", "1", "--dept", "1")
    assert json.loads(result.stdout)["model_version"] == version


def _logged(cluster, rows: int, timeout_s: float = 60) -> None:
    """Wait until the predictor's prediction log (a table of the run's database) holds
    `rows`; the assertion shows the predictor's log when it does not."""
    import psycopg

    from salesops.stores.postgres_tables import PREDICTION_LOG_TABLE

    deadline, found = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline:
        with psycopg.connect(host="127.0.0.1", port=5432, user="postgres",
                             dbname=cluster.database, autocommit=True) as conn:
            tables = conn.execute("SELECT table_schema FROM information_schema.tables "
                                  "WHERE table_name = %s", (PREDICTION_LOG_TABLE,)).fetchall()
            found = sum(conn.execute(f'SELECT count(*) FROM "{schema}".{PREDICTION_LOG_TABLE}'
                                     ).fetchone()[0] for (schema,) in tables)
        if found >= rows:
            return
        time.sleep(0.5)
    raise AssertionError(f"defect 6: the predictor logged {found} of {rows} predictions to "
                         f"Postgres in {timeout_s:g} s:\n{cluster.report()}")
