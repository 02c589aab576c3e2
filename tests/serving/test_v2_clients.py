"""The deployed server as an Open Inference Protocol (V2) client other than KServe's sees it:
NVIDIA's `tritonclient.http`, and plain HTTP without a Content-Type (issue 15, defect 10).

tritonclient sends no Content-Type and adds `Inference-Header-Content-Length` only when an
input is binary; it asks for outputs by name, each as JSON or binary (`binary_data`).
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from tests.serving.conftest import deployed

pytestmark = pytest.mark.slow

MODEL = "salesops-demand"
KEYS = [(1, 4), (2, 1), (3, 2)]
WEEK = "2024-09-27"


@pytest.fixture(scope="module")
def server(trained_env):
    with deployed(trained_env) as url:
        yield url


@pytest.fixture(scope="module")
def triton(server):
    import tritonclient.http as triton_http

    client = triton_http.InferenceServerClient(url=server.removeprefix("http://"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def forecasts(server) -> np.ndarray:
    """What the server answers over V1 for KEYS (V1 itself is checked against pyfunc in
    test_server)."""
    body = {"instances": [{"store": s, "dept": d} for s, d in KEYS]}
    response = httpx.post(f"{server}/v1/models/{MODEL}:predict", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return np.array([p["forecast"] for p in response.json()["predictions"]])


def _inputs(binary: bool):
    import tritonclient.http as triton_http

    inputs = []
    for position, name in enumerate(("store", "dept")):
        tensor = triton_http.InferInput(name, [len(KEYS)], "INT64")
        tensor.set_data_from_numpy(np.array([key[position] for key in KEYS], np.int64),
                                   binary_data=binary)
        inputs.append(tensor)
    return inputs


def _output(name: str, binary: bool):
    import tritonclient.http as triton_http

    return triton_http.InferRequestedOutput(name, binary_data=binary)


def _is_binary(result, name: str) -> bool:
    output = result.get_output(name)
    return "binary_data_size" in (output.get("parameters") or {}) and "data" not in output


def test_tritonclient_json_tensors(triton, forecasts):
    """JSON tensors (no Content-Type, no Inference-Header-Content-Length) got 400
    "inference-header-content-length header is missing"."""
    result = triton.infer(MODEL, _inputs(binary=False),
                          outputs=[_output("forecast", False), _output("week", False)])
    np.testing.assert_allclose(result.as_numpy("forecast"), forecasts, rtol=1e-6)
    assert result.as_numpy("week").tolist() == [WEEK] * len(KEYS)  # JSON: str, binary: bytes
    assert not _is_binary(result, "forecast") and not _is_binary(result, "week")
    assert result.get_response()["model_version"] == "1"


def test_tritonclient_binary_tensors_in_and_out(triton, forecasts):
    """Binary outputs asked for with `binary_data` came back as JSON (outputs ignored)."""
    result = triton.infer(MODEL, _inputs(binary=True),
                          outputs=[_output("forecast", True), _output("week", True)])
    assert _is_binary(result, "forecast") and _is_binary(result, "week")
    np.testing.assert_allclose(result.as_numpy("forecast"), forecasts, rtol=1e-6)
    assert result.as_numpy("week").tolist() == [WEEK.encode()] * len(KEYS)


def test_each_output_in_the_form_it_asks_for(triton, forecasts):
    result = triton.infer(MODEL, _inputs(binary=False),
                          outputs=[_output("forecast", True), _output("week", False)])
    assert _is_binary(result, "forecast") and not _is_binary(result, "week")
    np.testing.assert_allclose(result.as_numpy("forecast"), forecasts, rtol=1e-6)


def test_only_the_requested_outputs_are_returned(triton, forecasts):
    """`outputs` was ignored: both tensors came back whatever was asked for."""
    result = triton.infer(MODEL, _inputs(binary=True), outputs=[_output("forecast", False)])
    assert [output["name"] for output in result.get_response()["outputs"]] == ["forecast"]
    np.testing.assert_allclose(result.as_numpy("forecast"), forecasts, rtol=1e-6)
    weeks = triton.infer(MODEL, _inputs(binary=False), outputs=[_output("week", True)])
    assert [output["name"] for output in weeks.get_response()["outputs"]] == ["week"]


def test_no_outputs_asked_for_returns_every_output(triton):
    result = triton.infer(MODEL, _inputs(binary=False))
    assert {output["name"] for output in result.get_response()["outputs"]} == {
        "forecast", "p10", "p50", "p90", "week"}


def test_an_unknown_output_is_a_400_naming_it(triton):
    """An unknown output name got 200 with every output."""
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException) as refused:
        triton.infer(MODEL, _inputs(binary=True),
                     outputs=[_output("forecast", False), _output("sales", False)])
    assert refused.value.status() == "400"
    assert refused.value.message() == (f"Unexpected inference output 'sales' for model "
                                       f"'{MODEL}'")


def _v2(server: str, body, **headers) -> httpx.Response:
    """POST `body` as bytes: httpx then sends no Content-Type unless given one."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{server}/v2/models/{MODEL}/infer", content=content, headers=headers,
                      timeout=10)


