"""`serve run`: the KServe model server in the foreground (what a container runs).

The HTTP socket is bound before the model loads (a busy port fails in a second, not after
the load) but listens only once the server starts. It is bound without SO_REUSEPORT: no
other program can join the port and answer part of its requests. Under `serve deploy` the
socket comes from the deploy instead (`Launch`: the one the previous server listens on,
shared, see `backends.local.handover`), and the server stays tied to the workspace's record
of what is deployed. gRPC is off; KServe's REST server gives V1, V2, health and `/metrics`,
changed as `app` says, and V1 reads only JSON bodies (`media_type`). Per-request access
and timing log lines are off: each costs more than a forecast. Metrics stay in this process
(prometheus_client's multi-process mode only with a directory the user set): whoever
started the server may have left Feast's metrics directory in its environment
(`backends.local.prometheus_env`).

SIGTERM and SIGINT stop the server gracefully, by draining: it stops accepting (a successor
sharing the socket accepts what is queued), finishes what is in flight, answers every
keep-alive connection's next request with `Connection: close` (or closes it once it has
been idle for IDLE_GRACE_S), then exits; the prediction log is flushed last.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
import warnings
from collections.abc import Callable

from salesops.backends.local.handover import Launch, ListenerService, bind, watch_record
from salesops.backends.local.prometheus_env import check_multiproc_dir, drop_feast_variables
from salesops.config import Settings
from salesops.errors import UsageError
from salesops.faults import checkpoint
from salesops.workspace import Workspace

GRACE_S = 10
#: how long a draining server waits for an idle keep-alive connection's next request
IDLE_GRACE_S = 2.0
log = logging.getLogger("salesops.serving")


class ServerStopped(BaseException):
    """SIGTERM or SIGINT: leave the server loop and clean up. A BaseException, like
    KeyboardInterrupt, so that no `except Exception` on the way (a library's, the scorer's
    fast-path probe) can swallow a stop and leave the server serving."""


def run_server(settings: Settings, host: str, port: int, version: str,
               progress: Callable[[str], None], launch: Launch | None = None) -> None:
    global _cleanup_started
    _cleanup_started = None
    before = {signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        _run(settings, host, port, version, progress, launch)
    except ServerStopped:
        progress("model server stopped")
    finally:
        for signum, handler in before.items():  # the caller's own, for what it does next
            signal.signal(signum, handler)


def _run(settings: Settings, host: str, port: int, version: str,
         progress: Callable[[str], None], launch: Launch | None) -> None:
    _log_to_stderr()
    drop_feast_variables()  # before anything imports prometheus_client, which reads them once
    check_multiproc_dir()
    workspace = Workspace(settings.workspace)
    sock = adopt(launch.listen_fd, port) if launch else bind(host, port)
    if launch:
        watch_record(workspace.server_state, launch, _retire)
    from salesops.serving.app import ServerState
    from salesops.serving.predictor import DemandPredictor

    predictor = None
    handover = None
    try:
        predictor = DemandPredictor(settings, version)
        progress(f"loading {settings.mlflow.model_name} v{version} and the online features")
        checkpoint("serve-run:loading")
        predictor.load()
        how = ("directly (same numbers as pyfunc.predict)" if predictor.fast_path
               else "through pyfunc.predict")
        progress(f"{predictor.online.size:,} series online; the model is called {how}")
        state = ServerState(workspace=workspace.root.resolve(),
                            deploy_id=launch.deploy_id if launch else None)
        server = _http_server(predictor, port, state, settings.serving.max_request_bytes)
        if launch:
            handover = ListenerService(sock, launch.deploy_id)
        progress(f"serving on http://{host}:{port}/v1/models/{predictor.name}:predict "
                 f"and /v2/models/{predictor.name}/infer (pid {os.getpid()})")
        server.run(sockets=[sock])
    finally:
        _ignore_stop_signals()
        if handover is not None:
            handover.close()
        sock.close()
        if predictor is not None:
            predictor.stop()  # the prediction log's last rows
    progress("model server stopped")


def adopt(fd: int, port: int) -> socket.socket:
    """The socket `serve deploy` passed as descriptor `fd` (bound to `port`)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise UsageError(f"--listen-fd {fd}: not an open socket ({exc.strerror})") from None
    if sock.type != socket.SOCK_STREAM or sock.getsockname()[1] != port:
        raise UsageError(f"--listen-fd {fd}: not a TCP socket bound to port {port}")
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


#: how long the server's cleanup is left to finish whatever stop signals arrive
CLEANUP_GRACE_S = 15.0
#: when the cleanup began (time.monotonic), None while the server runs
_cleanup_started: float | None = None


def _stop(signum, frame) -> None:
    if _cleaning_up():
        log.info("a stop signal during the cleanup: the prediction log's last rows first")
        return
    raise ServerStopped


def _cleaning_up() -> bool:
    return (_cleanup_started is not None
            and time.monotonic() - _cleanup_started < CLEANUP_GRACE_S)


def _ignore_stop_signals() -> None:
    """For `CLEANUP_GRACE_S` from the server's cleanup on, a stop signal changes nothing:
    `serve stop`'s SIGTERM ends the HTTP loop, then the record's watcher, seeing the record
    gone, retired the server with one more. Raised while the cleanup waited for the
    prediction log's thread to write its last rows, it ended the wait, and the process with
    the write half done (`drift` saw 0 of 50 served). Past the grace (a log store that
    hangs), a signal stops the cleanup as before."""
    global _cleanup_started
    _cleanup_started = time.monotonic()


def _retire(reason: str) -> None:
    if _cleanup_started is not None:  # stopping already (`serve stop` removed the record)
        return
    log.info("retiring: %s", reason)
    os.kill(os.getpid(), signal.SIGTERM)


def _http_server(predictor, port: int, state, max_request_bytes: int):
    """KServe's app for the one model, changed as `app` says, behind a draining uvicorn."""
    from kserve import ModelServer
    from kserve.model_server import app
    from kserve.protocol.rest.server import RESTServer

    from salesops.serving.app import install, model_plane
    from salesops.serving.media_type import V1MediaTypeGuard

    server = ModelServer(http_port=port, enable_grpc=False, enable_latency_logging=False,
                         grace_period=GRACE_S)
    server.register_model(predictor)
    for name in ("kserve.trace", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    dataplane, repository = model_plane(server.registered_models)
    rest = RESTServer("kserve.model_server:app", dataplane, repository, port,
                      grace_period=GRACE_S)
    rest.create_application()
    app.add_middleware(V1MediaTypeGuard)  # before `install`: its guard (size, drain) is outer
    install(app, predictor, state, max_request_bytes)
    return _draining_server(rest.config, state)


def _draining_server(config, state):
    import uvicorn

    class DrainingServer(uvicorn.Server):
        async def shutdown(self, sockets=None) -> None:
            state.draining = True
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            deadline = time.monotonic() + IDLE_GRACE_S
            while (self.server_state.connections and time.monotonic() < deadline
                   and not self.force_exit):
                await asyncio.sleep(0.02)
            await super().shutdown()

    return DrainingServer(config)
