"""An HTTP stand-in for the Kubernetes API server, on loopback, for the real `kubernetes`
client to talk to. It answers the REST paths salesops uses: create (POST), get / list (GET,
with label selectors), merge patch (PATCH), delete (DELETE) for core, apps, rbac and the
two custom resources, and pod logs. It returns 404 (missing object, missing namespace, or a
custom resource whose CRD is "not installed"), 409 (exists) and 403 (a rule the test sets)
with `Status` bodies like a real server. A test plays the controllers: it sets an object's
status (conditions), adds pods and their logs (one per container, where a test gives
them); `auto_ready` marks Deployments and StatefulSets ready as soon as they are created.
Deleting an object deletes the objects that name it as their owner (the garbage collector:
a CronJob's Jobs, a Job's pods).
"""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CORE_PLURALS = {"namespaces": "Namespace", "serviceaccounts": "ServiceAccount",
                "secrets": "Secret", "configmaps": "ConfigMap",
                "persistentvolumeclaims": "PersistentVolumeClaim", "services": "Service",
                "pods": "Pod"}
GROUP_PLURALS = {
    "apps/v1": {"deployments": "Deployment", "statefulsets": "StatefulSet"},
    "batch/v1": {"jobs": "Job", "cronjobs": "CronJob"},
    "rbac.authorization.k8s.io/v1": {"roles": "Role", "rolebindings": "RoleBinding"},
    "trainer.kubeflow.org/v1alpha1": {"trainjobs": "TrainJob"},
    "serving.kserve.io/v1beta1": {"inferenceservices": "InferenceService"},
}
CRDS = {"trainjobs", "inferenceservices"}
#: kinds whose DELETE answers with the object itself (the others answer a Status)
DELETE_RETURNS_OBJECT = {"serviceaccounts", "persistentvolumeclaims", "services", "pods"}
PATH = re.compile(r"^/(?:api/v1|apis/(?P<gv>[^/]+/[^/]+))"
                  r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?"
                  r"(?P<log>/log)?$")


