"""`launch_local`: torchrun's part on one machine. N rank processes that die with their
parent, get their share of the cores, and whose failures reach the caller as they were.

A rank never outlives the command that started it: each sets the kernel's parent-death
signal (SIGKILL) first thing, checks that the parent is still the one that spawned it (it
may have died before the signal was armed), and keeps a watchdog thread that kills the rank
if the parent changes anyway (a platform without the signal). Before this, `kill -9` of
`train submit` left its ranks training, and rank 0 registered and promoted a model after
the command was gone.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from salesops.backends.local import threads as cpu
from salesops.errors import SalesOpsError
from salesops.faults import checkpoint

#: how long a failed run waits for the other ranks' reports, to find which one is the cause
CAUSE_GRACE_S = 5.0
#: how long a rank may take to exit after its report (its process group's teardown)
EXIT_GRACE_S = 30.0
#: how often a rank's watchdog checks that its parent is alive
PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1
#: torchrun's environment contract, which a rank's training code reads
ENV_KEYS = (
    "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
)


class LaunchFailed(RuntimeError):
    """A rank died without reporting, did not exit cleanly, or the run timed out."""


@dataclass(frozen=True)
class _Failure:
    """A rank's exception, as data: rebuilt in the parent with its type and attributes."""

    error: bytes | None  # pickled (class, args, attributes); None if that cannot be pickled
    summary: str  # "Type: first line"
    ours: bool  # a SalesOpsError: its one line is the whole story
    collective: bool  # a torch.distributed error: usually a peer's failure, not the cause
    trace: str


def launch_local(nodes: int, entry: Callable[..., Any], args: tuple = (), *,
                 port: int | None = None, timeout_s: float | None = None) -> Any:
    """Run `entry(*args)` as `nodes` ranks on this machine and return rank 0's result, once
    every rank has reported success and exited 0.

    Each rank is a fresh "spawn" process (fork would copy torch's thread pools and any
    initialized state), so `entry` must be importable by name: a module-level function.
    The first rank to fail ends the run: the others are stopped, and the cause (our own
    error first, then one that is not a collective's broken connection) is raised here with
    its type, attributes and exit code, as `nodes == 1` would raise it; its traceback on the
    rank is attached as a note. A rank that dies without a report, or a run over
    `timeout_s`, raises `LaunchFailed`. With `nodes == 1`, `entry` runs in this process.
    """
    if nodes < 1:
        raise ValueError(f"nodes must be >= 1, got {nodes}")
    cpu.prefer_passive_wait()  # before any rank (or this process, for one) loads torch
    threads = cpu.per_process(nodes)
    if nodes == 1:
        return _run_in_process(entry, args, threads)
    port = port or free_port()
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_rank_main, name=f"salesops-rank-{rank}",
                         args=(rank, nodes, port, threads, os.getpid(), entry, args, results))
             for rank in range(nodes)]
    started = []
    try:
        for proc in procs:
            proc.start()
            started.append(proc)
        checkpoint("train.workers_started")
        value = _collect(procs, results, timeout_s)
        _join_all(procs)
        return value
    finally:
        _stop(started)
        results.close()


