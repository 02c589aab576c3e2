"""Services: a user-space TCP proxy per Service port (kube-proxy's old user-space mode).

`ServiceProxy` listens on the Service's ClusterIP and port and forwards each connection to
the pod that backs it now (`target`), so a rollout switches a Service by changing one
field. Bytes pass unchanged: the Host header is the one the client pod sent.

With `postgres(...)` the proxy stands in for the Postgres StatefulSet's pod: it forwards to
the machine's server on 127.0.0.1:5432 and rewrites the database name in the startup message, so the
pods keep the URLs salesops generates (`…/salesops`) while the run uses a database of its
own that is dropped afterwards. It answers SSL and GSSAPI encryption requests with "N"
(the generated URLs do not ask for TLS; libpq then sends the plain startup message).
"""

from __future__ import annotations

import socket
import struct
import threading

SSL_REQUEST, GSS_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102


class ServiceProxy:
    def __init__(self, ip: str, port: int, target: tuple[str, int] | None = None,
                 tls=None) -> None:
        self.address = (ip, port)
        self.target = target
        #: an `ssl.SSLContext`: clients speak TLS to the proxy, which forwards plain bytes
        self.tls = tls
        #: (database the pods ask for, database of the run) once this is Postgres' Service
        self.databases: tuple[bytes, bytes] | None = None
        self.listener = socket.create_server(self.address, reuse_port=False)
        self.listener.settimeout(0.2)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)  # out of accept(): the address is free once it returns
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.target is None:  # no ready endpoint: a real Service refuses too
            client.close()
            return
        try:
            if self.tls is not None:
                client = self.tls.wrap_socket(client, server_side=True)
            first = self.first_bytes(client)
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        client.settimeout(None)
        if first:
            upstream.sendall(first)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)

    def postgres(self, database: str, upstream_database: str,
                 upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.databases = (database.encode(), upstream_database.encode())
        self.target = upstream

    def first_bytes(self, client: socket.socket) -> bytes:
        """What to send upstream before the byte pump starts: nothing (pass-through), or
        Postgres' startup message with the database renamed."""
        while self.databases:
            length, code = struct.unpack("!ii", _read(client, 8))
            rest = _read(client, length - 8)
            if code in (SSL_REQUEST, GSS_REQUEST):
                client.sendall(b"N")
                continue
            if code == CANCEL_REQUEST:
                return struct.pack("!ii", length, code) + rest
            return self.startup(code, rest)
        return b""

    def startup(self, code: int, body: bytes) -> bytes:
        parts = body.split(b"\0")
        for i in range(0, len(parts) - 1, 2):
            if parts[i] == b"database" and parts[i + 1] == self.databases[0]:
                parts[i + 1] = self.databases[1]
        body = b"\0".join(parts)
        return struct.pack("!ii", len(body) + 8, code) + body


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise OSError("connection closed during the startup message")
        data += chunk
    return data


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        source.close()
