"""The MLflow Deployment's container, run as a real `mlflow server` process.

Schemas cannot see what a container does once it starts, so the generated command and
args are run here exactly as built, with only what a laptop lacks swapped in: the listen
address (127.0.0.1 and a free port), the backend store (a sqlite file instead of the
in-cluster Postgres) and the mounted paths (folders under the test's tmp_path, in args and
env alike). The process runs with the root filesystem read-only where the machine allows
a user namespace (`read_only_root`). Requests
then carry the Host header a pod sends (`salesops-mlflow.<ns>.svc:5000`) or a
`kubectl port-forward` sends (`localhost:<port>`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from salesops.backends.kubernetes import names
from salesops.backends.kubernetes.infra_objects import (
    MLFLOW_MEASURED_RSS_MIB,
    infra_objects,
    new_credentials,
)
from salesops.config import Settings
from tests.helpers import free_port, wait_for

def mlflow_pod(settings: Settings) -> dict:
    (deployment,) = [o for o in infra_objects(settings, new_credentials())
                     if o["kind"] == "Deployment" and o["metadata"]["name"] == names.MLFLOW]
    return deployment["spec"]["template"]["spec"]


def local_process(pod: dict, root: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """The container's command line and environment for a process on this machine."""
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: root / m["name"] for m in container.get("volumeMounts", [])}
    for path in mounts.values():
        path.mkdir(parents=True, exist_ok=True)

    def local(value: str) -> str:
        for mount, folder in mounts.items():
            if value == mount or value.startswith(mount + "/"):
                return str(folder) + value[len(mount):]
        return value

    args = [local(arg) for arg in container["args"]]
    swaps = {"--host": "127.0.0.1", "--port": str(port),
             "--backend-store-uri": f"sqlite:///{root / 'mlflow.db'}"}
    for flag, value in swaps.items():
        args[args.index(flag) + 1] = value
    executable = Path(sys.executable).parent / container["command"][0]
    env = {**os.environ}
    for var in container.get("env", []):
        env[var["name"]] = local(var["value"]) if "value" in var else "from-the-secret"
    return [str(executable), *container["command"][1:], *args], env


def read_only_root() -> list[str]:
    """A command prefix that runs a process with the root filesystem read-only except
    /tmp (where the test's folders are), as `readOnlyRootFilesystem` with the emptyDir and
    volume mounts would: a user and mount namespace of its own. Empty where this machine
    allows no user namespaces."""
    script = 'mount --bind /tmp /tmp && mount -o remount,bind,ro / && exec "$@"'
    prefix = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh"]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    return prefix if probe.returncode == 0 else []


def get(port: int, path: str, host: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def mib(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def tree_rss_mib(pid: int) -> float:
    import psutil

    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)]
    return sum(p.memory_info().rss for p in processes if p.is_running()) / 2**20


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """One server for the module's tests: it takes ~20 s to start on 2 cores."""
    tmp_path = tmp_path_factory.mktemp("mlflow-pod")
    port = free_port()
    command, env = local_process(mlflow_pod(Settings()), tmp_path, port)
    # run from "/", read-only like the image's working directory in the pod
    process = subprocess.Popen([*read_only_root(), *command], env=env, cwd="/",
                               start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not wait_for(lambda: get(port, "/health", "localhost") == 200 or process.poll(),
                        timeout=90, every=0.25) or process.poll() is not None:
            pytest.fail(f"mlflow server did not start: {process.stderr.read().decode()[-2000:]}")
        yield port, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.slow
def test_pods_and_port_forwards_reach_the_api(mlflow_server):
    """Every API call from a pod got 403 "Invalid Host header" while /health said 200."""
    port, _ = mlflow_server
    api = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
    cluster = f"{names.MLFLOW}.salesops.svc"
    for host in (f"{cluster}:{names.MLFLOW_PORT}", cluster, f"{cluster}.cluster.local:5000",
                 f"{names.MLFLOW}:{names.MLFLOW_PORT}", f"{names.MLFLOW}.salesops:5000",
                 f"localhost:{port}", f"127.0.0.1:{port}"):
        assert get(port, api, host) == 200, host
    assert get(port, api, "evil.example.com") == 403  # DNS-rebinding protection stays on


@pytest.mark.slow
def test_the_server_runs_on_a_read_only_root(mlflow_server):
    """`readOnlyRootFilesystem`: the server starts and writes an artifact with only /tmp
    and the mounts writable."""
    if not read_only_root():
        pytest.skip("no user namespaces here: the read-only root cannot be simulated")
    port, _ = mlflow_server
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/2.0/mlflow-artifacts/artifacts/0/probe.txt",
        data=b"written", method="PUT", headers={"Host": f"localhost:{port}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.mark.slow
def test_the_memory_limit_holds_the_server(mlflow_server):
    """With 4 workers and job execution (mlflow 3.x defaults) the process tree outgrew the
    1Gi limit; the limit must hold what the generated command measures after API calls."""
    port, process = mlflow_server
    for _ in range(20):
        assert get(port, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default",
                   "localhost:5000") == 200
    time.sleep(1)
    rss = tree_rss_mib(process.pid)
    (container,) = mlflow_pod(Settings())["containers"]
    limit = mib(container["resources"]["limits"]["memory"])
    assert rss <= MLFLOW_MEASURED_RSS_MIB * 1.25, f"measured {rss:.0f} MiB; update the comment"
    assert limit >= rss * 1.5, (rss, limit)


def test_one_worker_and_no_job_runner():
    """The flags that keep the process tree small, and the env that keeps it off the
    read-only root filesystem."""
    (container,) = mlflow_pod(Settings())["containers"]
    args, env = container["args"], {e["name"]: e.get("value") for e in container["env"]}
    assert args[args.index("--workers") + 1] == "1"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert env["HOME"] == "/tmp"
    memory = container["resources"]
    assert memory["requests"]["memory"] == memory["limits"]["memory"]
    assert mib(memory["limits"]["memory"]) >= MLFLOW_MEASURED_RSS_MIB * 1.5
