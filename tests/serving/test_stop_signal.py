"""A stop signal is never swallowed: SIGTERM while the server loads ends it, wherever it lands
(found: inside the scorer's fast-path probe, an `except Exception` turned it into a warning
and the server went on serving, untracked, after its `serve deploy` had been killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import free_port

#: SIGTERM arrives while pyfunc.predict runs inside the fast-path probe
SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from salesops.serving import scorer

    original = scorer.Scorer.enable_fast_path

    def probe_with_a_signal(self, rows):
        real = self.pyfunc.predict
        unwrap = self.pyfunc.unwrap_python_model

        def predict(frame):
            os.kill(os.getpid(), signal.SIGTERM)
            return real(frame)

        self.pyfunc = type("Wrapped", (), {"predict": staticmethod(predict),
                                           "unwrap_python_model": unwrap})()
        return original(self, rows)

    scorer.Scorer.enable_fast_path = probe_with_a_signal
    from salesops.cli import main
    main(["serve", "run", "--port", sys.argv[1]])
""")


@pytest.mark.slow
def test_sigterm_while_loading_ends_the_server(serving_env):
    port = str(free_port())
    server = subprocess.run([sys.executable, "-c", SCRIPT, port], env={**os.environ},
                            capture_output=True, text=True, timeout=120)
    assert server.returncode == 0, server.stderr
    assert "model server stopped" in server.stderr
    assert "serving on" not in server.stderr


#: a second stop signal arrives while the prediction log writes its last rows, which the
#: server's close waits for (as the record's watcher retires a server that `serve stop` has
#: just signalled)
SECOND_SIGNAL = textwrap.dedent("""
    import os, signal, sys, time
    from salesops.stores import prediction_log

    real = prediction_log.ParquetPredictions.write

    def write(self, frame):  # the log's thread, woken by the server's close
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1.0)  # a write that takes a moment (a server's COPY)
        real(self, frame)

    prediction_log.ParquetPredictions.write = write
    from salesops.cli import main
    main(["serve", "run", "--port", sys.argv[1]])
""")


@pytest.mark.slow
def test_a_second_stop_signal_during_the_last_flush_loses_no_logged_row(serving_env):
    """Found in CI: `drift` on postgres saw 0 of 50 served forecasts. `serve stop` signalled
    the server, and the watcher of the removed record signalled it again while the server
    waited for the prediction log's thread to write its last rows: the second signal ended
    the wait, and the process, before the write was done."""
    from datetime import UTC, datetime
    from pathlib import Path

    import httpx

    from salesops.stores.prediction_log import read_prediction_log
    from salesops.workspace import Workspace
    from tests.helpers import wait_for
    from tests.serving.servers import INFO_PATH, MODEL

    port = str(free_port())
    since = datetime.now(UTC)
    env = {**os.environ, "SALESOPS_SERVING__LOG_FLUSH_S": "600"}  # only the closing flush
    server = subprocess.Popen([sys.executable, "-c", SECOND_SIGNAL, port], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(url + INFO_PATH, timeout=2).status_code == 200
            except httpx.HTTPError:
                return server.poll() is not None

        assert wait_for(up, timeout=120)
        body = {"instances": [{"store": s, "dept": d} for s in (1, 2, 3) for d in (1, 2)]}
        for _ in range(5):
            answer = httpx.post(f"{url}/v1/models/{MODEL}:predict", json=body, timeout=30)
            assert answer.status_code == 200, answer.text
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, stderr
    assert "model server stopped" in stderr
    logged = read_prediction_log(Workspace(Path(os.environ["SALESOPS_PROJECT__WORKSPACE"])),
                                 since)
    assert len(logged) == 5 * 6, stderr[-2000:]


def test_a_stop_signal_in_the_cleanup_waits_for_it_only_so_long(monkeypatch):
    """Ignored while the cleanup is young (the log's last rows); past the grace, a log store
    that hangs does not make the server unstoppable."""
    import time

    from salesops.serving import server

    monkeypatch.setattr(server, "_cleanup_started", None)
    with pytest.raises(server.ServerStopped):
        server._stop(signal.SIGTERM, None)  # serving: a stop signal stops
    server._ignore_stop_signals()
    assert server._stop(signal.SIGTERM, None) is None
    long_ago = time.monotonic() - server.CLEANUP_GRACE_S - 1
    monkeypatch.setattr(server, "_cleanup_started", long_ago)
    with pytest.raises(server.ServerStopped):
        server._stop(signal.SIGINT, None)


@pytest.mark.parametrize("ending", ["returns", "raises", "stopped"])
def test_the_callers_signal_handlers_come_back_after_the_server(monkeypatch, ending):
    """`run_server` in a process that goes on (tests, a caller of `main`): the process'
    own SIGTERM and SIGINT handlers are back, whatever ended the server."""
    from salesops.serving import server

    def run(*args):
        assert signal.getsignal(signal.SIGTERM) is server._stop
        server._ignore_stop_signals()
        if ending == "raises":
            raise RuntimeError("a failed load")
        if ending == "stopped":
            raise server.ServerStopped

    def mine(signum, frame):
        pass

    monkeypatch.setattr(server, "_run", run)
    previous = {s: signal.signal(s, mine) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if ending == "raises":
            with pytest.raises(RuntimeError):
                server.run_server(None, "127.0.0.1", 0, "1", print)
        else:
            server.run_server(None, "127.0.0.1", 0, "1", print)
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
