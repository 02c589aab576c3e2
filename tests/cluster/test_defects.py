"""Defects of issue 15 that the simulation shows on its own, each a small run of the
harness (a fresh simulated cluster): what schemas and the stand-in alone could not see.

To see one fail on the code before its fix, run it on that source tree:
`git archive <commit> src | tar -x -C /tmp/old` and `CLUSTER_SIM_SRC=/tmp/old/src pytest …`
(the pods and the laptop's `salesops` then import it instead of the installed package).
"""

from __future__ import annotations

import json

import pytest

from tests.cluster.client_pods import mlflow_get, run_job

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_pods_reach_mlflow_with_the_host_header_they_send(laptop):
    """Defect 1: `mlflow server` without `--allowed-hosts` answers 403 "Invalid Host
    header" to `salesops-mlflow.salesops.svc:5000` while /health (the probe) answers 200."""
    laptop.step("infra up", "infra", "up")
    code, log = mlflow_get(laptop.cluster, laptop.config, "mlflow-host",
                           "/api/2.0/mlflow/experiments/search?max_results=5")
    assert code == 0, log
    assert log.startswith("200 ") and "experiments" in json.loads(log.split(" ", 1)[1]), log


def test_config_file_with_the_kserve_backend(laptop):
    """Defect 2: `--config FILE` reached kserve's own argparse when the InferenceService
    builder imported kserve (exit 2, "argument --configure_logging: invalid …")."""
    result = laptop.run("serve", "deploy", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "kind: InferenceService" in result.stdout


def test_fewer_gpus_than_processes_per_node_is_refused(laptop):
    """Defect 4: gpus_per_node = 1 with proc_per_node = 2 trained on the CPU while holding a
    GPU. Refused now (exit 2, naming both keys) before anything reaches the cluster; one
    process per GPU is accepted and the TrainJob asks for the GPU."""
    from salesops.backends.kubernetes.infra_objects import namespace
    from tests.cluster.client_pods import settings_of

    laptop.cluster.server.put(namespace(settings_of(laptop.config)))
    config = laptop.config.read_text()
    laptop.config.write_text(config.replace('[kubernetes]\n', '[kubernetes]\ngpus_per_node = 1\n'
                                            'proc_per_node = 2\n'))
    refused = laptop.run("train", "submit", "--nodes", "2")
    assert refused.returncode == 2, refused.stderr
    assert "gpus_per_node" in refused.stderr and "proc_per_node" in refused.stderr
    assert not laptop.cluster.server.snapshot("trainjobs")
    laptop.config.write_text(config.replace('[kubernetes]\n', '[kubernetes]\ngpus_per_node = 1\n'
                                            'proc_per_node = 1\n'))
    accepted = laptop.run("train", "submit", "--nodes", "2", "--dry-run")
    assert accepted.returncode == 0, accepted.stderr
    assert "nvidia.com/gpu: '1'" in accepted.stdout and "numProcPerNode: 1" in accepted.stdout


def test_salesops_pods_start_beside_the_kubelets_service_variables(laptop):
    """Found by the simulation (not in the issue's list): the kubelet gives every container
    `<SERVICE>_PORT=tcp://…` and friends for each Service in the namespace
    (enableServiceLinks, on by default), so `salesops-mlflow` becomes SALESOPS_MLFLOW_PORT,
    which salesops' settings refused ("a setting's variable has two underscores after the
    section"): every salesops pod exited 2 at start."""
    from salesops.backends.kubernetes import infra_objects
    from tests.cluster.client_pods import settings_of

    settings = settings_of(laptop.config)
    credentials = {"username": "salesops", "password": "x", "database": "salesops"}
    server = laptop.cluster.server
    for build in (infra_objects.namespace, infra_objects.feature_store_config,
                  infra_objects.postgres_service, infra_objects.mlflow_service):
        server.put(build(settings))
    server.put(infra_objects.db_secret(settings, credentials))
    laptop.cluster.controllers.reconcile()  # the Services get their ClusterIPs
    code, log = run_job(laptop.cluster, laptop.config, "links", ["salesops", "config", "show"])
    pod = laptop.cluster.pods("links-")[0]
    assert "SALESOPS_MLFLOW_PORT" in pod.env and "SALESOPS_POSTGRES_SERVICE_HOST" in pod.env
    assert code == 0, log
