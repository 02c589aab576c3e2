"""What a model server must not take from its surroundings: Feast's metrics directory from
the environment of the process that started it, and the requests a web page in a browser
can send it cross-site.

The module's server is deployed from a process whose environment holds the variables
`feast.metrics` sets, pointing at a directory that is gone, as they are after the process
that imported Feast (a `pipeline run`, a test process) has exited.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from salesops.backends.local.prometheus_env import FEAST_PREFIX
from tests.helpers import free_port, wait_for
from tests.serving.conftest import deployed
from tests.serving.servers import MODEL, info, salesops

pytestmark = pytest.mark.slow

FEAST_VARIABLES = ("PROMETHEUS_MULTIPROCESS_DIR", "PROMETHEUS_MULTIPROC_DIR")
BODY = json.dumps({"instances": [{"store": 1, "dept": 1}]}).encode()
#: what a page can post cross-site without a CORS preflight, and the Origin a browser adds
PAGE = "https://attacker.example"


@pytest.fixture(scope="module")
def gone(tmp_path_factory) -> Path:
    """A Feast metrics directory whose process has exited (never created here)."""
    return tmp_path_factory.mktemp("exited") / f"{FEAST_PREFIX}gone"


@pytest.fixture(scope="module")
def server(trained_env, gone):
    with pytest.MonkeyPatch.context() as patch:
        for name in FEAST_VARIABLES:
            patch.setenv(name, str(gone))
        with deployed(trained_env) as url:
            yield url


def predict(url: str, headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
    return httpx.post(f"{url}/v1/models/{MODEL}:predict", content=body, headers=headers,
                      timeout=10)


def test_a_server_deployed_with_feasts_variables_serves_and_exports_metrics(server):
    assert predict(server, {"content-type": "application/json"}).status_code == 200
    metrics = httpx.get(f"{server}/metrics", timeout=10)
    assert metrics.status_code == 200 and "request_predict_seconds" in metrics.text
    environ = Path(f"/proc/{info(server)['pid']}/environ").read_bytes().split(b"\0")
    assert not [line for line in environ if line.startswith(tuple(
        f"{name}=".encode() for name in FEAST_VARIABLES))]


@pytest.mark.parametrize("owner", ["feast", "user"])
def test_serve_run_ignores_feasts_variables_and_keeps_the_users(trained_env, gone, tmp_path,
                                                                 owner):
    """`serve run` started by any process (a pod simulation, a script): Feast's gone
    directory is dropped; a multi-process directory the user made is used."""
    mine = tmp_path / "metrics"
    mine.mkdir()
    directory = gone if owner == "feast" else mine
    port = free_port()
    child = salesops({**trained_env, **{name: str(directory) for name in FEAST_VARIABLES}},
                     "serve", "run", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        ready = wait_for(lambda: "exited" if child.poll() is not None
                         else (info(url) or {}).get("ready"), timeout=60)
        assert ready is True, f"exit {child.poll()}: {child.communicate()[1][-2000:]}"
        assert predict(url, {"content-type": "application/json"}).status_code == 200
        metrics = httpx.get(f"{url}/metrics", timeout=10)
        assert metrics.status_code == 200 and "request_predict_seconds" in metrics.text
        assert bool(list(mine.glob("*.db"))) is (owner == "user")
    finally:
        child.terminate()
        child.communicate(timeout=30)


def test_serve_run_refuses_a_multiprocess_directory_that_does_not_exist(trained_env, tmp_path):
    missing = tmp_path / "metrics"
    child = salesops({**trained_env, "PROMETHEUS_MULTIPROC_DIR": str(missing)},
                     "serve", "run", "--port", str(free_port()))
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 2, stderr
    assert f"PROMETHEUS_MULTIPROC_DIR={missing} is not a directory" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("headers", [
    {"content-type": "text/plain"},
    {"content-type": "text/plain;charset=UTF-8", "origin": PAGE},
    {"content-type": "application/x-www-form-urlencoded"},
    {"content-type": "multipart/form-data; boundary=x"},
    {"origin": PAGE},  # no Content-Type: a page's fetch() of a Blob without a type
], ids=["text", "text-origin", "form", "multipart", "untyped-origin"])
def test_v1_refuses_bodies_a_page_can_post_cross_site(server, serving_env, headers):
    from salesops.stores.prediction_log import read_prediction_log
    from salesops.workspace import Workspace

    since = datetime.now(UTC)
    refused = predict(server, headers)
    assert refused.status_code == 415, refused.text
    message = refused.json()["error"]
    assert "\n" not in message and "application/json" in message
    # a request served after the refused one: once it is in the log, the log is complete
    marker = {"instances": [{"store": 3, "dept": 4}]}
    assert httpx.post(f"{server}/v1/models/{MODEL}:predict", json=marker).status_code == 200
    workspace = Workspace(Path(serving_env["SALESOPS_PROJECT__WORKSPACE"]))
    assert wait_for(lambda: len(read_prediction_log(workspace, since)) > 0, timeout=10)
    logged = read_prediction_log(workspace, since)
    assert [(row.store, row.dept) for row in logged.itertuples()] == [(3, 4)]


@pytest.mark.parametrize("headers", [
    {},  # curl --data-binary, scripts: no Content-Type and no Origin
    {"content-type": "application/json"},
    {"content-type": "application/json; charset=utf-8"},
    {"content-type": "application/json", "origin": PAGE},  # a page needs a preflight for it
], ids=["untyped", "json", "json-charset", "json-origin"])
def test_v1_serves_json_and_untyped_bodies(server, headers):
    response = predict(server, headers)
    assert response.request.headers.get("content-type") == headers.get("content-type")
    assert response.status_code == 200, response.text
    assert [(p["store"], p["dept"]) for p in response.json()["predictions"]] == [(1, 1)]

