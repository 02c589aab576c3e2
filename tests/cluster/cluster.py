"""One simulated cluster: the stand-in API server, the pod network, the kubelet, the
Service proxies, the controllers and a Postgres database of its own; `close()` undoes all
of it (processes, namespaces, links, /etc/netns folders, the database), also after a
failure.

`salesops` runs against it as on a user's laptop: `backend.kind = "kubernetes"` and a
KUBECONFIG whose only cluster is the stand-in (`kubeconfig`); pods that use the in-cluster
configuration reach the same stand-in (`api_access`). Preconditions the tests skip on (only
outside CI): `missing()`.

Who plays what: `pods.Kubelet` (containers as processes: env, volumes, user, probes),
`controllers.Controllers` (Deployment, StatefulSet, InferenceService, Job, CronJob ticks)
with `trainjob.TrainJobController` (Trainer + JobSet), `services.Services` and
`proxy.ServiceProxy` (Services, kube-proxy, the Postgres stand-in), `network` (one network
namespace per pod).

Not simulated (a real cluster still has to show them): scheduling, resources and limits
(no OOM kill: defect 3 is not visible here), GPUs, liveness probes and restarts, probe
periods and delays, more than one replica, RBAC and token checks, Pod Security admission,
image pulls (the "image" is this machine), Knative mode, and Services other than ClusterIP.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.backends.kubernetes.apiserver import write_kubeconfig
from tests.cluster.api_access import tls_context, write_certificate
from tests.cluster.apiserver import SimApiServer
from tests.cluster.controllers import Controllers
from tests.cluster.network import ClusterNetwork, service_names
from tests.cluster.pods import Kubelet
from tests.cluster.proxy import ServiceProxy
from tests.cluster.services import Services

ROLE = "salesops"


def missing() -> str | None:
    """Why the simulation cannot run here, or None."""
    if os.geteuid() != 0:
        return "the cluster simulation needs root (network and mount namespaces)"
    for tool in ("ip", "unshare", "nsenter", "setpriv", "mount"):
        if shutil.which(tool) is None:
            return f"the cluster simulation needs `{tool}`"
    probe = f"salesops-sim-probe-{secrets.token_hex(2)}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "`ip netns add` fails here (no network namespaces)"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    try:
        socket.create_connection(("127.0.0.1", 5432), 1).close()
    except OSError:
        return "no PostgreSQL server on 127.0.0.1:5432"
    return None


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(sql)


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)  # the pods' users must reach their volumes below it
        self.database = f"salesops_sim_{secrets.token_hex(4)}"
        self.server = SimApiServer().start()
        self.network = ClusterNetwork()
        self.kubelet = Kubelet(root, self.network, self.server.lookup, self._services)
        self.services = Services(self.server, self.network, self.kubelet, self.database)
        self.controllers = Controllers(self.server, self.kubelet, self.services)
        self.api_proxy = None
        try:
            self._api_access()
            self.kubeconfig = root / "kubeconfig"
            write_kubeconfig(self.kubeconfig, self.server.url)
            # two clusters (test workers) may create it at once: the loser's error is ignored
            _admin(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') "
                   f"THEN CREATE ROLE {ROLE} LOGIN; END IF; EXCEPTION WHEN duplicate_object "
                   f"OR unique_violation THEN NULL; END $$")
            _admin(f"CREATE DATABASE {self.database} OWNER {ROLE}")
            self.controllers.start()
        except BaseException:
            self.close()
            raise

    def _api_access(self) -> None:
        """The `kubernetes` Service: HTTPS on a ClusterIP, forwarded to the stand-in."""
        ip = self.network.add_service_ip()
        cert, key = write_certificate(self.root, ip)
        port = int(self.server.url.rsplit(":", 1)[1])
        self.api_proxy = ServiceProxy(ip, 443, ("127.0.0.1", port), tls=tls_context(cert, key))
        self.network.publish(service_names("kubernetes", "default"), ip)
        self.kubelet.api_ip, self.kubelet.api_ca = ip, cert

    @property
    def failures(self) -> list[str]:
        return self.controllers.failures

    def _services(self, namespace: str) -> list[dict]:
        return [s for s in self.server.snapshot("services")
                if s["metadata"]["namespace"] == namespace]

    def service_url(self, namespace: str, name: str, port: int) -> str:
        """The Service's ClusterIP address, as a port-forward would give the laptop."""
        return f"http://{self.services.address(namespace, name)}:{port}"

    def pods(self, prefix: str = "") -> list:
        return [pod for name, pod in self.kubelet.pods.items() if name.startswith(prefix)]

    def tick(self, namespace: str, cronjob: str) -> str:
        return self.controllers.tick(namespace, cronjob)

    def wait_job(self, namespace: str, name: str, timeout_s: float = 240) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.server.lookup("jobs", namespace, name) or {}
            status = job.get("status") or {}
            if status.get("succeeded") or status.get("failed"):
                return job
            time.sleep(0.2)
        raise AssertionError(f"Job {namespace}/{name} did not end in {timeout_s} s")

    def report(self) -> str:
        """The pods' failures and every pod's last lines, for an assertion message."""
        parts = [*self.failures]
        for pod in self.kubelet.pods.values():
            for container in pod.steps[:pod.step + 1]:
                tail = "\n".join(pod.log(container["name"]).splitlines()[-15:])
                parts.append(f"--- pod {pod.name} container {container['name']} ({pod.ip}, "
                             f"exit {pod.exits.get(container['name'])}):\n{tail}")
        return "\n".join(parts)

    def close(self) -> None:
        try:
            self.controllers.stop()
            self.kubelet.stop_all()
            self.services.close()
            if self.api_proxy is not None:
                self.api_proxy.close()
        finally:
            self.network.close()
            self.server.stop()
            try:
                _admin(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
            except Exception as exc:  # noqa: BLE001 — report, but let the rest clean up
                print(f"could not drop {self.database}: {exc}")
            keep = os.environ.get("CLUSTER_SIM_KEEP_LOGS")
            if keep:  # for a developer: every pod's logs, after the run
                shutil.copytree(self.root / "pods", Path(keep) / self.root.name,
                                ignore=shutil.ignore_patterns("volumes", "*.json"),
                                dirs_exist_ok=True)
            shutil.rmtree(self.root, ignore_errors=True)
