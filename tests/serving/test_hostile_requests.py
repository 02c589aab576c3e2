"""Hostile and malformed requests against a deployed server, over V1 and V2.

Every client error must be a 4xx naming what is wrong (never a 500, never a 200 with some
other series' forecast), logged below ERROR; no unauthenticated request changes the
server's state; bodies past `serving.max_request_bytes` are refused before they are read.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from tests.serving.conftest import deployed
from tests.serving.servers import MODEL, record

pytestmark = pytest.mark.slow

V1 = f"/v1/models/{MODEL}:predict"
V2 = f"/v2/models/{MODEL}/infer"
LIMIT = 1_048_576  # serving.max_request_bytes' default


@pytest.fixture(scope="module")
def server(trained_env):
    """(url, the server's record) of a server deployed for this module."""
    with deployed(trained_env) as url:
        yield url, record(Path(trained_env["SALESOPS_PROJECT__WORKSPACE"]))


@pytest.fixture(scope="module")
def url(server) -> str:
    return server[0]


def v2_body(store, datatype="INT64", dept=(3,), shape=None) -> dict:
    shape = [len(store)] if shape is None else shape
    return {"inputs": [{"name": "store", "datatype": datatype, "shape": shape, "data": store},
                       {"name": "dept", "datatype": "INT64", "shape": [len(dept)],
                        "data": list(dept)}]}


def binary_v2(datatype: str, raw: bytes, shape: list[int]) -> tuple[bytes, dict]:
    """A V2 request with the binary tensor extension: store as raw bytes, dept as JSON."""
    header = json.dumps({"inputs": [
        {"name": "store", "datatype": datatype, "shape": shape,
         "parameters": {"binary_data_size": len(raw)}},
        {"name": "dept", "datatype": "INT64", "shape": shape[:1], "data": [3] * shape[0]},
    ]}).encode()
    return header + raw, {"inference-header-content-length": str(len(header)),
                          "content-type": "application/octet-stream"}


# (path, JSON body or raw bytes, status, text the error must contain)
V1_CASES = [
    ({"instances": [{"store": 1.9, "dept": 3}]}, 400, "instances[0].store"),
    ({"instances": [{"store": True, "dept": 3}]}, 400, "instances[0].store"),
    ({"instances": [{"store": "1", "dept": 3}]}, 400, "instances[0].store"),
    ({"instances": [{"store": None, "dept": 3}]}, 400, "instances[0].store"),
    ({"instances": [{"store": 2**63, "dept": 3}]}, 400,
     "instances[0].store: input should be less than or equal to"),
    ({"instances": [{"store": -(2**63) - 1, "dept": 3}]}, 400, "instances[0].store"),
    ({"instances": [{"store": 1, "dept": 2**64}]}, 400, "instances[0].dept"),
    ({"instances": [[1, 3]]}, 400, "instances[0]"),
    ({"instances": "1,3"}, 400, "instances"),
    ({"instances": [{"store": 1, "dept": 3}] * 1001}, 400, "too many entities"),
    ({"instances": [{"store": 1, "dept": 99}]}, 400, "store=1, dept=99"),
    (b'{"instances": [{"store": 1e400, "dept": 3}]}', 400, ""),
    (b'{"instances": [{"store": NaN, "dept": 3}]}', 400, ""),
    (b"[" * 100_000, 400, ""),
    (b"\xff\xfe not utf-8", 400, ""),
    (b"", 400, ""),
    (b'"a string"', 400, ""),
    (b"[1, 3]", 400, "expected a JSON object"),
]
V2_CASES = [
    ({"inputs": [*v2_body([1])["inputs"], {"name": "store", "shape": [1], "datatype": "INT64",
                                           "data": [2]}]}, 400,
     "input store is given more than once"),
    (v2_body([1.9]), 400, "input store: 1.9 is not an integer"),
    (v2_body([True]), 400, "input store: true is not an integer"),
    (v2_body(["1"]), 400, 'input store: "1" is not an integer'),
    (v2_body([None]), 400, "input store: null is not an integer"),
    (v2_body([2**63]), 400, "input store: 9223372036854775808 is out of range for INT64"),
    (v2_body([300], "INT8"), 400, "input store: 300 is out of range for INT8"),
    (v2_body([-1], "UINT8"), 400, "input store: -1 is out of range for UINT8"),
    (v2_body([2**64 - 1], "UINT64"), 400, "input store: 18446744073709551615 is out of range"),
    (v2_body([1], "FP32"), 400, "input store: datatype FP32 is not an integer type"),
    (v2_body([1], "BOOL"), 400, "datatype BOOL"),
    (v2_body([1], "STRING"), 400, "datatype STRING"),
    (v2_body([1], shape=[-1]), 400, "input store: shape [-1] has a negative dimension"),
    (v2_body([1], shape=[10**12]), 400, "input store: shape [1000000000000] holds"),
    (v2_body([1], shape=[1, 1, 1]), 400, "input store: shape [1, 1, 1] should be"),
    (v2_body([1, 2]), 400, "inputs store and dept differ in shape"),
    (v2_body([7]), 400, "store=7, dept=3"),
    ({"inputs": [{"name": "store", "datatype": "INT64", "shape": [1], "data": [1]}]}, 400,
     "missing input(s) dept"),
    ({"inputs": [{"name": "store", "datatype": "INT64", "shape": [1]}]}, 400, "inputs.0.data"),
    ({"inputs": None}, 400, "inputs"),
    ({"inputs": [{"name": "store", "datatype": "INT64", "shape": [1], "data": {"a": 1}}]},
     400, "inputs.0.data"),
    ({"inputs": []}, 400, "missing input(s) store, dept"),
    ({"id": 5, **v2_body([1])}, 400, "id"),
    (b"not json", 400, "not JSON"),
    (b"", 400, ""),
    binary_v2("UINT64", (2**64 - 1).to_bytes(8, "little"), [1]) + (
        400, "input store: 18446744073709551615 is out of range"),
    binary_v2("INT64", b"\x01" * 12, [1]) + (400, "cannot be decoded"),
    binary_v2("INT64", b"\x01" * 8, [2]) + (400, "cannot be decoded"),
]


def post(url: str, path: str, body, headers: dict | None = None) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(url + path, content=body, timeout=30,
                          headers=headers or {"content-type": "application/json"})
    return httpx.post(url + path, json=body, timeout=30)


@pytest.mark.parametrize("body, status, message", V1_CASES)
def test_v1_client_errors_are_4xx_naming_the_problem(url, body, status, message):
    response = post(url, V1, body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


@pytest.mark.parametrize("case", V2_CASES)
def test_v2_client_errors_are_4xx_naming_the_problem(url, case):
    if len(case) == 4:  # binary: body, headers, status, message
        body, headers, status, message = case
        response = post(url, V2, body, headers)
    else:
        body, status, message = case
        response = post(url, V2, body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_other_client_errors_are_never_500(url):
    answers = {
        "unknown model v1": httpx.post(f"{url}/v1/models/nope:predict", json={}),
        "unknown model v2": httpx.post(f"{url}/v2/models/nope/infer", json=v2_body([1])),
        "GET on predict": httpx.get(url + V1),
        "unknown route": httpx.post(f"{url}/v3/anything", json={}),
    }
    for what, response in answers.items():
        assert 400 <= response.status_code < 500, (what, response.status_code, response.text)
    # what this server does not do is said as such (501), not as a failure (500)
    version = httpx.post(f"{url}/v2/models/{MODEL}/versions/1/infer", json=v2_body([1]))
    explain = httpx.post(f"{url}/v1/models/{MODEL}:explain",
                         json={"instances": [{"store": 1, "dept": 1}]})
    assert version.status_code == explain.status_code == 501


def test_the_model_repository_cannot_be_changed_over_http(url):
    """`POST .../unload` without credentials unloaded the model: predictions then 404
    while readiness, `serve status` and `pipeline run` said healthy."""
    for action in ("unload", "load"):
        response = httpx.post(f"{url}/v2/repository/models/{MODEL}/{action}")
        assert response.status_code == 404, response.text
        assert "disabled" in response.json()["error"]
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{url}/v2/models/{MODEL}/ready").json()["ready"] is True
    assert post(url, V1, {"instances": [{"store": 1, "dept": 1}]}).status_code == 200
    assert post(url, V2, v2_body([1], dept=(1,))).status_code == 200


@pytest.mark.parametrize("path", [V1, V2])
def test_a_body_past_the_limit_is_413_before_it_is_read(url, path):
    too_big = b" " * (LIMIT + 1)
    response = post(url, path, too_big)
    assert response.status_code == 413
    assert "serving.max_request_bytes" in response.json()["error"]
    chunked = httpx.post(url + path, content=iter([b" " * 65_536] * 20),
                         headers={"content-type": "application/json"}, timeout=30)
    assert chunked.status_code == 413  # no Content-Length: counted as it arrives
    small = httpx.post(url + path, content=iter([b'{"instances": [{"store": 1, "dept": 1}]}'])
                       if path == V1 else iter([json.dumps(v2_body([1], dept=(1,))).encode()]),
                       headers={"content-type": "application/json"}, timeout=30)
    assert small.status_code == 200, small.text


def test_concurrent_huge_bodies_do_not_grow_the_server(server):
    """Eight 50 MB bodies at once were accepted, and doubled the server's memory."""
    url, served = server
    status = Path(f"/proc/{served['pid']}/status")
    before = _peak_rss_mb(status)
    codes: list[int] = []

    def upload(path: str) -> None:
        response = httpx.post(url + path, content=b"7" * 24_000_000, timeout=120,
                              headers={"content-type": "application/json"})
        codes.append(response.status_code)

    threads = [threading.Thread(target=upload, args=(V1 if i % 2 else V2,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [413] * 8
    assert _peak_rss_mb(status) - before < 48  # 8 x 24 MB would be 192 MB


def test_client_errors_are_not_logged_as_errors(server):
    """Every 400 was logged at ERROR with a traceback."""
    url, served = server
    post(url, V1, {"instances": [{"store": 1.9, "dept": 3}]})
    post(url, V2, v2_body([300], "INT8"))
    log = Path(served["log"]).read_text()
    assert " ERROR " not in log and "Traceback" not in log
    assert "INFO POST /v1/models/salesops-demand:predict: 400 instances[0].store" in log
    assert "INFO POST /v2/models/salesops-demand/infer: 400 input store: 300" in log


def _peak_rss_mb(status: Path) -> float:
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")
