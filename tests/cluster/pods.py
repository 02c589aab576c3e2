"""The kubelet's part: run one pod's container as a local process, as the kubelet would.

* Environment: the image's (the Dockerfile's ENV), then the Service links the kubelet adds
  (`<SVC>_SERVICE_HOST` …), then `envFrom` and `env` in order: `value`,
  `valueFrom.secretKeyRef` (Secret `data` is base64), `configMapKeyRef`, `fieldRef`; a
  `$(VAR)` in a value, the command or the args is expanded from the variables defined
  before it (undefined ones stay as written, `$$` is a literal `$`).
* Volumes: emptyDir, configMap, secret and persistentVolumeClaim are folders of the run,
  bind-mounted at their mount paths (with subPath and readOnly) in the pod's own mount
  namespace; readOnlyRootFilesystem remounts / read-only there (not on the host).
* User: runAsUser / runAsGroup (else the image's 10001) through `setpriv`; volumes are
  owned by that user and the pod's fsGroup, as the kubelet's ownership management does.
* Image: this machine. The command is looked up on the image's PATH, which starts with the
  folder of the Python running the tests (the repository's virtual environment); the
  Dockerfile's user 10001 is in /etc/passwd (`image_accounts`).
* Probes: httpGet (to the pod's IP, Host = IP:port like the kubelet's prober), tcpSocket,
  exec (in the pod's namespaces with `nsenter`). Periods and delays are not simulated: the
  harness probes every few tenths of a second.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.cluster.container_env import EnvironmentResolver, expand
from tests.cluster.image import IMAGE_DIRS, IMAGE_USER, WORKDIR, image_python
from tests.cluster.pod import Pod, PodError
from tests.cluster.volumes import VolumeMounter

PODEXEC = str(Path(__file__).with_name("podexec.py"))


class Kubelet(EnvironmentResolver, VolumeMounter):
    """Starts pods of one simulated cluster; `lookup(plural, namespace, name)` reads the
    stand-in's stored objects."""

    def __init__(self, root: Path, network, lookup, services) -> None:
        self.root, self.network, self.lookup, self.services = root, network, lookup, services
        self.pods: dict[str, Pod] = {}
        #: the kubelet's default (a pod's `enableServiceLinks: false` turns them off)
        self.service_links = True
        #: the API server's ClusterIP and the CA pods trust (`api_access`), set by Cluster
        self.api_ip: str | None = None
        self.api_ca: Path | None = None

    def start(self, name: str, namespace: str, labels: dict, spec: dict,
              hostname: str | None = None, extra_env: list[dict] | None = None) -> Pod:
        netns, ip = self.network.add_pod()
        folder = self.root / "pods" / name
        folder.mkdir(parents=True)
        pod = Pod(name, namespace, labels, spec, netns, ip, folder, (hostname or name)[:63],
                  launch=self.launch, extra_env=list(extra_env or []))
        self.pods[name] = pod
        pod.steps  # noqa: B018 — refuse what is not simulated before anything runs
        self.network.publish([pod.hostname], ip)
        self.launch(pod)
        return pod

    def launch(self, pod: Pod) -> None:
        """Start the pod's current container in its namespaces."""
        container = pod.running
        pod_security = pod.spec.get("securityContext") or {}
        security = {**pod_security, **(container.get("securityContext") or {})}
        uid = security.get("runAsUser", IMAGE_USER)
        gid = security.get("runAsGroup", uid)
        env = self.environment(pod, container, [*pod.extra_env, *(container.get("env") or [])])
        if container is pod.container:
            pod.env, pod.uid = env, uid
        argv = [expand(part, env) for part in
                [*(container.get("command") or []), *(container.get("args") or [])]]
        if not argv:
            raise PodError(f"container {container['name']}: no command (the image's "
                           "entrypoint is not simulated)")
        job = {"hostname": pod.hostname, "image": image_python(), "keep": IMAGE_DIRS,
               "uid": uid, "gid": gid,
               "mounts": self.mounts(pod, container, uid, pod_security.get("fsGroup", gid)),
               "readOnlyRoot": bool(security.get("readOnlyRootFilesystem")),
               "cwd": container.get("workingDir") or WORKDIR, "env": env, "argv": argv}
        spec_path = pod.folder / f"{container['name']}.json"
        spec_path.write_text(json.dumps(job))
        spec_path.chmod(0o600)
        with open(pod.log_path(container["name"]), "wb") as log:
            pod.process = subprocess.Popen(
                ["ip", "netns", "exec", pod.netns, "unshare", "--uts", sys.executable, PODEXEC,
                 str(spec_path)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={"PATH": os.environ["PATH"]})

    # -- probes ---------------------------------------------------------------------------
    def probe(self, pod: Pod, probe: dict | None) -> bool:
        """One run of a probe; no probe means ready once the container runs."""
        if pod.poll() is not None:
            return False
        if not probe:
            return True
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = self.port(pod, get["port"])
            request = urllib.request.Request(f"http://{pod.ip}:{port}{get.get('path', '/')}",
                                             headers={"Host": f"{pod.ip}:{port}"})
            try:
                with urllib.request.urlopen(request, timeout=probe.get("timeoutSeconds", 2)) as r:
                    return 200 <= r.status < 400
            except (urllib.error.URLError, OSError):
                return False
        if "tcpSocket" in probe:
            try:
                socket.create_connection((pod.ip, self.port(pod, probe["tcpSocket"]["port"])), 1).close()
                return True
            except OSError:
                return False
        if "exec" in probe:
            result = subprocess.run(["nsenter", "-t", str(pod.process.pid), "-n", "-m", "--",
                                     "setpriv", f"--reuid={pod.uid}", f"--regid={pod.uid}", "--clear-groups",
                                     "--", *probe["exec"]["command"]],
                                    env=pod.env, capture_output=True, timeout=10)
            return result.returncode == 0
        raise PodError(f"probe {sorted(probe)} is not simulated")

    def port(self, pod: Pod, port) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for container_port in pod.container.get("ports") or []:
            if container_port.get("name") == port:
                return container_port["containerPort"]
        raise PodError(f"pod {pod.name} has no port named {port!r}")

    def stop_all(self) -> None:
        for pod in self.pods.values():
            pod.stop(grace_s=3.0)
        for pod in self.pods.values():  # whatever a container left behind in its namespace
            for pid in self.network.pids(pod.netns):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