BODY = {"inputs": [{"name": "store", "datatype": "INT64", "shape": [1], "data": [1]},
                   {"name": "dept", "datatype": "INT64", "shape": [1], "data": [4]}]}


def test_a_v2_body_without_content_type_is_json(server, forecasts):
    """KServe's server reads it as JSON (the binary extension needs its header); salesops
    answered 400 "inference-header-content-length header is missing"."""
    response = _v2(server, BODY)
    assert "content-type" not in response.request.headers
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == pytest.approx([forecasts[0]], rel=1e-6)
    asked = _v2(server, {**BODY, "outputs": [{"name": "week"}]})
    assert asked.status_code == 200 and [o["name"] for o in asked.json()["outputs"]] == ["week"]


def test_a_v2_body_without_content_type_that_is_not_json_is_a_400(server):
    response = _v2(server, b"store=1&dept=4")
    assert response.status_code == 400
    assert response.json()["error"].startswith("the request body is not JSON")


def test_a_browser_still_needs_a_json_content_type(server):
    """A page on another site may post a body without Content-Type and no CORS preflight
    (FastAPI's strict check); browsers send `Origin` with it, non-browser clients do not."""
    response = _v2(server, BODY, origin="https://elsewhere.example")
    assert response.status_code == 400 and "header is missing" in response.json()["error"]
    typed = _v2(server, BODY, origin="https://elsewhere.example",
                **{"content-type": "application/json"})
    assert typed.status_code == 200


def test_v2_output_requests_that_cannot_be_honoured_are_400s(server):
    cases = [
        ([{"name": "week"}, {"name": "week"}], "output week is requested more than once"),
        ([{"name": "forecast", "parameters": {"binary_data": "yes"}}],
         "output forecast: parameters.binary_data must be true or false"),
    ]
    for outputs, message in cases:
        response = _v2(server, {**BODY, "outputs": outputs},
                       **{"content-type": "application/json"})
        assert response.status_code == 400 and response.json()["error"] == message


def test_binary_data_output_applies_to_outputs_without_their_own_binary_data(server):
    """The binary extension: an output's `binary_data` overrides the request's
    `binary_data_output`, which applies to the others."""
    body = {**BODY, "parameters": {"binary_data_output": True},
            "outputs": [{"name": "forecast"}, {"name": "week", "parameters":
                                               {"binary_data": False}}]}
    response = _v2(server, body, **{"content-type": "application/json"})
    assert response.status_code == 200
    length = int(response.headers["inference-header-content-length"])
    header = json.loads(response.content[:length])
    forecast, week = header["outputs"]
    assert forecast["parameters"] == {"binary_data_size": 8} and "data" not in forecast
    assert week["data"] == [WEEK]


def test_metrics_export_only_what_salesops_updates(server, forecasts):
    """Feast's ~20 feature-server series (`feast_*`, always 0 here) were exported."""
    text = httpx.get(f"{server}/metrics", timeout=10).text
    assert "feast_" not in text
    assert f'request_predict_seconds_count{{model_name="{MODEL}"}}' in text
    assert "process_resident_memory_bytes" in text and "python_gc_objects_collected" in text
