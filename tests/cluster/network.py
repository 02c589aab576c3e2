"""The simulated cluster's network: one Linux network namespace per pod on a host bridge.

Why network namespaces and not a resolver shim on loopback: two pods of the same kind bind
the same port (two training nodes' torchrun on 29400 for the master's store, an old and a
new predictor on 8080 during a rollout, MLflow on 5000 beside the host's own services), and
a client must send the Host header a real pod sends (`salesops-mlflow.salesops.svc:5000`,
the header MLflow's host check reads). With a namespace per pod every pod has its own IP
and ports, and the cluster DNS names resolve to real addresses through the pod's
/etc/hosts (`ip netns exec` bind-mounts `/etc/netns/<ns>/hosts` over /etc/hosts).

Services get a ClusterIP: an extra /32 on the host bridge, where `proxy.ServiceProxy`
(kube-proxy's user-space mode) listens on the Service's port and forwards to the backing
pod's IP and target port. Every name, link and /etc/netns folder carries the run's id and
`close()` removes them all (also after a failure).
"""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import subprocess
from pathlib import Path

NETNS_ETC = Path("/etc/netns")


def sh(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, text=True)


def _used_subnets() -> set[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    return {".".join(part.split("/")[0].split(".")[:3]) for part in out.split() if part.count(".") == 3}


#: subnets this process has used: a closed cluster's sockets may still be bound to its
#: addresses for a moment after its bridge is gone, so a later cluster takes another one
_TAKEN: set[str] = set()


class ClusterNetwork:
    def __init__(self) -> None:
        self.id = secrets.token_hex(2)
        used = _used_subnets() | _TAKEN
        third = next(i for i in range(secrets.randbelow(200), 256) if f"10.250.{i}" not in used)
        self.subnet = ipaddress.ip_network(f"10.250.{third}.0/24")
        _TAKEN.add(f"10.250.{third}")
        hosts = list(self.subnet.hosts())
        self.gateway = str(hosts[0])
        self._pod_ips = iter(str(ip) for ip in hosts[9:150])
        self._service_ips = iter(str(ip) for ip in hosts[199:250])
        self.bridge = f"sob{self.id}"
        self.namespaces: list[str] = []
        self.service_ips: list[str] = []
        #: cluster DNS name -> IP, written to every pod's /etc/hosts
        self.names: dict[str, str] = {}
        self._count = 0
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")

    def add_pod(self) -> tuple[str, str]:
        """A new namespace wired to the bridge: (namespace name, pod IP)."""
        self._count += 1
        ns, ip = f"salesops-sim-{self.id}-{self._count}", next(self._pod_ips)
        host, peer = f"so{self.id}h{self._count}", f"so{self.id}p{self._count}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", host, "master", self.bridge, "up")
        sh("ip", "link", "set", peer, "netns", ns)
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", peer)
        sh("ip", "-n", ns, "link", "set", peer, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "route", "add", "default", "via", self.gateway)
        (NETNS_ETC / ns).mkdir(parents=True, exist_ok=True)
        self._write_hosts(ns)
        return ns, ip

    def add_service_ip(self) -> str:
        ip = next(self._service_ips)
        sh("ip", "addr", "add", f"{ip}/32", "dev", self.bridge)
        self.service_ips.append(ip)
        return ip

    def publish(self, names: list[str], ip: str) -> None:
        """Make `names` resolve to `ip` in every pod (the files are rewritten in place: they
        are bind mounts in the pods that are running)."""
        for name in names:
            self.names[name] = ip
        for ns in self.namespaces:
            self._write_hosts(ns)

    def _write_hosts(self, ns: str) -> None:
        lines = ["127.0.0.1 localhost", *(f"{ip} {name}" for name, ip in self.names.items())]
        path = NETNS_ETC / ns / "hosts"
        if path.parent.exists():
            with open(path, "w") as handle:  # in place: keep the inode the pods have mounted
                handle.write("\n".join(lines) + "\n")

    def pids(self, ns: str) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def close(self) -> None:
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        self.namespaces.clear()


def service_names(name: str, namespace: str) -> list[str]:
    """The names a Service answers to from a pod in `namespace` (its search path)."""
    return [name, f"{name}.{namespace}", f"{name}.{namespace}.svc",
            f"{name}.{namespace}.svc.cluster.local"]


def leftovers(run_id: str) -> list[str]:
    """What of run `run_id` is still on the host (for the clean-up test)."""
    found = [ns for ns in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                         text=True).stdout.split() if run_id in ns]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [word for word in links.split() if run_id in word]
    found += [str(p) for p in NETNS_ETC.glob(f"*{run_id}*")] if NETNS_ETC.exists() else []
    return found
