"""The `postgres` profile's build lock: one `features build` at a time per schema, across
every process that uses the server (a laptop, a `features build` Job, a CronJob's append).

The workspace's flock cannot do it: each pod has its own emptyDir workspace, and every build
stages into the same `<schema>.<view>__staging` tables and online staging schema. So the
build holds a session-level advisory lock, keyed by the schema, on a connection of its own
for the whole build. A session lock goes with its connection: a build that exits, however
it exits (`kill -9`, a lost pod), releases it, and nothing stale needs clearing. The lock
connection's `application_name` says who holds it, which is what a refused build prints.
The switch checks, in its own transaction, that this build still holds the lock (a lock
connection lost mid-build means another build may have started since).
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from salesops.errors import SalesOpsError, ServiceUnavailable, WorkspaceBusy
from salesops.stores.postgres_server import PgTarget, connect

#: Postgres keeps 63 bytes of an application_name
_NAME_BYTES = 63


class StoreBusy(WorkspaceBusy):
    """Another `features build` holds the store's build lock (exit code 75, like a busy
    workspace: the same "retry later")."""

    kind = "store_busy"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        SalesOpsError.__init__(self, message, hint=hint)


@dataclass(frozen=True)
class HeldLock:
    """A lock this process holds: the backend that holds it, for the switch's check."""

    key: int
    backend_pid: int


#: (server, database, schema) -> [the held lock, nesting depth]; re-entrant per process
_held: dict[tuple[str, str], list[Any]] = {}


def lock_key(schema: str) -> int:
    """The advisory lock's bigint key: the schema's name, hashed (stable across processes,
    versions and machines, unlike Python's hash)."""
    digest = hashlib.sha256(f"salesops features build {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _slot(target: PgTarget) -> tuple[str, str]:
    return (target.where, target.schema)


@contextmanager
def build_lock(target: PgTarget, command: str) -> Iterator[None]:
    """Hold the schema's build lock for the block, or raise `StoreBusy` at once."""
    slot = _slot(target)
    if slot in _held:
        _held[slot][1] += 1
        try:
            yield
        finally:
            _held[slot][1] -= 1
        return
    key = lock_key(target.schema)
    name = f"{command}, pid {os.getpid()} on {socket.gethostname()}"
    with connect(target, autocommit=True,
                 application_name=name.encode()[:_NAME_BYTES].decode(errors="ignore")) as conn:
        _keep_alive(conn)
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            raise StoreBusy(f"another features build is running on this Postgres (schema "
                            f"{target.schema} at {target.where}: {_holder(conn, key)}); "
                            "nothing was done", hint="retry when it has finished")
        _held[slot] = [HeldLock(key, conn.info.backend_pid), 1]
        try:
            yield
        finally:
            _held.pop(slot, None)
            # closing the connection releases the session lock (`connect` closes it)


def check_held(conn, target: PgTarget) -> None:
    """Inside the switch's transaction: refuse to switch unless this process's lock
    connection still holds the build lock (no-op when no lock was taken in this process)."""
    held = _held.get(_slot(target))
    if held is None:
        return
    lock: HeldLock = held[0]
    row = conn.execute(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = %s "
        "AND classid = %s AND objid = %s AND objsubid = 1",
        (lock.backend_pid, *_halves(lock.key))).fetchone()
    if row is None:
        raise ServiceUnavailable(f"the build lost its lock on PostgreSQL at {target.where} "
                                 f"(schema {target.schema}); nothing was switched",
                                 hint="run the build again")


def _halves(key: int) -> tuple[int, int]:
    """pg_locks shows a bigint advisory key as two oids: the high and low 32 bits."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def _holder(conn, key: int) -> str:
    """Who holds the lock, for the refusal: its application_name and since when. An
    advisory lock belongs to one database, and its key only names the schema: the same
    schema's lock in another database on the server is not this one's holder."""
    row = conn.execute(
        "SELECT a.application_name, host(a.client_addr), "
        "to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
        "AND l.objsubid = 1 AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
        _halves(key)).fetchone()
    if row is None:
        return "it has just finished"
    name, client, since = row
    parts = [f"`{name}`" if name else "holder unknown", f"from {client}" if client else "",
             f"since {since}" if since else ""]
    return ", ".join(part for part in parts if part)


def _keep_alive(conn) -> None:
    """The lock connection sits idle for the whole build: a server-side idle timeout must
    not end it, and a dead client's lock should be freed within about a minute."""
    for setting, value in (("tcp_keepalives_idle", "30"), ("tcp_keepalives_interval", "10"),
                           ("tcp_keepalives_count", "3")):
        conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
    if conn.info.server_version >= 140000:
        conn.execute("SELECT set_config('idle_session_timeout', '0', false)")
