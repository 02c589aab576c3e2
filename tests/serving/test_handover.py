"""`serve deploy` against races, kills and foreign programs; the handover under load.

Deploys run as subprocesses where a test kills them (SALESOPS_FAULT_KILL) or runs two at
once, in-process otherwise. After each scenario the test checks the three things a user
relies on: which `serve run` processes serve the workspace (from /proc), who answers on the
port (the info route's deploy id), and what `serve status` says.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import httpx
import pytest

from salesops.faults import ENV as FAULT
from tests.serving.conftest import run_cli
from tests.helpers import wait_for
from tests.serving.servers import MODEL, Load, info, record, salesops, server_pids

pytestmark = pytest.mark.slow

#: at most this long for a server whose record no longer names it to be gone
RETIRE_S = 30


@pytest.fixture
def ws(serving_env) -> Path:
    return Path(serving_env["SALESOPS_PROJECT__WORKSPACE"])


@pytest.fixture
def url(serving_env) -> str:
    return f"http://127.0.0.1:{serving_env['SALESOPS_SERVING__PORT']}"


@pytest.fixture(scope="module", autouse=True)
def stopped_at_the_end(trained_env):
    yield
    with pytest.MonkeyPatch.context() as patch:
        for name, value in trained_env.items():
            patch.setenv(name, value)
        run_cli("serve", "stop")


def deployed(ws: Path, url: str) -> dict:
    """The running server's record, deploying one first when none answers."""
    current = record(ws)
    if current is None or (info(url) or {}).get("pid") != current["pid"]:
        assert run_cli("serve", "deploy") == 0
        current = record(ws)
    return current


def killed_at(env: dict[str, str], point: str, *args: str) -> None:
    command = salesops({**env, FAULT: point}, *args)
    command.communicate(timeout=300)
    assert command.returncode == -9, f"{point}: exit {command.returncode}"


def status(cli) -> dict:
    return cli("serve", "status", "--json").json()


def test_a_deploy_killed_before_it_commits_leaves_no_server(serving_env, ws, url, cli):
    run_cli("serve", "stop")
    killed_at(serving_env, "serve-deploy:spawned", "serve", "deploy")
    # the server it started sees its deploy die without naming it, and exits
    assert wait_for(lambda: server_pids(ws) == [], RETIRE_S), server_pids(ws)
    assert record(ws) is None and info(url) is None
    assert status(cli) == {"running": False, "pid": None}


def test_two_deploys_at_once_one_waits_its_turn(serving_env, ws, url, cli):
    """Both exited 0 and left two servers on the port; `status`/`stop` then said "stopped"
    while one kept answering."""
    first = salesops(serving_env, "serve", "deploy")
    holder = wait_for(lambda: _lock_holder(ws) == first.pid, timeout=120, every=0.02)
    stop = cli("serve", "stop")  # nor does a stop slip in while a deploy is under way
    second = salesops(serving_env, "serve", "deploy")
    _, refused = second.communicate(timeout=300)
    first.communicate(timeout=300)
    assert holder, "the first deploy never held the workspace lock"
    assert stop.exit_code == 75 and f"pid {first.pid}" in stop.stderr
    assert second.returncode == 75, refused
    assert f"pid {first.pid}" in refused and "serve deploy" in refused
    assert first.returncode == 0
    current = record(ws)
    assert server_pids(ws) == [current["pid"]]
    assert {info(url)["pid"] for _ in range(20)} == {current["pid"]}
    shown = status(cli)
    assert shown["ready"] and shown["pid"] == current["pid"] and "answering" not in shown


def test_a_foreign_program_cannot_join_the_port(ws, url):
    """With SO_REUSEPORT on the server's socket, another program could bind the same port
    and take a share of the requests."""
    current = deployed(ws, url)
    with socket.socket() as foreign:
        foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        with pytest.raises(OSError, match="in use"):
            foreign.bind(("127.0.0.1", current["port"]))


def test_deploy_refuses_a_port_a_foreign_program_shares(serving_env, ws, cli, monkeypatch):
    """A program on the port with SO_REUSEPORT let `serve deploy` exit 0 while it answered
    part of the requests."""
    run_cli("serve", "stop")
    with socket.socket() as foreign:
        foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        answering = threading.Thread(target=_answer_http, args=(foreign,), daemon=True)
        answering.start()
        monkeypatch.setenv("SALESOPS_SERVING__PORT", str(port))
        result = cli("serve", "deploy")
    assert result.exit_code == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "another program listens there" in result.stderr
    assert server_pids(ws) == [] and record(ws) is None


def test_the_server_does_not_inherit_the_database_url(ws, url):
    """MLflow puts the tracking URI (on the postgres profile, with the password from the
    0600 config file) into the deploying process' environment, which the server inherited."""
    current = deployed(ws, url)
    environ = Path(f"/proc/{current['pid']}/environ").read_bytes().split(b"\0")
    names = {entry.split(b"=", 1)[0].decode() for entry in environ if entry}
    assert "MLFLOW_TRACKING_URI" not in names and "MLFLOW_REGISTRY_URI" not in names
    assert not any(b"mlflow.db" in entry for entry in environ)


def test_a_deploy_killed_at_any_point_leaves_exactly_the_recorded_server(serving_env, ws, url,
                                                                         cli):
    first = deployed(ws, url)

    killed_at(serving_env, "serve-deploy:ready", "serve", "deploy")
    assert wait_for(lambda: server_pids(ws) == [first["pid"]], RETIRE_S), server_pids(ws)
    assert record(ws) == first and status(cli)["ready"]
    assert _predict(url).status_code == 200

    killed_at(serving_env, "serve-deploy:committed", "serve", "deploy")
    second = record(ws)
    assert second["pid"] != first["pid"]
    # the old server sees the record name another, and retires by itself
    assert wait_for(lambda: server_pids(ws) == [second["pid"]], RETIRE_S), server_pids(ws)
    shown = status(cli)
    assert shown["ready"] and shown["pid"] == second["pid"]
    assert {info(url)["pid"] for _ in range(20)} == {second["pid"]}

    killed_at(serving_env, "serve-stop:unlinked", "serve", "stop")
    assert wait_for(lambda: server_pids(ws) == [], RETIRE_S), server_pids(ws)
    assert info(url) is None and status(cli) == {"running": False, "pid": None}
    assert run_cli("serve", "deploy") == 0 and status(cli)["ready"]


def test_handover_under_load_drops_no_request(serving_env, ws, url):
    """`serve deploy` dropped 1-7 requests under load when it stopped the old server."""
    first = deployed(ws, url)
    with Load(url, threads=8) as load:
        deploy = salesops(serving_env, "serve", "deploy")
        _, stderr = deploy.communicate(timeout=300)
        wait_for(lambda: load.total >= 2_000, timeout=120)
    assert deploy.returncode == 0, stderr
    second = record(ws)
    assert server_pids(ws) == [second["pid"]]
    assert load.errors == [], load.errors[:5]
    assert load.total >= 2_000
    # the load spanned the handover: both servers answered some of it
    assert load.answered_by[first["pid"]] > 0 and load.answered_by[second["pid"]] > 0


def _predict(url: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/models/{MODEL}:predict",
                      json={"instances": [{"store": 1, "dept": 1}]}, timeout=10)


def _lock_holder(ws: Path) -> int | None:
    try:
        return json.loads((ws / "lock").read_text() or "{}").get("pid")
    except (OSError, ValueError):
        return None


def _answer_http(listener: socket.socket) -> None:
    """A foreign program: any request gets `200 hello`."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"
                         b"hello")
