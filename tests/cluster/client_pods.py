"""One-off pods in the simulated cluster, as `kubectl run` / `kubectl create job` would make
them: a salesops container built by salesops' own batch pod builder (`job_spec.container`,
so the same env, settings, security context and volumes as the feature Job), with another
command. The tests use them to look at the cluster from inside: MLflow's REST API with
the Host header a pod sends, and `drift` where the served predictions are.
"""

from __future__ import annotations

from pathlib import Path


def settings_of(config: Path):
    from salesops.config import load_settings

    return load_settings(config)


def client_job(config: Path, name: str, command: list[str]) -> dict:
    """A batch/v1 Job of one salesops container running `command` (no retries)."""
    from kubernetes import client

    from salesops.backends.kubernetes.job_spec import container, pod_template
    from salesops.backends.kubernetes.manifests import to_manifest

    settings = settings_of(config)
    template = pod_template(settings, "client", [], container(settings, "client", command))
    return to_manifest(client.V1Job(
        api_version="batch/v1", kind="Job",
        metadata=client.V1ObjectMeta(name=name, namespace=settings.kubernetes.namespace),
        spec=client.V1JobSpec(backoff_limit=0, template=template)))


def run_job(cluster, config: Path, name: str, command: list[str],
            timeout_s: float = 240) -> tuple[int, str]:
    """Run the client Job to its end: (exit code, its log)."""
    manifest = client_job(config, name, command)
    namespace = manifest["metadata"]["namespace"]
    cluster.server.put(manifest)
    job = cluster.wait_job(namespace, name, timeout_s)
    (pod,) = cluster.pods(f"{name}-")
    return (0 if (job.get("status") or {}).get("succeeded") else pod.poll()), pod.log()


#: from a pod: GET an MLflow REST endpoint at the tracking URI the pod was given
MLFLOW_GET = """
import os, sys, urllib.request, urllib.error
url = os.environ["SALESOPS_MLFLOW__TRACKING_URI"] + sys.argv[1]
try:
    with urllib.request.urlopen(url, timeout=20) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode()[:300]); sys.exit(1)
"""


def mlflow_get(cluster, config: Path, name: str, path: str) -> tuple[int, str]:
    return run_job(cluster, config, name, ["python", "-c", MLFLOW_GET, path])
