"""What salesops changes in KServe's FastAPI app before the server starts.

* No unauthenticated state change: KServe registers `/v2/repository/models/{m}/load` and
  `/unload` unconditionally (0.21 has no switch); anyone who could reach the port could
  unload the model. Here they answer 404 and change nothing (`LockedRepository`): one
  server serves one model, and a new model is a `serve deploy`.
* Readiness is the model's: KServe's `/v2/health/ready` answers true whatever the models'
  state; ours (`ModelDataPlane`) is 503 until every model is loaded, and after one stops.
* The info route (`client.INFO_PATH`) says who answers: pid, model, deploy id and workspace,
  so that `serve deploy`/`status`/`stop` and `predict` can tell this server from another.
* A V2 body without Content-Type is JSON unless it carries the binary extension's header
  (`_untyped_v2_body`), and a V2 request's `outputs` are honoured (`v2_outputs`).
* `/metrics` leaves out the families salesops never updates (`exported_metrics`).
* Request bodies are bounded (`serving.max_request_bytes`, 413 past it): the declared
  Content-Length is checked before any byte is read, a chunked body as it arrives.
* While the server drains (see `server`), every response carries `Connection: close`, so
  that keep-alive clients move to the server that takes over instead of being cut off.
* Client errors (4xx) are logged as one INFO line, server errors (5xx) at ERROR with the
  traceback. KServe logs every 400 at ERROR.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salesops.serving.client import INFO_PATH

log = logging.getLogger("salesops.serving")
#: the binary tensor extension's header: the length of the JSON part of a binary body
BINARY_HEADER = b"inference-header-content-length"
JSON_TYPE = (b"content-type", b"application/json")


class RepositoryDisabled(Exception):
    """A model repository request (load/unload): this server does not change its models."""


@dataclass
class ServerState:
    """What the routes and the middleware read about the running server."""

    workspace: Path
    deploy_id: str | None = None
    draining: bool = False
    started_at: float = field(default_factory=time.time)


def model_plane(registry):
    """KServe's data plane and repository extension for `registry`, as described above (what
    `RESTServer` takes)."""
    from kserve.errors import InvalidInput
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension

    from salesops.serving import v2_outputs

    class ModelDataPlane(DataPlane):
        async def infer(self, model_name: str, request, headers=None):
            outputs = v2_outputs.requested(request, self.get_model_from_registry(model_name))
            response, response_headers = await super().infer(model_name, request, headers)
            return v2_outputs.restrict(response, outputs), response_headers

        async def ready(self) -> bool:
            models = list(registry.get_models().values())
            return bool(models) and all(model.ready for model in models)

        def decode(self, *args, **kwargs):
            # KServe decodes binary tensors eagerly, and a buffer that does not fit its
            # datatype or shape is a numpy ValueError: the client's error, not a 500
            try:
                return super().decode(*args, **kwargs)
            except InvalidInput:
                raise
            except (ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:
                raise InvalidInput(f"the request's tensors cannot be decoded: {exc}") from None

    class LockedRepository(ModelRepositoryExtension):
        async def load(self, model_name: str) -> None:
            raise RepositoryDisabled(f"loading models is disabled on this server; deploy "
                                     f"{model_name} with `salesops serve deploy`")

        async def unload(self, model_name: str) -> None:
            raise RepositoryDisabled(f"unloading {model_name} is disabled on this server; "
                                     "stop it with `salesops serve stop`")

    return ModelDataPlane(model_registry=registry), LockedRepository(model_registry=registry)


def install(app, predictor, state: ServerState, max_request_bytes: int) -> None:
    """Make KServe's `app` (routes already registered) the server described above."""
    from fastapi.exceptions import RequestValidationError
    from kserve import errors as kserve_errors

    from salesops.serving import exported_metrics

    app.add_api_route(INFO_PATH, _info(predictor, state), methods=["GET"])
    exported_metrics.replace_route(app)
    handlers: list[tuple[type, int, int]] = [
        (kserve_errors.InvalidInput, 400, logging.INFO),
        (RepositoryDisabled, 404, logging.WARNING),
        (kserve_errors.UnsupportedProtocol, 400, logging.INFO),
        (RequestValidationError, 400, logging.INFO),
        (kserve_errors.ModelNotFound, 404, logging.INFO),
        (NotImplementedError, 501, logging.INFO),
        (kserve_errors.ModelNotReady, 503, logging.WARNING),
        (kserve_errors.ServerNotReady, 503, logging.WARNING),
        (kserve_errors.ServerNotLive, 503, logging.WARNING),
        (kserve_errors.InferenceError, 500, logging.ERROR),
        (Exception, 500, logging.ERROR),
    ]
    for kind, status, level in handlers:
        app.add_exception_handler(kind, error_handler(status, level))
    app.add_middleware(RequestGuard, state=state, max_request_bytes=max_request_bytes)


