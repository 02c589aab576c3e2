"""In-process checks of the V2 fixes of issue 15 (defect 10), without a server: which outputs a
request gets and in which form, which bodies count as JSON, and what `/metrics` exports.
The deployed server is checked with tritonclient in test_v2_clients."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from salesops import kserve_import  # noqa: F401  (before any other kserve import)
from kserve import InferOutput, InferRequest, InferResponse, Model  # noqa: E402
from kserve.errors import InvalidInput  # noqa: E402
from kserve.protocol.infer_type import InferInput, RequestedOutput  # noqa: E402

from salesops.serving import v2_outputs  # noqa: E402
from salesops.serving.app import RequestGuard, ServerState  # noqa: E402
from salesops.serving.exported_metrics import ExportedRegistry  # noqa: E402


class TwoOutputs(Model):
    def get_output_types(self):
        return [{"name": "forecast", "datatype": "FP64", "shape": [-1]},
                {"name": "week", "datatype": "BYTES", "shape": [-1]}]


def _request(*outputs: RequestedOutput, **parameters) -> InferRequest:
    store = InferInput("store", [1], "INT64", data=[1])
    return InferRequest("m", infer_inputs=[store], parameters=parameters or None,
                        request_outputs=list(outputs) or None)


def test_each_output_is_binary_as_it_says_else_as_the_request_says():
    outputs = v2_outputs.requested(
        _request(RequestedOutput("forecast"), RequestedOutput("week", {"binary_data": False}),
                 binary_data_output=True), TwoOutputs("m"))
    assert [(output.name, output.binary_data) for output in outputs] == [("forecast", True),
                                                                         ("week", False)]
    assert v2_outputs.requested(_request(), TwoOutputs("m")) is v2_outputs.ALL
    assert v2_outputs.requested({"instances": []}, TwoOutputs("m")) is v2_outputs.ALL


@pytest.mark.parametrize("outputs, message", [
    ([RequestedOutput("sales")], "Unexpected inference output 'sales' for model 'm'"),
    ([RequestedOutput("week"), RequestedOutput("week")], "output week is requested more"),
    ([RequestedOutput("week", {"binary_data": 1})], "binary_data must be true or false"),
])
def test_outputs_that_cannot_be_honoured_are_refused_before_the_model_runs(outputs, message):
    with pytest.raises(InvalidInput, match=message):
        v2_outputs.requested(_request(*outputs), TwoOutputs("m"))


def test_the_response_encodes_only_the_requested_outputs():
    response = InferResponse("id", "m", [
        InferOutput("forecast", [2], "FP64", data=np.array([1.5, 2.5])),
        InferOutput("week", [2], "BYTES", data=["2024-09-27"] * 2)], model_version="3")
    only = v2_outputs.restrict(response, [RequestedOutput("week", {"binary_data": False})])
    body, json_length = only.to_rest()
    assert json_length is None and body["model_version"] == "3"
    assert body["outputs"] == [{"name": "week", "shape": [2], "datatype": "BYTES",
                                "data": ["2024-09-27"] * 2}]
    assert v2_outputs.restrict(response, v2_outputs.ALL) is response


def _headers_seen(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    seen = {}

    async def app(scope, receive, send):
        seen.update(scope["headers"])

    guard = RequestGuard(app, ServerState(workspace=None), max_request_bytes=1000)
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    asyncio.run(guard(scope, None, None))
    return seen


def test_an_untyped_v2_body_is_json_unless_binary_or_from_a_browser():
    infer = "/v2/models/m/infer"
    assert _headers_seen("POST", infer, [])[b"content-type"] == b"application/json"
    typed = _headers_seen("POST", infer, [(b"content-type", b"application/octet-stream")])
    assert typed[b"content-type"] == b"application/octet-stream"
    for unchanged in [("POST", infer, [(b"inference-header-content-length", b"10")]),
                      ("POST", infer, [(b"origin", b"https://elsewhere.example")]),
                      ("POST", "/v1/models/m:predict", []), ("GET", "/v2/models/m", [])]:
        assert b"content-type" not in _headers_seen(*unchanged), unchanged


def test_metrics_leave_out_feast_families_and_keep_the_rest():
    from prometheus_client import REGISTRY, Counter

    feast = Counter("feast_h4_probe", "what feast.metrics defines and salesops never updates")
    ours = Counter("salesops_h4_probe", "a family that is updated")
    try:
        names = {family.name for family in ExportedRegistry().collect()}
    finally:
        REGISTRY.unregister(feast)
        REGISTRY.unregister(ours)
    assert "salesops_h4_probe" in names and "process_resident_memory_bytes" in names
    assert not any(name.startswith("feast_") for name in names)
