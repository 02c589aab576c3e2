"""Who answers at a model server's address: its info route (pid, deploy id, workspace,
model, ready), asked over plain `http.client` (stdlib only).

The local deployer asks it to know when the server it started answers as itself, and who
holds a port it cannot bind; `serving.client` asks it for `predict` and `status`.
Requests go on a new connection each, with a short connect timeout (an address where
nothing answers fails in seconds, not after the read timeout) and no proxy (a model server
on loopback must not be asked through `$http_proxy`).
"""

from __future__ import annotations

import http.client
import json
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: the route with the server's pid, deploy id, workspace and model (salesops.serving.app)
INFO_PATH = "/salesops/server"
CONNECT_TIMEOUT_S = 3.0


def client_url(host: str, port: int) -> str:
    """Where a client on this machine reaches a server listening on host:port."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def server_info(url: str, timeout: float = 2) -> dict[str, Any] | None:
    """The salesops server's info at `url` (pid, deploy_id, workspace, model, ready); None
    when nothing answers there, or something that is not a salesops model server."""
    try:
        return info_of(*request("GET", url.rstrip("/") + INFO_PATH, None, timeout))
    except (OSError, http.client.HTTPException):
        return None


def info_of(status: int, body: bytes) -> dict[str, Any] | None:
    """The info in an answer of the info route; None when it is not a salesops server's."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    return answer if status == 200 and isinstance(answer, dict) and "pid" in answer else None


def same_workspace(info: dict[str, Any] | None, workspace: Path) -> bool:
    served = (info or {}).get("workspace")
    return bool(served) and Path(served).resolve() == Path(workspace).resolve()


def request(method: str, url: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    """(status, body) of one request on a new connection; OSError or HTTPException when
    the server cannot be reached or does not speak HTTP."""
    parts = urlsplit(url)
    connect_timeout = min(CONNECT_TIMEOUT_S, timeout)
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=connect_timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=connect_timeout)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    try:
        conn.connect()
        conn.sock.settimeout(timeout)
        headers = {"content-type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
