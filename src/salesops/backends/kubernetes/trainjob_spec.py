"""Pure builder for the Kubeflow Trainer v2.3 `TrainJob` of one `train submit`.

Built from the `kubeflow-trainer-api` models. The pods run `salesops train run` under
torchrun: the `torch-distributed` runtime sets torchrun's `PET_*` variables (nodes, node rank,
master), torchrun starts `numProcPerNode` processes per node with RANK / WORLD_SIZE /
MASTER_ADDR, which is the contract `train run` reads. Service account and volumes go through
`runtimePatches` (Trainer v2.3 has no `podTemplateOverrides`); the spec is immutable, so every
submission gets a new name.

The pods meet the `restricted` Pod Security Standard through the same patch: the pod's and
the container's securityContext (`pod_security`), a read-only root with /tmp on an emptyDir
(torchrun's rendezvous files, HOME for the caches). They get no probes: Trainer v2.3's
`ContainerPatch` carries only env, volumeMounts and securityContext, and a batch trainer
serves no port to probe anyway; a hung rank ends at the collective timeout
(`training.distributed.DEFAULT_TIMEOUT_S`), which fails the job. Resources are the
trainer's `resourcesPerNode`, on every node.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from salesops.backends.kubernetes import names
from salesops.backends.kubernetes import pod_security as pss
from salesops.backends.kubernetes.manifests import to_manifest
from salesops.backends.kubernetes.pod_env import env_vars
from salesops.config import Settings

API_VERSION = "trainer.kubeflow.org/v1alpha1"
GROUP = "trainer.kubeflow.org"
#: runtimePatches are keyed by a domain-prefixed manager
PATCH_MANAGER = "salesops.io/cli"
#: the replicated job and container of the torch-distributed runtime
NODE = "node"


def new_name(now: datetime | None = None) -> str:
    """`salesops-train-<utc time>-<random>`: unique, RFC 1035, well under 63 characters."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"salesops-train-{stamp}-{secrets.token_hex(2)}"


def command(promote_mode: str) -> list[str]:
    flag = {"never": ["--no-promote"], "force": ["--force-promote"]}.get(promote_mode, [])
    return ["torchrun", "--no-python", "salesops", "train", "run", *flag]


def trainjob(settings: Settings, name: str, promote_mode: str = "auto") -> dict[str, Any]:
    from kubeflow_trainer_api import models as m

    k8s = settings.kubernetes
    requests = {"cpu": k8s.cpu, "memory": k8s.memory}
    limits = {"memory": k8s.memory}
    if k8s.gpus_per_node:
        limits["nvidia.com/gpu"] = str(k8s.gpus_per_node)
    quantities = lambda values: {key: m.IoK8sApimachineryPkgApiResourceQuantity(value)  # noqa: E731
                                 for key, value in values.items()}
    trainer = m.TrainerV1alpha1Trainer(
        image=k8s.image, command=command(promote_mode), numNodes=settings.training.nodes,
        numProcPerNode=k8s.proc_per_node,
        resourcesPerNode=m.IoK8sApiCoreV1ResourceRequirements(
            requests=quantities(requests), limits=quantities(limits)),
        env=[m.IoK8sApiCoreV1EnvVar.from_dict(env)
             for env in [*env_vars(settings), *pss.scratch_env()]])
    job = m.TrainerV1alpha1TrainJob(
        apiVersion=API_VERSION, kind="TrainJob",
        metadata=m.IoK8sApimachineryPkgApisMetaV1ObjectMeta(
            name=name, namespace=k8s.namespace, labels=names.labels("training")),
        spec=m.TrainerV1alpha1TrainJobSpec(
            runtimeRef=m.TrainerV1alpha1RuntimeRef(
                name=k8s.runtime_ref, kind="ClusterTrainingRuntime", apiGroup=GROUP),
            trainer=trainer, runtimePatches=[_runtime_patch(m)]))
    return to_manifest(job)


def _runtime_patch(m) -> Any:
    """Service account, security contexts, the feature_store.yaml from the ConfigMap, a
    workspace folder and /tmp."""
    volumes = [
        m.IoK8sApiCoreV1Volume(name="feature-store", configMap=m.IoK8sApiCoreV1ConfigMapVolumeSource(
            name=names.FEATURE_STORE_CONFIG)),
        m.IoK8sApiCoreV1Volume(name="workspace", emptyDir=m.IoK8sApiCoreV1EmptyDirVolumeSource()),
        m.IoK8sApiCoreV1Volume.from_dict(to_manifest(pss.tmp_volume())),
    ]
    mounts = [
        m.IoK8sApiCoreV1VolumeMount(name="workspace", mountPath=names.POD_WORKSPACE),
        m.IoK8sApiCoreV1VolumeMount(name="feature-store", readOnly=True, subPath="feature_store.yaml",
                                    mountPath=names.POD_FEATURE_REPO + "/feature_store.yaml"),
        m.IoK8sApiCoreV1VolumeMount.from_dict(to_manifest(pss.tmp_mount())),
    ]
    container = m.TrainerV1alpha1ContainerPatch(
        name=NODE, volumeMounts=mounts, securityContext=m.IoK8sApiCoreV1SecurityContext.from_dict(
            to_manifest(pss.container_security_context())))
    pod = m.TrainerV1alpha1PodSpecPatch(
        serviceAccountName=names.SERVICE_ACCOUNT, volumes=volumes, containers=[container],
        securityContext=m.IoK8sApiCoreV1PodSecurityContext.from_dict(
            to_manifest(pss.pod_security_context())))
    job = m.TrainerV1alpha1ReplicatedJobPatch(name=NODE, template=m.TrainerV1alpha1JobTemplatePatch(
        spec=m.TrainerV1alpha1JobSpecPatch(template=m.TrainerV1alpha1PodTemplatePatch(spec=pod))))
    return m.TrainerV1alpha1RuntimePatch(
        manager=PATCH_MANAGER, trainingRuntimeSpec=m.TrainerV1alpha1TrainingRuntimeSpecPatch(
            template=m.TrainerV1alpha1JobSetTemplatePatch(
                spec=m.TrainerV1alpha1JobSetSpecPatch(replicatedJobs=[job]))))
