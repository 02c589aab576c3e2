"""`serve run`: the KServe model server in the foreground (what a container runs).

The HTTP socket is bound before the model loads (a busy port fails in a second, not after
the load) but listens only once the server starts, with SO_REUSEPORT: a new server can then
start on the port of the one it replaces, and the kernel sends it connections only once it
is ready (see `deployment`). gRPC is off; KServe's REST server gives V1, V2, health and
`/metrics`. Per-request access and timing log lines are off: each costs more than a
forecast. SIGTERM and SIGINT stop the server gracefully; the prediction log is flushed last.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import warnings
from collections.abc import Callable

from salesops.config import Settings
from salesops.errors import UsageError
from salesops.serving.client import INFO_PATH

GRACE_S = 10


class ServerStopped(Exception):
    """SIGTERM or SIGINT: leave the server loop and clean up."""


def run_server(settings: Settings, host: str, port: int, version: str,
               progress: Callable[[str], None]) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    _log_to_stderr()
    sock = bind(host, port)
    from salesops.serving.predictor import DemandPredictor

    predictor = DemandPredictor(settings, version)
    try:
        progress(f"loading {settings.mlflow.model_name} v{version} and the online features")
        predictor.load()
        how = ("directly (same numbers as pyfunc.predict)" if predictor.fast_path
               else "through pyfunc.predict")
        progress(f"{predictor.online.size:,} series online; the model is called {how}")
        rest = _rest_server(predictor, port)
        progress(f"serving on http://{host}:{port}/v1/models/{predictor.name}:predict "
                 f"and /v2/models/{predictor.name}/infer (pid {os.getpid()})")
        rest.run(sockets=[sock])
    except ServerStopped:
        pass
    finally:
        sock.close()
        predictor.stop()
    progress("model server stopped")


def bind(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="choose another --port or stop what uses it") from None
    return sock


def _log_to_stderr() -> None:
    """The service modules' own lines (feature reloads, log write errors) in the server log."""
    logger = logging.getLogger("salesops")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s "
                                               "%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _stop(signum, frame) -> None:
    raise ServerStopped


def _bad_request_in_one_line(record: logging.LogRecord) -> bool:
    """KServe logs every 400 with its traceback; the message says all there is to say."""
    from kserve.errors import InvalidInput

    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, InvalidInput):
        record.msg, record.args, record.exc_info = f"bad request: {error}", (), None
    return True


def _rest_server(predictor, port: int):
    """KServe's REST server for the one model, with our info route and quiet per-request logs."""
    from kserve import ModelServer
    from kserve.model_server import app
    from kserve.protocol.rest.server import RESTServer

    server = ModelServer(http_port=port, enable_grpc=False, enable_latency_logging=False,
                         grace_period=GRACE_S)
    server.register_model(predictor)
    for name in ("kserve.trace", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("kserve").addFilter(_bad_request_in_one_line)
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    started = time.time()

    async def info() -> dict:
        return {"pid": os.getpid(), "model_name": predictor.name,
                "model_version": predictor.version, "started_at": started,
                "online_series": predictor.online.size, "fast_path": predictor.fast_path}

    app.add_api_route(INFO_PATH, info, methods=["GET"])
    return RESTServer("kserve.model_server:app", server.dataplane,
                      server.model_repository_extension, port, grace_period=GRACE_S)
