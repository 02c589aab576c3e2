"""Pure builders for the monitoring loop on the cluster: the `batch/v1` CronJob of
`drift --schedule CRON` and the identity its pods act as.

Each tick is one Job whose pod
1. prepares its emptyDir workspace (`salesops infra up`, as the feature build Job does),
2. appends the week's data (`salesops features build --append-weeks 1`, built in the pod:
   init containers get no backend section, see `pod_env.NOT_FORWARDED`), then
3. runs `salesops drift --retrain` with the kubernetes backend: on drift it submits a
   TrainJob, follows it, and the gate's new champion is deployed to the InferenceService,
   as the same command does from a laptop. Only this container gets the cluster settings;
   the pod runs as `salesops-scheduler` (its token mounted, the only salesops pod that has
   one), whose Role lets it create TrainJobs, read their pods and logs, and update the
   InferenceService, nothing else.

`drift` exits 1 when it finds drift; with `--exit-zero-after-retrain` a drift whose
retraining ran exits 0, so the Job succeeds when the loop did its work (a failed retraining
still fails it). Jobs never overlap (`Forbid`), are not retried (`backoffLimit: 0`: a rerun
would retrain again), and a tick missed by more than `STARTING_DEADLINE_S` is skipped.
"""

from __future__ import annotations

from typing import Any

from salesops.backends.kubernetes import names
from salesops.backends.kubernetes.job_spec import (API_VERSION, container, pod_template,
                                                   workspace_container)
from salesops.backends.kubernetes.manifests import to_manifest
from salesops.config import Settings, settings_payload

NAME = "salesops-drift"
COMPONENT = "monitoring"
SCHEDULER = "salesops-scheduler"
APPEND = "append"
DRIFT = "drift"
#: what each tick runs (the flag: exit 0 after a retraining that ran, see the docstring)
EXIT_ZERO_AFTER_RETRAIN = "--exit-zero-after-retrain"
APPEND_COMMAND = ["salesops", "features", "build", "--append-weeks", "1"]
DRIFT_COMMAND = ["salesops", "drift", "--retrain", EXIT_ZERO_AFTER_RETRAIN]
#: a tick later than this is skipped (also keeps the controller's missed-start count low)
STARTING_DEADLINE_S = 3600
#: an append, a drift check and a TrainJob followed to its end; longer means it hangs
TICK_DEADLINE_S = 6 * 3600
HISTORY = 3
#: the cron schedule's time zone: the project's timestamps are UTC
TIME_ZONE = "Etc/UTC"
#: kubernetes settings a pod cannot use (it has no kubeconfig: the client falls back to the
#: in-cluster service account)
NOT_IN_CLUSTER = ("context",)


def cluster_env(settings: Settings) -> list[dict[str, str]]:
    """The kubernetes backend and the user's `[kubernetes]` section, for the container
    that submits the TrainJob and updates the InferenceService from inside the cluster."""
    env = [{"name": "SALESOPS_BACKEND__KIND", "value": "kubernetes"}]
    for key, value in settings_payload(settings)["kubernetes"].items():
        if value is not None and key not in NOT_IN_CLUSTER:
            env.append({"name": f"SALESOPS_KUBERNETES__{key.upper()}", "value": str(value)})
    return env


def drift_cronjob(settings: Settings, schedule: str) -> dict[str, Any]:
    from kubernetes import client

    template = pod_template(
        settings, COMPONENT,
        [workspace_container(settings), container(settings, APPEND, APPEND_COMMAND)],
        container(settings, DRIFT, DRIFT_COMMAND, cluster_env(settings)),
        service_account=SCHEDULER, api_access=True)
    job = client.V1JobTemplateSpec(
        metadata=client.V1ObjectMeta(labels=names.labels(COMPONENT)),
        spec=client.V1JobSpec(backoff_limit=0, active_deadline_seconds=TICK_DEADLINE_S,
                              template=template))
    return to_manifest(client.V1CronJob(
        api_version=API_VERSION, kind="CronJob", metadata=_meta(settings, NAME),
        spec=client.V1CronJobSpec(
            schedule=schedule, time_zone=TIME_ZONE, concurrency_policy="Forbid",
            starting_deadline_seconds=STARTING_DEADLINE_S,
            successful_jobs_history_limit=HISTORY, failed_jobs_history_limit=HISTORY,
            job_template=job)))


def scheduler_objects(settings: Settings, schedule: str) -> list[dict[str, Any]]:
    """What `drift --schedule` applies, in order: the identity, then the CronJob."""
    return [scheduler_account(settings), scheduler_role(settings),
            scheduler_binding(settings), drift_cronjob(settings, schedule)]


def _meta(settings: Settings, name: str):
    from kubernetes import client

    return client.V1ObjectMeta(name=name, namespace=settings.kubernetes.namespace,
                               labels=names.labels(COMPONENT))


def scheduler_account(settings: Settings) -> dict[str, Any]:
    from kubernetes import client

    return to_manifest(client.V1ServiceAccount(api_version="v1", kind="ServiceAccount",
                                               metadata=_meta(settings, SCHEDULER)))


def scheduler_role(settings: Settings) -> dict[str, Any]:
    """What `drift --retrain` does on the cluster: a TrainJob, its pods' logs, the
    InferenceService of the new champion."""
    from kubernetes import client

    rules = [
        client.V1PolicyRule(api_groups=["trainer.kubeflow.org"], resources=["trainjobs"],
                            verbs=["create", "get", "list"]),
        client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"]),
        client.V1PolicyRule(api_groups=[""], resources=["pods/log"], verbs=["get"]),
        client.V1PolicyRule(api_groups=["serving.kserve.io"], resources=["inferenceservices"],
                            verbs=["create", "get", "patch"]),
    ]
    return to_manifest(client.V1Role(api_version="rbac.authorization.k8s.io/v1", kind="Role",
                                     metadata=_meta(settings, SCHEDULER), rules=rules))


def scheduler_binding(settings: Settings) -> dict[str, Any]:
    from kubernetes import client

    return to_manifest(client.V1RoleBinding(
        api_version="rbac.authorization.k8s.io/v1", kind="RoleBinding",
        metadata=_meta(settings, SCHEDULER),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                  name=SCHEDULER),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name=SCHEDULER,
                                       namespace=settings.kubernetes.namespace)]))
