"""`serve` and `predict` when something they need is missing: one line, the right exit code."""

import contextlib
import http.server
import json
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from salesops.faults import ENV as FAULT
from salesops.workspace import Workspace
from tests.helpers import free_port


def test_deploy_without_features_says_what_to_run(cli, workspace):
    result = cli("serve", "deploy")
    assert result.exit_code == 4
    assert "salesops features build" in result.stderr


@pytest.mark.slow
def test_deploy_without_a_champion_says_to_train(cli, workspace):
    assert cli("infra", "up").exit_code == 0
    # a build manifest is all `deploy` checks for features; nothing has been trained
    Workspace(workspace).build_manifest.write_text(json.dumps({"next_week": "2024-09-27"}))
    result = cli("serve", "deploy")
    assert result.exit_code == 4
    assert "salesops train submit" in result.stderr


@pytest.mark.slow
def test_unknown_alias_or_version(cli, serving_env):
    assert cli("serve", "run", "--alias", "nope").exit_code == 4
    missing = cli("serve", "deploy", "--model-version", "99")
    assert missing.exit_code == 2 and "has no version 99" in missing.stderr


@pytest.mark.parametrize("args, message", [
    (["deploy", "--wait"],
     "--wait is for backend.kind = kubernetes (a local deploy always waits)"),
    (["deploy", "--canary", "10"],
     "--canary needs backend.kind = kubernetes (KServe splits the traffic)"),
    (["deploy", "--dry-run"], "--dry-run is for backend.kind = kubernetes (it prints or "
     "follows Kubernetes objects) (set [backend] kind = \"kubernetes\")"),
    (["promote"], "canary traffic needs backend.kind = kubernetes; locally one server runs"),
    (["rollback"], "canary traffic needs backend.kind = kubernetes; locally one server runs"),
])
def test_what_only_a_cluster_does_is_refused_locally(cli, workspace, args, message):
    result = cli("serve", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"error: {message}\n")
    assert not workspace.exists()  # refused before anything was done


def test_predict_without_a_server_says_to_deploy(cli, workspace):
    result = cli("predict", "--store", "1", "--dept", "1", "--url",
                 f"http://127.0.0.1:{free_port()}", "--json")
    assert result.exit_code == 5
    assert "run `salesops serve deploy`" in result.stderr
    assert json.loads(result.stdout)["type"] == "service_unavailable"


@pytest.mark.parametrize("args", [["--store", "1"], ["--store", "1", "--dept", "2", "--dept", "3"],
                                  ["--store", "1", "--dept", "2", "--protocol", "v3"]])
def test_predict_usage_errors(cli, workspace, args):
    assert cli("predict", *args).exit_code == 2


def test_status_and_stop_with_nothing_deployed(cli, workspace):
    assert cli("serve", "status", "--json").json() == {"running": False, "pid": None}
    assert cli("serve", "stop").exit_code == 0


@pytest.mark.slow
def test_deploy_names_the_other_workspace_whose_server_has_the_port(cli, serving_env,
                                                                   monkeypatch):
    class OtherServer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            body = json.dumps({"pid": 4242, "workspace": "/elsewhere/ws",
                               "deploy_id": "0123"}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), OtherServer) as other:
        threading.Thread(target=other.serve_forever, daemon=True).start()
        monkeypatch.setenv("SALESOPS_SERVING__PORT", str(other.server_address[1]))
        result = cli("serve", "deploy")
        other.shutdown()
    assert result.exit_code == 2
    assert ("already served by the model server of the workspace /elsewhere/ws (pid 4242)"
            in result.stderr)
    assert "salesops serve stop" in result.stderr


@pytest.mark.slow
def test_deploy_refuses_a_port_another_program_holds(cli, serving_env, monkeypatch):
    with socket.socket() as busy:  # a port held without SO_REUSEPORT
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("SALESOPS_SERVING__PORT", str(port))
        result = cli("serve", "deploy")
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert not Workspace(Path(serving_env["SALESOPS_PROJECT__WORKSPACE"])).server_state.exists()


@pytest.mark.slow
def test_deploy_reports_a_server_that_dies_during_start_up(cli, serving_env, monkeypatch):
    monkeypatch.setenv("SALESOPS_SERVING__PORT", str(free_port()))
    monkeypatch.setenv(FAULT, "serve-run:loading")  # the server kills itself while loading
    result = cli("serve", "deploy")
    assert result.exit_code == 1
    assert "exited during start-up (exit code -9)" in result.stderr
    assert "loading salesops-demand v1" in result.stderr  # the log tail


@pytest.mark.slow
def test_deploy_says_why_the_server_could_not_start(cli, serving_env, tmp_path, monkeypatch):
    """The server's own error, with its exit code: `serve deploy` said only "the model server
    exited during start-up (exit code 4)" and exited 1."""
    ws = tmp_path / "ws"  # the trained workspace, less its feature repo: the server needs it
    shutil.copytree(serving_env["SALESOPS_PROJECT__WORKSPACE"], ws, symlinks=True)
    (ws / "serve.json").unlink(missing_ok=True)
    Workspace(ws).feature_store_yaml.unlink()
    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(ws))
    monkeypatch.setenv("SALESOPS_SERVING__PORT", str(free_port()))
    result = cli("serve", "deploy")
    assert result.exit_code == 4, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "the model server could not start: no feature repo in the workspace; log: " in last
    assert last.endswith(".log (run `salesops infra up` first)")
    assert str(ws / "logs" / "serve-") in last
    assert "exited during start-up" not in result.stderr
    assert not Workspace(ws).server_state.exists()


