"""The simulation's own rules: the kubelet's `$(VAR)` expansion and Service variables, the
Postgres proxy's database rename, TrainJob expansion, and that a closed cluster leaves
nothing on the machine."""

from __future__ import annotations

import struct

import pytest

from tests.cluster.container_env import expand, service_links
from tests.cluster.proxy import ServiceProxy
from tests.cluster.trainjob import node_pod_spec


def test_expansion_follows_the_kubelet():
    env = {"A": "1", "PW": "s3cret"}
    assert expand("postgresql://u:$(PW)@h/db", env) == "postgresql://u:s3cret@h/db"
    assert expand("$(MISSING) stays", env) == "$(MISSING) stays"
    assert expand("$$(A) is escaped, $$ is one $", env) == "$(A) is escaped, $ is one $"
    assert expand("$A and $(A", env) == "$A and $(A"


def test_service_variables_are_the_kubelets():
    svc = {"metadata": {"name": "salesops-mlflow"},
           "spec": {"clusterIP": "10.0.0.5", "ports": [{"name": "http", "port": 5000}]}}
    env = service_links([svc])
    assert env["SALESOPS_MLFLOW_SERVICE_HOST"] == "10.0.0.5"
    assert env["SALESOPS_MLFLOW_SERVICE_PORT_HTTP"] == "5000"
    assert env["SALESOPS_MLFLOW_PORT"] == "tcp://10.0.0.5:5000"
    assert env["SALESOPS_MLFLOW_PORT_5000_TCP_ADDR"] == "10.0.0.5"


def test_the_postgres_proxy_renames_only_the_database():
    proxy = ServiceProxy.__new__(ServiceProxy)
    proxy.databases = (b"salesops", b"salesops_sim_1")
    body = b"user\0salesops\0database\0salesops\0application_name\0salesops\0\0"
    message = proxy.startup(196608, body)
    length, code = struct.unpack("!ii", message[:8])
    assert code == 196608 and length == len(message)
    assert message[8:] == b"user\0salesops\0database\0salesops_sim_1\0application_name\0salesops\0\0"


def test_a_trainjob_node_gets_torchruns_variables_and_the_patches():
    trainjob = {"metadata": {"name": "tj"}, "spec": {
        "trainer": {"command": ["torchrun", "x"], "numNodes": 2, "numProcPerNode": 1,
                    "env": [{"name": "A", "value": "1"}]},
        "runtimePatches": [{"trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [
            {"name": "node", "template": {"spec": {"template": {"spec": {
                "serviceAccountName": "sa", "volumes": [{"name": "w", "emptyDir": {}}],
                "containers": [{"name": "node", "volumeMounts": [
                    {"name": "w", "mountPath": "/w"}]}]}}}}}]}}}}]}}
    spec, plugin = node_pod_spec(trainjob, 1)
    assert {e["name"]: e["value"] for e in plugin} == {
        "PET_NNODES": "2", "PET_NPROC_PER_NODE": "1", "PET_NODE_RANK": "1",
        "PET_MASTER_ADDR": "tj-node-0-0.tj", "PET_MASTER_PORT": "29400"}
    (node,) = spec["containers"]
    assert node["command"] == ["torchrun", "x"] and node["env"] == [{"name": "A", "value": "1"}]
    assert node["volumeMounts"] == [{"name": "w", "mountPath": "/w"}]
    assert spec["serviceAccountName"] == "sa" and spec["volumes"][0]["name"] == "w"


@pytest.mark.postgres
def test_a_closed_cluster_leaves_nothing_behind(cluster):
    import psycopg

    from tests.cluster.network import leftovers

    cluster.network.add_pod()
    cluster.network.add_service_ip()
    run_id, database, root = cluster.network.id, cluster.database, cluster.root
    assert leftovers(run_id)
    cluster.close()
    assert leftovers(run_id) == []
    assert not root.exists()
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchall()
    assert found == []