def error_handler(status: int, level: int) -> Callable[[Any, Exception], Awaitable[Any]]:
    """A JSON `{"error": ...}` answer with `status`, logged at `level` (with the traceback
    at ERROR: a failure of the server, not of the request)."""
    from fastapi.responses import JSONResponse

    async def handle(request, exc: Exception):
        message = _one_line(exc)
        where = f"{request.method} {request.url.path}"
        log.log(level, "%s: %d %s", where, status, message,
                exc_info=exc if level >= logging.ERROR else None)
        return JSONResponse(status_code=status, content={"error": message})

    return handle


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):  # FastAPI's RequestValidationError: name the field
        first = (errors() or [{}])[0]
        if first.get("type") == "json_invalid":
            return f"the request body is not JSON: {first.get('ctx', {}).get('error', '')}"
        where = ".".join(str(part) for part in first.get("loc", ())[1:]
                         if part != "InferenceRequest")
        return f"{where or 'body'}: {str(first.get('msg', exc)).lower()}"
    if (type(exc).__module__.startswith("kserve")
            or isinstance(exc, NotImplementedError | RepositoryDisabled)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _info(predictor, state: ServerState):
    async def info() -> dict:
        return {"pid": os.getpid(), "model_name": predictor.name,
                "model_version": predictor.version, "ready": bool(predictor.ready),
                "deploy_id": state.deploy_id, "workspace": str(state.workspace),
                "started_at": state.started_at, "draining": state.draining,
                "online_series": predictor.online.size if predictor.ready else 0,
                "fast_path": predictor.fast_path}

    return info


class RequestGuard:
    """ASGI middleware: the body size limit, the JSON type of an untyped V2 body, and
    `Connection: close` while draining."""

    def __init__(self, app, state: ServerState, max_request_bytes: int) -> None:
        self.app, self.state, self.limit = app, state, max_request_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send = self._closing(send)
        headers = dict(scope["headers"])
        if _untyped_v2_body(scope, headers):
            scope = {**scope, "headers": [*scope["headers"], JSON_TYPE]}
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return await self._refuse(scope, send, 400, "invalid Content-Length")
            if int(length) > self.limit:
                return await self._too_large(scope, send, f"{int(length):,} bytes")
        elif b"transfer-encoding" in headers:  # chunked: count the bytes as they come
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                body += message.get("body", b"")
                if len(body) > self.limit:
                    return await self._too_large(scope, send, "a chunked body")
                if not message.get("more_body"):
                    break
            receive = _replay(bytes(body), receive)
        await self.app(scope, receive, send)

    def _closing(self, send):
        async def closing(message) -> None:
            if message["type"] == "http.response.start" and self.state.draining:
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"connection", b"close")]}
            await send(message)

        return closing

    async def _too_large(self, scope, send, what: str) -> None:
        await self._refuse(scope, send, 413, f"request body too large: {what}, the limit is "
                           f"{self.limit:,} bytes (serving.max_request_bytes)")

    @staticmethod
    async def _refuse(scope, send, status: int, message: str) -> None:
        import json

        log.info("%s %s: %d %s", scope.get("method"), scope.get("path"), status, message)
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _untyped_v2_body(scope, headers: dict[bytes, bytes]) -> bool:
    """A V2 request body without a Content-Type and without the binary extension's header,
    from a client that is not a browser (no `Origin`): JSON, as KServe's server read it
    before FastAPI 0.132 (`strict_content_type`) passed such a body on as bytes, which
    KServe takes for binary tensors. A browser page may post a body without Content-Type
    cross-site with no CORS preflight (what FastAPI's check stops); a browser sends
    `Origin` with it, so its requests still need a JSON Content-Type."""
    return (scope["method"] == "POST" and scope["path"].startswith("/v2/")
            and b"content-type" not in headers and BINARY_HEADER not in headers
            and b"origin" not in headers)


def _replay(body: bytes, receive):
    """A `receive` that gives the buffered body once, then waits on the real one."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
