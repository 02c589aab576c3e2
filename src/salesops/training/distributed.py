"""Process-group plumbing shared by local multi-process training and Kubeflow TrainJob pods.

Both launchers speak the torchrun environment contract (RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so the training code reads only that and does not care who
started it. `launch_local` plays torchrun's part on one machine.
"""

from __future__ import annotations

import os
import pickle
import queue
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from salesops.errors import SalesOpsError

#: How long a collective may wait for the other ranks before failing. Long enough for a slow
#: pod to pull its image and join, short enough that a dead peer does not hang a job forever.
DEFAULT_TIMEOUT_S = 600.0
#: how long a failed run waits for the other ranks' reports, to find which one is the cause
CAUSE_GRACE_S = 2.0
_ENV_KEYS = (
    "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
)


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str  # "nccl", "gloo", or "none" for a single process without a process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(timeout_s: float = DEFAULT_TIMEOUT_S) -> DistInfo:
    """Join the process group that the environment describes (none for a single process).

    Reads the torchrun variables; LOCAL_WORLD_SIZE (ranks on this node, default 1) decides
    whether there are enough GPUs to use them.
    """
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    # GPUs only when every rank on this node gets its own: all ranks must pick the same
    # backend, and NCCL refuses two ranks on one GPU (e.g. `--nodes 2` on a 1-GPU laptop,
    # which then trains on the CPU with gloo instead of failing).
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() and torch.cuda.device_count() >= local_world_size
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
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
    return DistInfo(rank, world_size, local_rank, device, backend)


def shutdown(info: DistInfo) -> None:
    if info.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_from_main(info: DistInfo, obj: Any) -> Any:
    """Rank 0's `obj` on every rank (any picklable object)."""
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


def free_port() -> int:
    """A TCP port that is free on loopback right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_local(
    nodes: int,
    entry: Callable[..., Any],
    args: tuple = (),
    *,
    port: int | None = None,
    timeout_s: float | None = None,
) -> Any:
    """Run `entry(*args)` as `nodes` ranks on this machine and return rank 0's result.

    Each rank is a fresh "spawn" process (fork would copy torch's thread pools and any
    initialized state), so `entry` must be importable by name: a module-level function.
    The first rank to fail ends the run: the others are terminated and RuntimeError names the
    failing rank, except for our own errors (`SalesOpsError`: bad data, a failed check),
    which are raised here as they were there, so they keep their message and exit code.
    `timeout_s` bounds the whole run (None: no bound).
    With `nodes == 1`, `entry` runs in this process and its exceptions propagate unchanged.
    """
    if nodes < 1:
        raise ValueError(f"nodes must be >= 1, got {nodes}")
    if nodes == 1:
        return _run_in_process(entry, args)
    port = port or free_port()
    threads = max(1, (os.cpu_count() or 1) // nodes)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(rank, nodes, port, threads, entry, args, results),
            name=f"salesops-rank-{rank}",
        )
        for rank in range(nodes)
    ]
    for proc in procs:
        proc.start()
    try:
        return _collect(procs, results, timeout_s)
    finally:
        _stop(procs)
        results.close()


def _run_in_process(entry: Callable[..., Any], args: tuple) -> Any:
    saved = {key: os.environ.get(key) for key in _ENV_KEYS}
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
    for key in ("MASTER_ADDR", "MASTER_PORT"):
        os.environ.pop(key, None)
    try:
        return entry(*args)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _worker(rank, nodes, port, threads, entry, args, results) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(nodes),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(nodes),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    # N ranks each using every core would oversubscribe the CPU several times over.
    torch.set_num_threads(threads)
    try:
        value = entry(*args)
        # Plain pickle, not the queue's torch-aware pickler: that one would pass tensors as
        # shared-memory handles that die with this process, which exits right after.
        payload = pickle.dumps(value) if rank == 0 else None
        results.put((rank, True, payload))
    except BaseException as exc:  # noqa: BLE001 - any failure must reach the parent
        results.put((rank, False, _failure_report(exc)))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _failure_report(exc: BaseException) -> str | bytes:
    """Our own error, pickled (its one line is the whole story, so no traceback); anything
    else, its traceback on this rank's stderr and a one-line summary for the parent."""
    if isinstance(exc, SalesOpsError):
        try:
            payload = pickle.dumps(exc)
            pickle.loads(payload)  # fails for an error whose __init__ differs (NotBuiltYet)
            return payload
        except Exception:  # noqa: BLE001 - fall back to the summary below
            pass
    traceback.print_exc()
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


def _collect(procs: list, results, timeout_s: float | None) -> Any:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    pending = set(range(len(procs)))
    value = None
    while pending:
        if deadline is not None and time.monotonic() > deadline:
            raise RuntimeError(
                f"local training timed out after {timeout_s:g} s; ranks still running: "
                f"{sorted(pending)}"
            )
        message = _next_message(procs, pending, results)
        if message is None:
            continue
        rank, ok, payload = message
        if not ok:
            raise _cause(rank, payload, results)
        pending.discard(rank)
        if rank == 0:
            value = pickle.loads(payload)
    return value


def _cause(rank: int, payload: str | bytes, results) -> BaseException:
    """The error to raise for a failed run. One rank's failure makes its peers fail too (a
    closed connection), and their reports may come first: if our own error follows within
    `CAUSE_GRACE_S`, that is the cause."""
    payloads = [payload]
    deadline = time.monotonic() + CAUSE_GRACE_S
    while not isinstance(payloads[-1], bytes) and time.monotonic() < deadline:
        try:
            _, ok, later = results.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if not ok:
            payloads.append(later)
    ours = [p for p in payloads if isinstance(p, bytes)]
    return pickle.loads(ours[0]) if ours else RuntimeError(f"rank {rank} failed: {payload!s}")


def _next_message(procs: list, pending: set[int], results) -> tuple | None:
    """The next rank report, None if there is none yet; a rank that died without reporting
    (killed, segfault, out of memory) fails the run instead of being waited for forever."""
    try:
        return results.get(timeout=0.2)
    except queue.Empty:
        pass
    dead = [rank for rank in sorted(pending) if procs[rank].exitcode is not None]
    if not dead:
        return None
    try:
        # A rank writes its report just before it exits, so the report may still be in
        # the pipe when the exit is already visible.
        return results.get(timeout=2.0)
    except queue.Empty:
        code = procs[dead[0]].exitcode
        raise RuntimeError(f"rank {dead[0]} exited with code {code} without a result") from None


def _stop(procs: list) -> None:
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()
