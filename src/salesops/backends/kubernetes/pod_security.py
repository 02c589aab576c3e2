"""What every generated pod and container carries to pass the `restricted` Pod Security
Standard, and the probes and scratch volume that go with it, built from `kubernetes.client`
models so that every builder (infra, TrainJob, InferenceService, Job, CronJob) agrees.

* pod: runAsNonRoot with a numeric user and group (the image's 10001, or the Postgres
  image's 999), fsGroup so that mounted volumes are writable, seccomp `RuntimeDefault`;
* container: no privilege escalation, every capability dropped, a read-only root
  filesystem; what a process must write goes to an emptyDir at /tmp (`TMP_VOLUME`), the
  workspace emptyDir, or a data volume.
"""

from __future__ import annotations

import math

#: the salesops image's user and group (the Dockerfile's `USER 10001:10001`)
SALESOPS_UID = 10001
#: the official postgres image's `postgres` user and group
POSTGRES_UID = 999
TMP_VOLUME = "tmp"
TMP_PATH = "/tmp"


def pod_security_context(uid: int = SALESOPS_UID):
    from kubernetes import client

    return client.V1PodSecurityContext(
        run_as_non_root=True, run_as_user=uid, run_as_group=uid, fs_group=uid,
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"))


def container_security_context():
    from kubernetes import client

    return client.V1SecurityContext(
        allow_privilege_escalation=False, read_only_root_filesystem=True,
        capabilities=client.V1Capabilities(drop=["ALL"]))


def tmp_volume():
    """The emptyDir a read-only container writes its temporary files to."""
    from kubernetes import client

    return client.V1Volume(name=TMP_VOLUME, empty_dir=client.V1EmptyDirVolumeSource())


def tmp_mount():
    from kubernetes import client

    return client.V1VolumeMount(name=TMP_VOLUME, mount_path=TMP_PATH)


#: the libraries keep their files under $HOME (mlflow's telemetry id in ~/.config,
#: matplotlib's ~/.config/matplotlib, torch hub's and Triton's caches), and the image's
#: home is on the read-only root; torch's compile caches and `tempfile` already default to
#: /tmp. Python's bytecode cannot be written either, and trying on every import is waste.
SCRATCH_ENV = {"HOME": TMP_PATH, "PYTHONDONTWRITEBYTECODE": "1"}
#: how often the kubelet asks; a liveness check fails only after this many misses in a row
PROBE_PERIOD_S = 10
PROBE_FAILURES = 3


def scratch_env() -> list[dict[str, str]]:
    """`[{name, value}]` for a container with a read-only root filesystem."""
    return [{"name": name, "value": value} for name, value in SCRATCH_ENV.items()]


def http_check(path: str, port: int | str) -> dict:
    """A probe handler: GET `path` on the container's `port` (a number or a port name)."""
    from kubernetes import client

    return {"http_get": client.V1HTTPGetAction(path=path, port=port)}


def exec_check(*command: str) -> dict:
    """A probe handler: run `command` in the container; exit 0 is healthy."""
    from kubernetes import client

    return {"_exec": client.V1ExecAction(command=list(command))}


def probes(live: dict, ready: dict | None = None, startup_s: float = 600.0) -> dict:
    """`startup_probe`, `liveness_probe` and `readiness_probe` for `V1Container(**...)`.

    The start-up probe holds the other two off until `live` first passes, for up to
    `startup_s` (a model load, MLflow's database migrations, Postgres' first initdb), so
    that liveness can be strict afterwards without killing a slow start. Readiness
    (`ready`, else `live`) takes a pod out of its Service while it cannot answer.
    """
    from kubernetes import client

    start_period = 5
    start_tries = max(1, math.ceil(startup_s / start_period))
    return {
        "startup_probe": client.V1Probe(**live, period_seconds=start_period, timeout_seconds=5,
                                        failure_threshold=start_tries),
        "liveness_probe": client.V1Probe(**live, period_seconds=PROBE_PERIOD_S, timeout_seconds=5,
                                         failure_threshold=PROBE_FAILURES),
        "readiness_probe": client.V1Probe(**(ready or live), period_seconds=5, timeout_seconds=5,
                                          failure_threshold=PROBE_FAILURES),
    }
