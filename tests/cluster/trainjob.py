"""The Trainer controller with the `torch-distributed` ClusterTrainingRuntime (v2.3) and
JobSet: a TrainJob becomes `numNodes` pods of the runtime's `node` container.

As Trainer does: the TrainJob's `trainer` (image, command, args, env) overrides the
runtime's container; the torch plugin adds torchrun's variables, `PET_NNODES`,
`PET_NPROC_PER_NODE`, `PET_NODE_RANK` (the pod's completion index), `PET_MASTER_ADDR`
(`<trainjob>-node-0-0.<trainjob>`: JobSet's headless Service and the indexed Job's
hostnames) and `PET_MASTER_PORT` (29400); then the `runtimePatches` are applied to the pod
template (service account, volumes, pod securityContext; per container env, volumeMounts,
securityContext). torchrun in each pod starts `numProcPerNode` processes. The TrainJob's
`jobsStatus` and `Complete` / `Failed` conditions follow the pods; a failed node fails the
set and stops the others, as JobSet's default failure policy does.
"""

from __future__ import annotations

import copy

from tests.cluster.pod import suffix

#: the runtime's pod template (kubeflow/trainer v2.3.0 manifests/base/runtimes/torch_distributed.yaml)
RUNTIME_CONTAINER = {"name": "node", "image": "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime"}
RUNTIME_LABELS = {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
MASTER_PORT = 29400
CONTAINER_PATCH_LISTS = ("env", "volumeMounts")


def node_pod_spec(trainjob: dict, rank: int) -> tuple[dict, list[dict]]:
    """(pod spec, the torch plugin's env) for node `rank`."""
    name = trainjob["metadata"]["name"]
    trainer = trainjob["spec"].get("trainer") or {}
    container = copy.deepcopy(RUNTIME_CONTAINER)
    for key in ("image", "command", "args"):
        if trainer.get(key):
            container[key] = trainer[key]
    container["env"] = copy.deepcopy(trainer.get("env") or [])
    if trainer.get("resourcesPerNode"):
        container["resources"] = trainer["resourcesPerNode"]
    spec = {"containers": [container], "restartPolicy": "OnFailure"}
    for patch in trainjob["spec"].get("runtimePatches") or []:
        apply_patch(spec, patch)
    plugin = [{"name": "PET_NNODES", "value": str(trainer.get("numNodes", 1))},
              {"name": "PET_NPROC_PER_NODE", "value": str(trainer.get("numProcPerNode", "auto"))},
              {"name": "PET_NODE_RANK", "value": str(rank)},
              {"name": "PET_MASTER_ADDR", "value": f"{name}-node-0-0.{name}"},
              {"name": "PET_MASTER_PORT", "value": str(MASTER_PORT)}]
    return spec, plugin


def apply_patch(spec: dict, patch: dict) -> None:
    """One runtimePatch onto the `node` replicated job's pod spec."""
    jobs = (((patch.get("trainingRuntimeSpec") or {}).get("template") or {}).get("spec") or {})
    for job in jobs.get("replicatedJobs") or []:
        if job.get("name") != "node":
            continue
        pod = (((job.get("template") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        for key, value in pod.items():
            if key == "containers":
                for container_patch in value:
                    _patch_container(spec, container_patch)
            elif key == "volumes":
                spec.setdefault("volumes", []).extend(copy.deepcopy(value))
            else:
                spec[key] = copy.deepcopy(value)


def _patch_container(spec: dict, patch: dict) -> None:
    for container in spec["containers"]:
        if container["name"] == patch["name"]:
            for key, value in patch.items():
                if key in CONTAINER_PATCH_LISTS:
                    container.setdefault(key, []).extend(copy.deepcopy(value))
                elif key != "name":
                    container[key] = copy.deepcopy(value)
            return
    raise AssertionError(f"runtimePatch names container {patch['name']!r}, which the "
                         "torch-distributed runtime does not have")


class TrainJobController:
    def __init__(self, controllers) -> None:
        self.controllers = controllers
        self.jobs: dict[tuple[str, str], list] = {}

    def reconcile(self, trainjob: dict) -> None:
        meta = trainjob["metadata"]
        ns, name = meta["namespace"], meta["name"]
        c = self.controllers
        if (ns, name) not in self.jobs:
            nodes = []
            for rank in range((trainjob["spec"].get("trainer") or {}).get("numNodes", 1)):
                spec, plugin = node_pod_spec(trainjob, rank)
                labels = {**RUNTIME_LABELS, "jobset.sigs.k8s.io/jobset-name": name,
                          "jobset.sigs.k8s.io/replicatedjob-name": "node",
                          "jobset.sigs.k8s.io/job-index": "0",
                          "batch.kubernetes.io/job-completion-index": str(rank)}
                host = f"{name}-node-0-{rank}"
                pod = c.run_pod(f"{host}-{suffix()}", ns, labels, spec, hostname=host,
                                extra_env=plugin)
                c.kubelet.network.publish([f"{host}.{name}", f"{host}.{name}.{ns}.svc",
                                           f"{host}.{name}.{ns}.svc.cluster.local"], pod.ip)
                nodes.append(pod)
            self.jobs[(ns, name)] = nodes
        nodes = self.jobs[(ns, name)]
        codes = [pod.poll() for pod in nodes]
        failed = [pod for pod, code in zip(nodes, codes, strict=True) if code not in (None, 0)]
        status = {"jobsStatus": [{"name": "node", "active": codes.count(None), "ready":
                                  sum(1 for p in nodes if p.ready), "succeeded": codes.count(0),
                                  "failed": len(failed), "suspended": 0}]}
        if failed:
            for pod in nodes:
                if pod.poll() is None:
                    c.stop_pod(pod, remove=False)  # JobSet keeps the pods of a failed set
            status["conditions"] = [{"type": "Failed", "status": "True", "reason": "FailedJobs",
                                     "message": f"jobset failed: pod {failed[0].name} exited "
                                                f"{failed[0].exit_code}"}]
        elif all(code == 0 for code in codes):
            status["conditions"] = [{"type": "Complete", "status": "True",
                                     "reason": "JobsCompleted", "message": "TrainJob is completed"}]
        c.server.update_status("trainjobs", ns, name, status)
