"""`serve` and `predict` when something they need is missing: one line, the right exit code."""

import http.server
import json
import socket
import threading

import pytest

from salesops.workspace import Workspace
from tests.serving.conftest import free_port


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
    assert "no champion version of model 'salesops-demand'" in result.stderr
    assert "salesops train submit" in result.stderr


@pytest.mark.slow
def test_unknown_alias_or_version(cli, serving_env):
    assert cli("serve", "run", "--alias", "nope").exit_code == 4
    missing = cli("serve", "deploy", "--model-version", "99")
    assert missing.exit_code == 2 and "has no version 99" in missing.stderr


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
def test_deploy_refuses_a_port_another_model_server_answers_on(cli, serving_env, monkeypatch):
    class Foreign(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            body = json.dumps({"pid": 4242}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Foreign) as foreign:
        threading.Thread(target=foreign.serve_forever, daemon=True).start()
        monkeypatch.setenv("SALESOPS_SERVING__PORT", str(foreign.server_address[1]))
        result = cli("serve", "deploy")
        foreign.shutdown()
    assert result.exit_code == 2
    assert "already served by another model server (pid 4242)" in result.stderr


@pytest.mark.slow
def test_deploy_reports_a_server_that_dies_during_start_up(cli, serving_env, monkeypatch):
    with socket.socket() as busy:  # a port held without SO_REUSEPORT
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("SALESOPS_SERVING__PORT", str(busy.getsockname()[1]))
        result = cli("serve", "deploy")
    assert result.exit_code == 1
    assert "exited during start-up" in result.stderr
    assert "cannot listen on 127.0.0.1" in result.stderr  # the log tail
