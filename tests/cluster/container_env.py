"""The containers' environment, resolved as the kubelet does (see pods.py)."""

from __future__ import annotations

import base64

from tests.cluster.image import IMAGE_ENV
from tests.cluster.pod import Pod, PodError


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion (k8s.io/kubernetes third_party/forked/golang/expansion)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env[name] if name in env else text[i:end + 1])
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


def service_links(services: list[dict]) -> dict[str, str]:
    """The variables the kubelet puts in every container for the namespace's Services."""
    env: dict[str, str] = {}
    for svc in services:
        ip = (svc.get("spec") or {}).get("clusterIP")
        ports = (svc.get("spec") or {}).get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        name = svc["metadata"]["name"].upper().replace("-", "_")
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            proto = port.get("protocol", "TCP")
            if port.get("name"):
                env[f"{name}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
            base = f"{name}_PORT_{port['port']}_{proto}"
            env.update({base: f"{proto.lower()}://{ip}:{port['port']}", f"{base}_PROTO": proto.lower(),
                        f"{base}_PORT": str(port["port"]), f"{base}_ADDR": ip})
        env[f"{name}_PORT"] = f"{ports[0].get('protocol', 'TCP').lower()}://{ip}:{ports[0]['port']}"
    return env


class EnvironmentResolver:
    """For the Kubelet: `lookup`, `services`, `service_links` and `api_ip` are its."""

    def environment(self, pod: Pod, container: dict, entries: list[dict]) -> dict[str, str]:
        links = self.service_links and pod.spec.get("enableServiceLinks", True)
        defined = service_links(self.services(pod.namespace)) if links else {}
        if self.api_ip:  # always there, whatever enableServiceLinks says
            defined.update(KUBERNETES_SERVICE_HOST=self.api_ip, KUBERNETES_SERVICE_PORT="443",
                           KUBERNETES_PORT=f"tcp://{self.api_ip}:443")
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for key, value in self._whole(pod.namespace, source).items():
                defined[prefix + key] = value
        for entry in entries:
            if "value" in entry or "valueFrom" not in entry:
                defined[entry["name"]] = expand(entry.get("value", ""), defined)
            else:
                defined[entry["name"]] = self._value_from(pod, entry["valueFrom"])
        return {**IMAGE_ENV, **defined}

    def _whole(self, namespace: str, source: dict) -> dict[str, str]:
        if "configMapRef" in source:
            obj = self._object("configmaps", namespace, source["configMapRef"]["name"])
            return dict(obj.get("data") or {})
        obj = self._object("secrets", namespace, source["secretRef"]["name"])
        return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}

    def _value_from(self, pod: Pod, source: dict) -> str:
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            data = self._object("secrets", pod.namespace, ref["name"]).get("data") or {}
            if ref["key"] not in data:
                raise PodError(f"couldn't find key {ref['key']} in Secret {pod.namespace}/{ref['name']}")
            return base64.b64decode(data[ref["key"]]).decode()
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = self._object("configmaps", pod.namespace, ref["name"]).get("data") or {}
            if ref["key"] not in data:
                raise PodError(f"couldn't find key {ref['key']} in ConfigMap "
                               f"{pod.namespace}/{ref['name']}")
            return data[ref["key"]]
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            fields = {"metadata.name": pod.name, "metadata.namespace": pod.namespace,
                      "status.podIP": pod.ip, "spec.serviceAccountName":
                      pod.spec.get("serviceAccountName", "default")}
            if path.startswith("metadata.labels['"):
                return pod.labels.get(path[len("metadata.labels['"):-2], "")
            return fields[path]
        raise PodError(f"valueFrom {sorted(source)} is not simulated")

    def _object(self, plural: str, namespace: str, name: str) -> dict:
        obj = self.lookup(plural, namespace, name)
        if obj is None:
            raise PodError(f'{plural[:-1]} "{name}" not found')
        return obj