class ApiServer:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict] = {}  # (plural, namespace, name)
        self.logs: dict[tuple[str, str], list[str]] = {}
        self.forbidden: set[tuple[str, str, str]] = set()  # (verb, plural, namespace)
        self.installed_crds = set(CRDS)
        self.auto_ready = True
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content type)
        self.lock = threading.Lock()
        self._version = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> ApiServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- what a test does (it plays the controllers) ------------------------------------
    def get(self, plural: str, namespace: str, name: str) -> dict | None:
        return self.objects.get((plural, namespace if plural != "namespaces" else "", name))

    def set_status(self, plural: str, namespace: str, name: str, status: dict) -> None:
        with self.lock:
            self.objects[(plural, namespace, name)]["status"] = status

    def add_pod(self, namespace: str, name: str, labels: dict, phase: str,
                log: list[str] | None = None, containers: tuple[str, ...] = ("node",),
                status: dict | None = None, owner: dict | None = None,
                init_logs: dict[str, list[str]] | None = None) -> None:
        """`log`: the first container's; `init_logs`: the init containers and their logs;
        `status` adds to the pod's (container statuses); `owner`: the object whose deletion
        takes the pod with it."""
        meta = {"name": name, "namespace": namespace, "labels": labels}
        if owner is not None:
            meta["ownerReferences"] = [{"apiVersion": owner["apiVersion"],
                                        "kind": owner["kind"], "name": owner["metadata"]["name"],
                                        "uid": owner["metadata"]["uid"]}]
        with self.lock:
            self.objects[("pods", namespace, name)] = self._stamp(
                {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                 "spec": {"containers": [{"name": c, "image": "x"} for c in containers],
                          **({"initContainers": [{"name": c, "image": "x"} for c in init_logs]}
                             if init_logs else {})},
                 "status": {"phase": phase, **(status or {})}})
            self.logs[(namespace, name)] = list(log or [])
            for container, lines in (init_logs or {}).items():
                self.logs[(namespace, name, container)] = list(lines)

    def verbs(self, method: str) -> list[str]:
        return [path for m, path, _ in self.requests if m == method]

    # -- the REST semantics --------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, body: bytes, content_type: str):
        self.requests.append((method, path, content_type))
        match = PATH.match(path)
        if not match:
            return _status(404, "NotFound", "the server could not find the requested resource")
        gv, ns, plural, name = match["gv"] or "v1", match["ns"] or "", match["plural"], match["name"]
        if match["log"]:
            return self._log(ns, name, query)
        if gv == "v1" and not ns and plural != "namespaces" and name is None:
            return _status(404, "NotFound", "the server could not find the requested resource")
        kinds = CORE_PLURALS if gv == "v1" else GROUP_PLURALS.get(gv, {})
        if plural not in kinds or (plural in CRDS and plural not in self.installed_crds):
            return _status(404, "NotFound", "the server could not find the requested resource")
        verb = {"POST": "create", "GET": "get" if name else "list", "PATCH": "patch",
                "DELETE": "delete"}[method]
        if (verb, plural, ns) in self.forbidden:
            who = "system:serviceaccount:ci:deployer"
            return _status(403, "Forbidden", f'{plural} is forbidden: User "{who}" cannot {verb} '
                           f'resource "{plural}" in API group "{gv.rpartition("/")[0]}" in the '
                           f'namespace "{ns}"', {"kind": plural, "name": name or ""})
        with self.lock:
            if ns and plural != "namespaces" and ("namespaces", "", ns) not in self.objects:
                return _status(404, "NotFound", f'namespaces "{ns}" not found',
                               {"kind": "namespaces", "name": ns})
            if plural == "namespaces":
                ns, name = "", name
            return getattr(self, "_" + verb)(gv, plural, kinds[plural], ns, name, query, body,
                                             content_type)

    def _create(self, gv, plural, kind, ns, name, query, body, content_type):
        obj = json.loads(body)
        name = obj["metadata"]["name"]
        if (plural, ns, name) in self.objects:
            return _status(409, "AlreadyExists", f'{plural} "{name}" already exists',
                           {"kind": plural, "name": name})
        obj = self._stamp(obj)
        obj["metadata"]["generation"] = 1
        if ns:
            obj["metadata"]["namespace"] = ns
        if plural == "namespaces":
            obj["status"] = {"phase": "Active"}
        if self.auto_ready and plural in ("deployments", "statefulsets"):
            replicas = obj["spec"].get("replicas", 1)
            obj["status"] = {"replicas": replicas, "readyReplicas": replicas}
        self.objects[(plural, ns, name)] = obj
        return 201, obj

    def _get(self, gv, plural, kind, ns, name, query, body, content_type):
        obj = self.objects.get((plural, ns, name))
        if obj is None:
            return _status(404, "NotFound", f'{plural} "{name}" not found',
                           {"kind": plural, "name": name})
        return 200, obj

    def _list(self, gv, plural, kind, ns, name, query, body, content_type):
        selector = _selector(query.get("labelSelector", [""])[0])
        items = [obj for (p, n, _), obj in sorted(self.objects.items())
                 if p == plural and (n == ns or plural == "namespaces")
                 and all(obj["metadata"].get("labels", {}).get(k) == v for k, v in selector)]
        return 200, {"apiVersion": gv, "kind": kind + "List",
                     "metadata": {"resourceVersion": str(self._version)}, "items": items}

    def _patch(self, gv, plural, kind, ns, name, query, body, content_type):
        if content_type != "application/merge-patch+json":
            return _status(415, "UnsupportedMediaType", f"the stand-in takes merge patches, "
                           f"not {content_type}")
        obj = self.objects.get((plural, ns, name))
        if obj is None:
            return _status(404, "NotFound", f'{plural} "{name}" not found',
                           {"kind": plural, "name": name})
        patched = merge_patch(copy.deepcopy(obj), json.loads(body))
        if patched.get("spec") != obj.get("spec"):
            patched["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
        self._version += 1
        patched["metadata"]["resourceVersion"] = str(self._version)
        self.objects[(plural, ns, name)] = patched
        return 200, patched

    def _delete(self, gv, plural, kind, ns, name, query, body, content_type):
        obj = self.objects.pop((plural, ns, name), None)
        if obj is None:
            return _status(404, "NotFound", f'{plural} "{name}" not found',
                           {"kind": plural, "name": name})
        if plural == "namespaces":  # the namespace controller: everything in it goes
            for key in [k for k in self.objects if k[1] == name]:
                del self.objects[key]
        self._collect(obj["metadata"]["uid"])
        if plural in DELETE_RETURNS_OBJECT:
            return 200, obj
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": name, "kind": plural, "uid": obj["metadata"]["uid"]}}

    def _collect(self, uid: str) -> None:
        """The garbage collector: the dependents of a deleted object, and theirs."""
        for key, dependent in list(self.objects.items()):
            owners = dependent["metadata"].get("ownerReferences") or []
            if key in self.objects and any(owner.get("uid") == uid for owner in owners):
                del self.objects[key]
                self._collect(dependent["metadata"]["uid"])

    def _log(self, ns, name, query):
        pod = self.objects.get(("pods", ns, name))
        if pod is None:
            return _status(404, "NotFound", f'pods "{name}" not found', {"kind": "pods", "name": name})
        containers = [c["name"] for c in pod["spec"]["containers"]]
        init = [c["name"] for c in pod["spec"].get("initContainers") or []]
        container = (query.get("container") or [containers[0]])[0]
        if container not in containers + init:
            return _status(400, "BadRequest", f"container {container} is not valid for pod {name}")
        key = (ns, name) if container == containers[0] else (ns, name, container)
        return 200, "".join(line + "\n" for line in self.logs.get(key, []))

    def _stamp(self, obj: dict) -> dict:
        self._version += 1
        obj["metadata"].update(uid=str(uuid.uuid4()), resourceVersion=str(self._version),
                               creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return obj


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


def _selector(text: str) -> list[tuple[str, str]]:
    return [tuple(part.split("=", 1)) for part in text.split(",") if part]


def _status(code: int, reason: str, message: str, details: dict | None = None):
    return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "details": details or {}, "code": code}


def _handler(server: ApiServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body are two writes: without this, Nagle + delayed ACK add 40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            content_type = (self.headers.get("Content-Type") or "").split(";")[0]
            code, payload = server.handle(self.command, parts.path, parse_qs(parts.query), body,
                                          content_type)
            text = payload if isinstance(payload, str) else json.dumps(payload)
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if isinstance(payload, str)
                             else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args) -> None:  # keep pytest's output clean
            pass

    return Handler


def write_kubeconfig(path, url: str, context: str = "stand-in") -> None:
    """A kubeconfig whose only cluster is the stand-in (plain HTTP, a dummy token)."""
    import yaml

    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": url}}],
        "users": [{"name": context, "user": {"token": "stand-in-token"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
    }))
