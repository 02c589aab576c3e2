"""Pure builders for the batch pods: the `batch/v1` Job of one `features build`, and the pod
template the drift CronJob shares with it (`schedules`).

Every pod runs the salesops image as the local backend would on a laptop: pods get no
`backend` section (`pod_env.NOT_FORWARDED`), so `salesops features build` inside the pod
builds in the pod, next to the in-cluster Postgres. The workspace is an emptyDir; an init
container `salesops infra up` puts the Feast repo in it (definitions, `salesops_repo.json`,
the `feature_store.yaml` of the pod's settings) and checks Postgres, as it does on a laptop.
The ConfigMap's `feature_store.yaml` is not mounted here: `infra up` writes the file and a
read-only mount in its place would make it fail; the file it writes holds the password the
kubelet expanded into the pod's environment, inside the pod's own emptyDir, readable by the
pod's user only (as on a laptop).

Probes: a batch container serves no port and has no "ready" state, so it gets no readiness
probe; a liveness probe could only ask "is the process there", which the kubelet knows
already. A build that hangs is ended by the Job's `activeDeadlineSeconds` instead.
Containers report their last log lines as the termination message
(`FallbackToLogsOnError`), which is how a failed Job's one-line error reaches `--wait`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from salesops.backends.kubernetes import names
from salesops.backends.kubernetes.manifests import to_manifest
from salesops.backends.kubernetes.pod_env import env_vars
from salesops.backends.kubernetes.pod_security import (container_security_context,
                                                       pod_security_context, scratch_env,
                                                       tmp_mount, tmp_volume)
from salesops.config import Settings

API_VERSION = "batch/v1"
COMPONENT = "features"
#: the containers: the workspace init container and the build
WORKSPACE = "workspace"
BUILD = "build"
#: the label the Job controller puts on its pods (Kubernetes >= 1.27; `job-name` before)
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
#: a build of 10M rows takes about a minute; two hours means it hangs
BUILD_DEADLINE_S = 2 * 3600
#: finished Jobs (and their pods' logs) are kept a day for `features logs`
KEEP_FINISHED_S = 24 * 3600


def new_name(now: datetime | None = None) -> str:
    """`salesops-features-<utc time>-<random>`: unique, RFC 1035, under 63 characters (a
    Job's pods add 6 characters to it)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"salesops-features-{stamp}-{secrets.token_hex(2)}"


def build_command(options: Sequence[str] = ()) -> list[str]:
    return ["salesops", "features", "build", *options]


def container(settings: Settings, name: str, command: list[str],
              extra_env: Sequence[dict[str, Any]] = ()):
    """One salesops container of a batch pod: the pod's settings as env, the workspace and
    /tmp writable, the rest of the root filesystem read-only."""
    from kubernetes import client

    k8s = settings.kubernetes
    env = [*env_vars(settings), *scratch_env(), *extra_env]
    return client.V1Container(
        name=name, image=k8s.image, command=command,
        env=[client.V1EnvVar.from_dict(item) for item in env],
        resources=client.V1ResourceRequirements(
            requests={"cpu": k8s.cpu, "memory": k8s.memory}, limits={"memory": k8s.memory}),
        security_context=container_security_context(),
        termination_message_policy="FallbackToLogsOnError",
        volume_mounts=[client.V1VolumeMount(name=WORKSPACE, mount_path=names.POD_WORKSPACE),
                       tmp_mount()])


def workspace_container(settings: Settings):
    return container(settings, WORKSPACE, ["salesops", "infra", "up"])


def pod_template(settings: Settings, component: str, init: list, main,
                 service_account: str = names.SERVICE_ACCOUNT, api_access: bool = False):
    """`api_access`: the pod talks to the API server (the service account's token is
    mounted); a build does not."""
    from kubernetes import client

    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=names.labels(component)),
        spec=client.V1PodSpec(
            restart_policy="Never", service_account_name=service_account,
            automount_service_account_token=api_access,
            security_context=pod_security_context(),
            init_containers=init, containers=[main],
            volumes=[client.V1Volume(name=WORKSPACE,
                                     empty_dir=client.V1EmptyDirVolumeSource()),
                     tmp_volume()]))


def feature_job(settings: Settings, name: str, options: Sequence[str] = ()) -> dict[str, Any]:
    """The Job of `salesops features build OPTIONS` (a new name each submission: a Job's
    pod template is immutable). No retry (`backoffLimit: 0`): a build either fails on its
    data, which a retry repeats, or is killed, which leaves the previous build whole."""
    from kubernetes import client

    template = pod_template(settings, COMPONENT, [workspace_container(settings)],
                            container(settings, BUILD, build_command(options)))
    return to_manifest(client.V1Job(
        api_version=API_VERSION, kind="Job",
        metadata=client.V1ObjectMeta(name=name, namespace=settings.kubernetes.namespace,
                                     labels=names.labels(COMPONENT)),
        spec=client.V1JobSpec(backoff_limit=0, active_deadline_seconds=BUILD_DEADLINE_S,
                              ttl_seconds_after_finished=KEEP_FINISHED_S, template=template)))
