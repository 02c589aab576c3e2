"""Process-group plumbing shared by local multi-process training and Kubeflow TrainJob pods.

Both launchers speak the torchrun environment contract (RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so the training code reads only that and does
not care who started it. `backends.local.launch.launch_local` plays torchrun's part on one
machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from salesops.errors import ConfigError

#: How long a collective may wait for the other ranks before failing. Long enough for a slow
#: pod to pull its image and join, short enough that a dead peer does not hang a job forever.
DEFAULT_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str  # "nccl", "gloo", or "none" for a single process without a process group
    local_world_size: int = 1  # ranks on this machine (torchrun's LOCAL_WORLD_SIZE)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(timeout_s: float = DEFAULT_TIMEOUT_S) -> DistInfo:
    """Join the process group that the environment describes (none for a single process).

    Reads the torchrun variables; LOCAL_WORLD_SIZE (ranks on this node, default 1) and the
    visible GPUs choose the device (`device_for`).
    """
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device = device_for(local_rank, local_world_size, gpus)
    cuda = device.type == "cuda"
    if cuda:
        # Collectives and autocast use the current device; without this every rank on a
        # node would pile onto cuda:0.
        torch.cuda.set_device(device)
    if world_size <= 1:
        return DistInfo(0, 1, 0, device, "none")
    backend = "nccl" if cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend,
            init_method="env://",
            rank=rank,
            world_size=world_size,
            timeout=timedelta(seconds=timeout_s),
        )
    return DistInfo(rank, world_size, local_rank, device, backend, local_world_size)


def device_for(local_rank: int, local_world_size: int, gpus: int) -> torch.device:
    """`cuda:<local rank>` when every rank on this node has a GPU of its own, the CPU when
    the node shows no GPU, and an error in between.

    All ranks must pick the same backend and NCCL refuses two ranks on one GPU, so fewer
    GPUs than ranks cannot use them; this used to fall back to the CPU silently, leaving a
    GPU that a pod had asked for idle (issue 15, defect 4). Hiding the GPUs
    (`CUDA_VISIBLE_DEVICES=`) is the explicit way to train on the CPU.
    """
    if gpus == 0:
        return torch.device("cpu")
    if gpus < local_world_size:
        raise ConfigError(
            f"{local_world_size} training processes on this machine but {gpus} GPU(s): "
            "NCCL needs one GPU per process",
            hint="start as many processes per node as GPUs (--nodes locally, "
                 "kubernetes.proc_per_node = kubernetes.gpus_per_node on a cluster), or "
                 "set CUDA_VISIBLE_DEVICES= to train on the CPU")
    return torch.device(f"cuda:{local_rank}")


def shutdown(info: DistInfo) -> None:
    if info.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_from_main(info: DistInfo, obj: Any) -> Any:
    """Rank 0's `obj` on every rank (any picklable object). For small things: every rank
    holds the pickle and its own copy (`shared_rows` moves the training rows)."""
    if info.world_size == 1:
        return obj
    box = [obj]
    # nccl moves the pickled bytes through the GPU; gloo through host memory.
    dist.broadcast_object_list(box, src=0, device=info.device if info.backend == "nccl" else None)
    return box[0]


def all_agree_to_stop(info: DistInfo, stop: bool) -> bool:
    """Rank 0's stop decision on every rank: if ranks disagreed (e.g. float noise in their
    validation losses), the one that left would leave the others blocked in a collective."""
    if info.world_size == 1:
        return bool(stop)
    flag = torch.tensor([1 if stop else 0], dtype=torch.int32, device=info.device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def barrier(info: DistInfo) -> None:
    """Return once every rank got here: the ranks' way to know that all of them succeeded."""
    if info.world_size > 1:
        dist.barrier(device_ids=[info.device.index] if info.backend == "nccl" else None)
