"""The Service controller and kube-proxy: a ClusterIP per Service, its DNS names in every
pod's /etc/hosts, and a proxy per port pointed at a ready pod the selector matches.

A Service that selects the Postgres StatefulSet's pods is answered by the machine's server
in the run's own database (`ServiceProxy.postgres`) instead of a pod.
"""

from __future__ import annotations

from tests.cluster.network import service_names
from tests.cluster.proxy import ServiceProxy


def selects(selector: dict | None, labels: dict | None) -> bool:
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


class Services:
    def __init__(self, server, network, kubelet, database: str) -> None:
        self.server, self.network, self.kubelet, self.database = server, network, kubelet, database
        self.ips: dict[tuple[str, str], str] = {}
        self.proxies: dict[tuple[str, str, int], ServiceProxy] = {}

    def reconcile(self, ready_pods, postgres_labels: list[dict]) -> None:
        """`ready_pods`: {pod name: Pod} of the pods that pass their readiness probe."""
        for svc in self.server.snapshot("services"):
            meta, spec = svc["metadata"], svc.get("spec") or {}
            key = (meta["namespace"], meta["name"])
            if key not in self.ips:
                self.ips[key] = ip = self.network.add_service_ip()
                with self.server.lock:
                    live = self.server.objects.get(("services", *key))
                    if live is not None:
                        live["spec"]["clusterIP"] = ip
                        live["spec"]["clusterIPs"] = [ip]
                self.network.publish(service_names(meta["name"], meta["namespace"]), ip)
            ip = self.ips[key]
            database = any(selects(spec.get("selector"), labels) for labels in postgres_labels)
            for port in spec.get("ports") or []:
                pkey = (*key, port["port"])
                proxy = self.proxies.get(pkey)
                if proxy is None:
                    proxy = self.proxies[pkey] = ServiceProxy(ip, port["port"])
                if database:
                    proxy.postgres("salesops", self.database)
                else:
                    proxy.target = self._endpoint(spec.get("selector"), port, ready_pods, meta)

    def _endpoint(self, selector, port: dict, ready_pods, meta) -> tuple[str, int] | None:
        backing = [pod for pod in ready_pods.values()
                   if pod.namespace == meta["namespace"] and selects(selector, pod.labels)]
        if not backing:
            return None
        pod = max(backing, key=lambda p: p.started)  # the newest ready pod (rollouts)
        return pod.ip, self.kubelet.port(pod, port.get("targetPort", port["port"]))

    def address(self, namespace: str, name: str) -> str | None:
        return self.ips.get((namespace, name))

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()
