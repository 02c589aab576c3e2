"""How many threads each training process uses: the cores this process may really run on,
shared among the processes.

torch's default is one intra-op thread per CPU the machine has, whatever the affinity mask
or the container's CPU quota allows, and its OpenMP threads spin while they wait for each
other. On a busy machine (a CI runner, a shared box) one of them is descheduled, the others
spin out their time slice waiting for it, and every small operation of our network costs a
scheduler tick: an epoch measured at 0.5 s idle took 160 s with eight busy loops beside it.
So each process gets `cores // processes` threads, and waiting threads sleep instead of
spinning (`OMP_WAIT_POLICY=PASSIVE`, unless the user chose a policy).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
WAIT_POLICY = "OMP_WAIT_POLICY"


def parse_cpu_max(text: str) -> float | None:
    """cgroup v2 `cpu.max` ("QUOTA PERIOD", "max PERIOD" when unlimited) -> cores."""
    parts = text.split()
    if not parts or parts[0] == "max":
        return None
    period = float(parts[1]) if len(parts) > 1 else 100_000.0
    return float(parts[0]) / period if period > 0 else None


def parse_cfs(quota: str, period: str) -> float | None:
    """cgroup v1 `cpu.cfs_quota_us` (-1 when unlimited) and `cpu.cfs_period_us` -> cores."""
    quota_us, period_us = int(quota.strip()), int(period.strip())
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def cores_from(affinity: int, quotas: list[float]) -> int:
    """Whole cores available: the affinity mask, capped by the tightest quota (a quota of
    1.5 cores is one core that is never throttled, not two that are)."""
    cores = affinity
    for quota in quotas:
        cores = min(cores, math.floor(quota))
    return max(1, cores)


def available_cores() -> int:
    """The cores this process may run on: its affinity mask and its cgroup's CPU quota."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        affinity = os.cpu_count() or 1
    return cores_from(affinity, cgroup_quotas())


def cgroup_quotas(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup"),
                  ) -> list[float]:
    """Every CPU quota on this process's cgroup path and its ancestors (v2 and v1)."""
    quotas = []
    for folder in _cgroup_folders(root, proc_cgroup):
        try:
            if (folder / "cpu.max").is_file():
                quota = parse_cpu_max((folder / "cpu.max").read_text())
            elif (folder / "cpu.cfs_quota_us").is_file():
                quota = parse_cfs((folder / "cpu.cfs_quota_us").read_text(),
                                  (folder / "cpu.cfs_period_us").read_text())
            else:
                continue
        except (OSError, ValueError):
            continue
        if quota is not None:
            quotas.append(quota)
    return quotas


def _cgroup_folders(root: Path, proc_cgroup: Path) -> list[Path]:
    """The folders that may hold this process's CPU limits: its own cgroup and each parent
    (v2: the unified tree; v1: the `cpu` controller's), and the mount points themselves
    (inside a container, where /proc/self/cgroup names a path of the host's tree)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    folders: list[Path] = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            mounts = [root]
        elif "cpu" in controllers.split(","):
            mounts = [root / controllers, root / "cpu", root / "cpu,cpuacct"]
        else:
            continue
        for mount in mounts:
            here = mount / path.strip("/")
            while True:
                folders.append(here)
                if here == mount:
                    break
                here = here.parent
    return list(dict.fromkeys(folders))


def per_process(processes: int, cores: int | None = None) -> int:
    """Intra-op threads for each of `processes` processes sharing `cores` (default: this
    process's available cores)."""
    cores = available_cores() if cores is None else cores
    return max(1, cores // max(1, processes))


def prefer_passive_wait() -> None:
    """Idle OpenMP threads sleep rather than spin. OpenMP reads this once, when torch loads:
    call it before the first `import torch` of a process (spawned ranks inherit it)."""
    os.environ.setdefault(WAIT_POLICY, "PASSIVE")


def apply(threads: int) -> tuple[int, int]:
    """Set torch's intra- and inter-op thread counts; returns what torch then uses.

    The inter-op count can be set once per process, before any inter-op work; a process
    that already trained (a test session, a `pipeline run` that retrains) keeps its own.
    """
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass
    return torch.get_num_threads(), torch.get_num_interop_threads()


def describe(processes: int, threads: int) -> str:
    """`2 processes × 1 thread` (what the progress output says)."""
    return (f"{processes} process{'es' if processes != 1 else ''} × "
            f"{threads} thread{'s' if threads != 1 else ''}")