def die_with_parent(parent_pid: int) -> None:
    """Make this process die when `parent_pid` (its parent) does, however that dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still covers it
    if os.getppid() != parent_pid:  # it died before the signal was armed: nobody will send it
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                     name="salesops-parent-watch").start()


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)


def _run_in_process(entry: Callable[..., Any], args: tuple, threads: int) -> Any:
    saved = {key: os.environ.get(key) for key in ENV_KEYS}
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
    for key in ("MASTER_ADDR", "MASTER_PORT"):
        os.environ.pop(key, None)
    cpu.apply(threads)
    try:
        return entry(*args)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _rank_main(rank, nodes, port, threads, parent_pid, entry, args, results) -> None:
    die_with_parent(parent_pid)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(nodes), LOCAL_RANK=str(rank),
                      LOCAL_WORLD_SIZE=str(nodes), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    cpu.apply(threads)
    try:
        value = entry(*args)
        # Plain pickle, not the queue's torch-aware pickler: that one would pass tensors as
        # shared-memory handles that die with this process, which exits right after.
        results.put((rank, True, pickle.dumps(value) if rank == 0 else None))
    except BaseException as exc:  # noqa: BLE001 - any failure must reach the parent
        results.put((rank, False, _failure(exc)))
    finally:
        if "torch.distributed" in sys.modules:  # a rank that got as far as torch
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _failure(exc: BaseException) -> _Failure:
    first_line = (str(exc).strip().splitlines() or [""])[0]
    summary = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    try:
        # class, args and attributes rather than the exception itself: an error whose
        # __init__ takes other arguments than its args (WorkspaceBusy, say) would
        # not unpickle
        error = pickle.dumps((type(exc), exc.args, dict(vars(exc))))
        _rebuild(error)
    except Exception:  # noqa: BLE001 - a local class, an unpicklable attribute: the summary
        error = None
    trace = "".join(traceback.format_exception(exc))
    # gloo reports a lost peer as a plain RuntimeError: known by where it was raised
    # torch as far as the rank got: one that failed before loading it imports nothing here
    dist = sys.modules.get("torch.distributed")
    collective = (dist is not None and isinstance(exc, dist.DistError)) or (
        not isinstance(exc, SalesOpsError) and f"torch{os.sep}distributed{os.sep}" in trace)
    return _Failure(error, summary, isinstance(exc, SalesOpsError), collective, trace)


def _rebuild(error: bytes) -> BaseException:
    cls, args, attributes = pickle.loads(error)
    exc = cls.__new__(cls)
    BaseException.__init__(exc, *args)
    exc.__dict__.update(attributes)
    return exc


def _cause(rank: int, failure: _Failure, procs: list, pending: set[int], results
           ) -> BaseException:
    """The error to raise for a failed run. One rank's failure makes its peers fail too (a
    closed connection, a broken barrier), and their reports may come first: wait (up to
    `CAUSE_GRACE_S`) for the other ranks, then blame a rank that died without a report
    (killed: everything else follows from that), else our own error, else any but a
    collective's."""
    failures = [(rank, failure)]
    waiting, silent = set(pending) - {rank}, set()  # silent: exited, no report read yet
    deadline = time.monotonic() + CAUSE_GRACE_S
    while (waiting or silent) and time.monotonic() < deadline:
        try:
            other, ok, payload = results.get(timeout=0.1)
        except queue.Empty:
            # a report is written just before the exit, so it may follow the exit here
            silent |= {r for r in waiting if procs[r].exitcode is not None}
            waiting -= silent
            if silent and not waiting:
                deadline = min(deadline, time.monotonic() + 1.0)
            continue
        waiting.discard(other)
        silent.discard(other)
        if not ok:
            failures.append((other, payload))
    if silent:
        dead = min(silent)
        return LaunchFailed(f"rank {dead} {_exit_text(procs[dead].exitcode)} without a result")
    rank, failure = min(failures, key=lambda f: (not f[1].ours, f[1].collective))
    if failure.error is None:
        return LaunchFailed(f"rank {rank} failed: {failure.summary}")
    exc = _rebuild(failure.error)
    exc.add_note(f"raised on training rank {rank}:\n{failure.trace.rstrip()}")
    return exc


def _collect(procs: list, results, timeout_s: float | None) -> Any:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    pending = set(range(len(procs)))
    value = None
    while pending:
        if deadline is not None and time.monotonic() > deadline:
            raise LaunchFailed(f"local training timed out after {timeout_s:g} s; ranks still "
                               f"running: {sorted(pending)}")
        message = _next_message(procs, pending, results)
        if message is None:
            continue
        rank, ok, payload = message
        if not ok:
            raise _cause(rank, payload, procs, pending, results)
        pending.discard(rank)
        if rank == 0:
            value = pickle.loads(payload)
    return value


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
        raise LaunchFailed(f"rank {dead[0]} {_exit_text(code)} without a result") from None


def _join_all(procs: list) -> None:
    """Every rank reported success; it must also exit, and exit 0."""
    deadline = time.monotonic() + EXIT_GRACE_S
    for rank, proc in enumerate(procs):
        proc.join(timeout=max(0.0, deadline - time.monotonic()))
        if proc.exitcode != 0:
            state = "did not exit" if proc.exitcode is None else _exit_text(proc.exitcode)
            raise LaunchFailed(f"rank {rank} {state} after reporting success")


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _stop(procs: list) -> None:
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()


def free_port() -> int:
    """A TCP port that is free on loopback right now (the OS picks it): rank 0's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