@pytest.mark.slow
def test_deploy_says_what_broke_a_server_that_crashed_starting(cli, serving_env, tmp_path,
                                                              monkeypatch):
    """A failure nobody classified (here a damaged feature_store.yaml) is the server's
    internal error, with its type and words and exit code 70: `serve deploy` said only
    "the model server exited during start-up (exit code 70)" and exited 1."""
    ws = tmp_path / "ws"
    shutil.copytree(serving_env["SALESOPS_PROJECT__WORKSPACE"], ws, symlinks=True)
    (ws / "serve.json").unlink(missing_ok=True)
    with open(Workspace(ws).feature_store_yaml, "a") as repo:
        repo.write("garbage: [\n")
    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(ws))
    monkeypatch.setenv("SALESOPS_SERVING__PORT", str(free_port()))
    result = cli("--json", "serve", "deploy")
    assert result.exit_code == 70, result.stderr
    error = result.json()
    assert error["type"] == "internal_error" and error["exit_code"] == 70
    assert error["error"].startswith("the model server could not start: internal error: ")
    assert "exited during start-up" not in error["error"]
    assert not Workspace(ws).server_state.exists()


@pytest.mark.parametrize("url", ["not-a-url", "ftp://127.0.0.1:8080", "http://",
                                 "http://127.0.0.1:port", "127.0.0.1:8080"])
def test_predict_with_a_malformed_url_is_a_usage_error(cli, workspace, url):
    """`--url not-a-url` was an internal error (exit 70) with a traceback."""
    result = cli("predict", "--store", "1", "--dept", "1", "--url", url)
    assert result.exit_code == 2, result.stderr
    assert "is not an http(s) URL like http://127.0.0.1:8080" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_predict_gives_up_connecting_within_seconds(cli, workspace):
    """An address that never completes a connection (a full accept queue here; a firewall
    that drops packets elsewhere) held `predict` for 30 s."""
    with socket.socket() as blackhole, socket.socket() as filler:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(0)
        filler.connect(blackhole.getsockname())  # the queue is full: later SYNs are dropped
        started = time.monotonic()
        result = cli("predict", "--store", "1", "--dept", "1", "--url",
                     f"http://127.0.0.1:{blackhole.getsockname()[1]}")
        elapsed = time.monotonic() - started
    assert result.exit_code == 5, result.stderr
    assert "timed out" in result.stderr and elapsed < 8


@pytest.mark.parametrize("reply, message", [
    (b"-ERR unknown command 'POST'\r\n", "does not speak HTTP"),  # e.g. Redis
    (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", "not with JSON"),
    (b'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}', "not as a salesops model server"),
    (b"", "no model server answers"),  # accepts, then hangs up
])
def test_predict_against_something_that_is_not_a_model_server(cli, workspace, reply, message):
    """Non-HTTP answers were an internal error (exit 70); JSON without predictions a
    KeyError (70)."""
    with _replying(reply) as url:
        result = cli("predict", "--store", "1", "--dept", "1", "--url", url)
    assert result.exit_code == 5, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_predict_timeout_against_a_silent_server(cli, workspace):
    with _replying(None) as url:
        started = time.monotonic()
        result = cli("predict", "--store", "1", "--dept", "1", "--url", url, "--timeout", "1")
        elapsed = time.monotonic() - started
    assert result.exit_code == 5 and "timed out" in result.stderr
    assert elapsed < 5


@contextlib.contextmanager
def _replying(reply: bytes | None):
    """A loopback server that sends `reply` to every connection and hangs up (None: says
    nothing and keeps the connection open)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if reply is None:
                held.append(conn)
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        listener.close()
        for conn in held:
            conn.close()


@pytest.mark.parametrize(("url", "says"), [
    ("http://user:s3cret@127.0.0.1:8080", "sends no credentials"),
    ("http://127.0.0.1:8080?x=1", "without ?query"),
    ("http://127.0.0.1:8080/#top", "without ?query or #fragment"),
])
def test_predict_refuses_a_url_it_would_not_use_as_given(cli, workspace, url, says):
    """Credentials were printed back ("forecast from http://user:pw@..."); a query string
    made the request path wrong (exit 3 'Method Not Allowed')."""
    result = cli("predict", "--store", "1", "--dept", "1", "--url", url)
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr and "s3cret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_predict_input_where_nothing_was_trained_creates_nothing(cli, tmp_path):
    """It created `.salesops/mlflow.db` on its way to "no champion" (a read-only command)."""
    source = tmp_path / "keys.csv"
    source.write_text("store,dept\n1,1\n")
    before = sorted(tmp_path.rglob("*"))
    result = cli("predict", "--input", str(source), "--output", str(tmp_path / "out.csv"))
    assert result.exit_code == 4, result.stderr
    assert "no MLflow tracking store in" in result.stderr
    assert sorted(tmp_path.rglob("*")) == before
