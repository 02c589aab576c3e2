"""How a locally deployed server hands its port to the next one without dropping a request,
and how it stays tied to the workspace's record of what is deployed.

The listening socket is shared, not re-bound: the running server hands a duplicate of its
listening descriptor (SCM_RIGHTS over a Unix socket) to `serve deploy`, which passes it to
the new server. Both then accept from the same kernel queue; when the old one stops
accepting, connections still queued are simply accepted by the new one. (Two sockets on one
port with SO_REUSEPORT would each have their own queue, and the old queue's connections are
reset when it closes; SO_REUSEPORT would also let a foreign program join the port and take
a share of the requests. The port is bound without it.)

The control socket is in the abstract namespace (no file to leave behind after a `kill -9`)
and named after the deploy id; it answers only processes of the same user (SO_PEERCRED).

A deployed server lives exactly as long as the workspace's `serve.json` names it (its deploy
id): until its `serve deploy` commits (writes the record, then closes the commit pipe) it
exits if that deploy dies; afterwards it watches the record, and retires (drains and exits)
when the record names another server or is removed. So a `serve deploy`, `serve stop` or
`infra down` killed at any instant leaves, within a second, exactly the server the record
names running, and never an orphan answering on the port.

`bind` makes the listening socket when there is none to take over (the first deploy, a
new port, `serve run` in the foreground): without SO_REUSEPORT, for the reason above.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from salesops.errors import UsageError

log = logging.getLogger("salesops.serving")
REQUEST = b"listener"
WATCH_S = 0.2
FETCH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Launch:
    """What `serve deploy` gives the server it starts (hidden `serve run` options)."""

    deploy_id: str
    listen_fd: int
    commit_fd: int


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port, not yet listening; UsageError when it is taken."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT only
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="choose another --port or stop what uses it") from None
    return sock


def control_address(deploy_id: str) -> str:
    return f"\0salesops-serve-{deploy_id}"


class ListenerService:
    """The server's side: a thread handing a duplicate of `listener` to whoever asks."""

    def __init__(self, listener: socket.socket, deploy_id: str) -> None:
        self.listener = listener
        self.control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.control.bind(control_address(deploy_id))
        self.control.listen(4)
        self._thread = threading.Thread(target=self._serve, name="listener-handover",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        try:
            self.control.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.control.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.control.accept()
            except OSError:
                return  # closed
            with conn:
                try:
                    self._hand_over(conn)
                except OSError as exc:
                    log.warning("listening socket hand-over failed: %s", exc)

    def _hand_over(self, conn: socket.socket) -> None:
        pid, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))
        if uid != os.getuid():
            log.warning("refused the listening socket to pid %d of another user", pid)
            return
        conn.settimeout(FETCH_TIMEOUT_S)
        if conn.recv(len(REQUEST)) != REQUEST:
            return
        socket.send_fds(conn, [b"ok"], [self.listener.fileno()])
        log.info("handed the listening socket to pid %d (a new deploy)", pid)


def fetch_listener(deploy_id: str) -> socket.socket | None:
    """The listening socket of the running server `deploy_id`; None when it does not answer
    (it is not running, or predates hand-over)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(FETCH_TIMEOUT_S)
        try:
            conn.connect(control_address(deploy_id))
            conn.sendall(REQUEST)
            _, fds, _, _ = socket.recv_fds(conn, 16, 1)
        except OSError:
            return None
    return socket.socket(fileno=fds[0]) if fds else None


def watch_record(server_state: Path, launch: Launch, retire: Callable[[str], None]) -> None:
    """Tie the server to the record (see the module docstring), in a daemon thread."""

    def named() -> bool | None:
        try:
            import json

            record = json.loads(server_state.read_text())
        except FileNotFoundError:
            return False
        except (OSError, ValueError):
            return None  # unreadable for a moment: no verdict
        return isinstance(record, dict) and record.get("deploy_id") == launch.deploy_id

    def watch() -> None:
        while os.read(launch.commit_fd, 64):  # blocks until the deploy closes it, or dies
            pass
        os.close(launch.commit_fd)
        if named() is not True:
            retire("its `serve deploy` ended without deploying it")
            return
        while True:
            time.sleep(WATCH_S)
            if named() is False:
                retire(f"{server_state} no longer names it (replaced or stopped)")
                return

    threading.Thread(target=watch, name="record-watch", daemon=True).start()
