"""The model server for real: `serve deploy` starts it on loopback, clients talk HTTP to it.

One server serves the module (deploying takes seconds); the lifecycle test at the end stops,
redeploys and replaces it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.serving.conftest import deployed

pytestmark = pytest.mark.slow

MODEL = "salesops-demand"
KEYS = [(store, dept) for store in (1, 2, 3) for dept in (1, 2, 3, 4)]
#: the network runs in float32: the same row in a batch of another size may differ in the
#: last bits (BLAS blocking); the same batch gives the same numbers exactly
FLOAT32_RTOL = 1e-6


@pytest.fixture(scope="module")
def server(trained_env):
    """The deployed server's url (torn down with `serve stop`)."""
    with deployed(trained_env) as url:
        yield url


@pytest.fixture(scope="module")
def expected(trained_env):
    """What `mlflow.pyfunc` predicts on the features Feast serves online, by (store, dept)."""
    import mlflow

    from salesops.config import load_settings
    from salesops.features.feast_ops import open_store
    from salesops.training.tracking import Tracking
    from salesops.workspace import Workspace

    with pytest.MonkeyPatch.context() as patch:
        for name, value in trained_env.items():
            patch.setenv(name, value)
        settings = load_settings()
    Tracking.open(settings, read_only=False)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    store = open_store(Workspace(settings.workspace))
    features = store.get_online_features(
        features=store.get_feature_service("inference_features"),
        entity_rows=[{"store": s, "dept": d} for s, d in KEYS]).to_df()
    schema = model.metadata.get_input_schema()
    frame = features[schema.input_names()].astype(
        {name: kind.to_numpy() for name, kind in schema.input_types_dict().items()})
    output = model.predict(frame)  # a frame: forecast, p10, p50, p90
    return {"forecasts": dict(zip(KEYS, output["forecast"])), "features": features,
            "quantiles": {name: dict(zip(KEYS, output[name])) for name in ("p10", "p50", "p90")}}


def v1(url: str, body) -> httpx.Response:
    return httpx.post(f"{url}/v1/models/{MODEL}:predict", json=body, timeout=10)


def test_v1_batch_equals_pyfunc_on_the_same_features(server, expected):
    response = v1(server, {"instances": [{"store": s, "dept": d} for s, d in KEYS]})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_name"] == MODEL and answer["model_version"] == "1"
    served = {(p["store"], p["dept"]): p["forecast"] for p in answer["predictions"]}
    assert list(served) == KEYS
    np.testing.assert_allclose([served[k] for k in KEYS],
                               [expected["forecasts"][k] for k in KEYS], rtol=0)
    assert {p["week"] for p in answer["predictions"]} == {"2024-09-27"}
    # the interval beside the forecast, the model's own numbers; P50 is the forecast
    for name in ("p10", "p50", "p90"):
        np.testing.assert_allclose([p[name] for p in answer["predictions"]],
                                   [expected["quantiles"][name][k] for k in KEYS], rtol=0)
    assert all(p["p10"] <= p["p50"] == p["forecast"] <= p["p90"] for p in answer["predictions"])


def test_open_inference_protocol_client(server, expected):
    from salesops import kserve_import  # noqa: F401
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    async def infer(binary: bool):
        stores = InferInput("store", [3], "INT64")
        depts = InferInput("dept", [3], "INT64")
        stores.set_data_from_numpy(np.array([1, 2, 3], np.int64), binary_data=binary)
        depts.set_data_from_numpy(np.array([4, 1, 2], np.int64), binary_data=binary)
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            request = InferRequest(model_name=MODEL, infer_inputs=[stores, depts])
            return await client.infer(server, request, model_name=MODEL)
        finally:
            await client.close()

    for binary in (False, True):
        response = asyncio.run(infer(binary))
        assert response.parameters["model_version"] == "1"
        forecasts = response.get_output_by_name("forecast").as_numpy()
        np.testing.assert_allclose(
            forecasts, [expected["forecasts"][k] for k in [(1, 4), (2, 1), (3, 2)]],
            rtol=FLOAT32_RTOL)
        assert list(response.get_output_by_name("week").data) == ["2024-09-27"] * 3


BAD_V1 = [
    ({"instances": [{"store": 1, "dept": 99}]}, "store=1, dept=99"),
    ({"instances": [{"store": 99, "dept": 1}]}, "store=99, dept=1"),
    ({"instances": [{"store": 1}]}, "instances[0].dept: field required"),
    ({"instances": [{"store": "1", "dept": 3}]}, "instances[0].store: input should be a valid"),
    ({"instances": [{"store": 1.5, "dept": 3}]}, "instances[0].store"),
    ({"instances": [{"store": 1, "dept": 3, "week": 5}]}, "instances[0].week: unknown field"),
    ({"instances": []}, "empty request"),
    ({}, "instances: field required"),
    ([{"store": 1, "dept": 3}], "expected a JSON object"),
    ({"instances": [{"store": 1, "dept": 1}] * 1001}, "too many entities: 1,001"),
]
BAD_V2 = [
    ([("store", "INT64", [1], [1])], "missing input(s) dept"),
    ([("store", "FP32", [1], [1.0]), ("dept", "INT64", [1], [3])], "datatype FP32"),
    ([("store", "INT64", [1], ["a"]), ("dept", "INT64", [1], [3])], 'input store: "a" is not'),
    ([("store", "INT64", [2], [1, 2]), ("dept", "INT64", [1], [3])], "differ in shape"),
    ([("store", "INT64", [0], []), ("dept", "INT64", [0], [])], "empty request"),
    ([("store", "INT64", [1], [7]), ("dept", "INT64", [1], [3])], "store=7, dept=3"),
]


@pytest.mark.parametrize("body, message", BAD_V1)
def test_bad_v1_request_is_a_400_naming_the_problem(server, body, message):
    response = v1(server, body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_v2_json_request(server, expected):
    body = {"inputs": [{"name": "store", "datatype": "INT64", "shape": [2, 1], "data": [2, 3]},
                       {"name": "dept", "datatype": "INT32", "shape": [2, 1], "data": [3, 1]}]}
    response = httpx.post(f"{server}/v2/models/{MODEL}/infer", json=body, timeout=10)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_version"] == "1"
    outputs = {output["name"]: output["data"] for output in answer["outputs"]}
    np.testing.assert_allclose(outputs["forecast"], [expected["forecasts"][(2, 3)],
                                                     expected["forecasts"][(3, 1)]],
                               rtol=FLOAT32_RTOL)
    assert list(outputs) == ["forecast", "p10", "p50", "p90", "week"]
    np.testing.assert_allclose(outputs["p90"], [expected["quantiles"]["p90"][(2, 3)],
                                                expected["quantiles"]["p90"][(3, 1)]],
                               rtol=FLOAT32_RTOL)


def test_v2_request_outputs_pick_the_quantiles(server, expected):
    body = {"inputs": [{"name": "store", "datatype": "INT64", "shape": [1], "data": [2]},
                       {"name": "dept", "datatype": "INT64", "shape": [1], "data": [3]}],
            "outputs": [{"name": "p90"}, {"name": "p10"}]}
    response = httpx.post(f"{server}/v2/models/{MODEL}/infer", json=body, timeout=10)
    assert response.status_code == 200, response.text
    outputs = {output["name"]: output["data"] for output in response.json()["outputs"]}
    assert list(outputs) == ["p90", "p10"]
    np.testing.assert_allclose([outputs["p10"][0], outputs["p90"][0]],
                               [expected["quantiles"]["p10"][(2, 3)],
                                expected["quantiles"]["p90"][(2, 3)]], rtol=FLOAT32_RTOL)
    metadata = httpx.get(f"{server}/v2/models/{MODEL}", timeout=10).json()
    assert [o["name"] for o in metadata["outputs"]] == ["forecast", "p10", "p50", "p90", "week"]


@pytest.mark.parametrize("inputs, message", BAD_V2)
def test_bad_v2_request_is_a_400_naming_the_problem(server, inputs, message):
    body = {"inputs": [{"name": n, "datatype": t, "shape": s, "data": d} for n, t, s, d in inputs]}
    response = httpx.post(f"{server}/v2/models/{MODEL}/infer", json=body, timeout=10)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_the_server_keeps_serving_after_bad_requests(server):
    assert v1(server, {"instances": [{"store": 1, "dept": 99}]}).status_code == 400
    assert v1(server, "not json at all").status_code == 400
    assert v1(server, {"instances": [{"store": 1, "dept": 1}]}).status_code == 200


def test_health_readiness_and_metrics(server):
    assert httpx.get(f"{server}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{server}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{server}/v2/models/{MODEL}/ready").json()["ready"] is True
    assert "request_predict_seconds" in httpx.get(f"{server}/metrics").text


def test_prediction_log_receives_every_served_row(server, serving_env, expected):
    from salesops.stores.prediction_log import read_prediction_log
    from salesops.workspace import Workspace

    workspace = Workspace(Path(serving_env["SALESOPS_PROJECT__WORKSPACE"]))
    since = datetime.now(UTC)
    forecast = v1(server, {"instances": [{"store": 3, "dept": 2}]}).json()["predictions"][0]
    deadline = time.monotonic() + 10  # the server writes every 0.2 s (SERVING__LOG_FLUSH_S)
    while not len(logged := read_prediction_log(workspace, since)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(logged) == 1
    row = logged.iloc[0]
    assert (row["store"], row["dept"], row["model_version"]) == (3, 2, "1")
    assert row["prediction"] == forecast["forecast"]
    # the interval, which `drift` scores on arrived actuals
    assert (row["prediction_p10"], row["prediction_p90"]) == (forecast["p10"], forecast["p90"])
    online = expected["features"].set_index(["store", "dept"]).loc[(3, 2)]
    assert row["sales_lag_1"] == online["sales_lag_1"] and row["cpi"] == online["cpi"]
    assert str(row["week"].date()) == forecast["week"]


def test_predict_command_uses_the_deployed_server(server, serving_env, cli):
    result = cli("predict", "--store", "1", "--dept", "2", "--store", "3", "--dept", "4", "--json")
    assert result.exit_code == 0, result.stderr
    answer = result.json()
    assert answer["url"] == server and answer["model_version"] == "1"
    assert [(p["store"], p["dept"]) for p in answer["predictions"]] == [(1, 2), (3, 4)]
    assert answer["latency_ms"] > 0
    v2 = cli("predict", "--store", "1", "--dept", "2", "--protocol", "v2", "--json").json()
    assert v2["predictions"][0]["forecast"] == answer["predictions"][0]["forecast"]
    for name in ("p10", "p50", "p90"):
        assert np.isclose(v2["predictions"][0][name], answer["predictions"][0][name],
                          rtol=FLOAT32_RTOL)
    human = cli("predict", "--store", "1", "--dept", "2")
    assert "2024-09-27" in human.stdout and "round trip" in human.stdout
    assert "P10" in human.stdout and "P90" in human.stdout
    # the same one-row batch as JSON: the same float32 numbers to the last bit
    single = cli("predict", "--store", "1", "--dept", "2", "--json").json()["predictions"][0]
    for name in ("forecast", "p10", "p90"):
        assert f"{single[name]:,.2f}" in human.stdout
    unknown = cli("predict", "--store", "1", "--dept", "99")
    assert unknown.exit_code == 3 and "store=1, dept=99" in unknown.stderr


def test_deploy_status_stop_deploy_again_and_replace(server, serving_env, cli, monkeypatch):
    status = cli("serve", "status", "--json").json()
    assert status["running"] and status["url"] == server and status["model_version"] == "1"
    first_pid = status["pid"]

    assert cli("serve", "stop").exit_code == 0
    assert cli("serve", "status", "--json").json()["running"] is False
    refused = cli("predict", "--store", "1", "--dept", "1")
    assert refused.exit_code == 5 and "salesops serve deploy" in refused.stderr

    assert cli("serve", "deploy", "--json").exit_code == 0
    second = cli("serve", "status", "--json").json()
    assert second["running"] and second["pid"] != first_pid

    errors, served = _hammer_while(lambda: cli("serve", "deploy"), server)
    third = cli("serve", "status", "--json").json()
    assert third["running"] and third["pid"] != second["pid"]
    assert served > 0
    assert errors == []  # the listening socket is handed over: nothing queued is reset

    monkeypatch.setenv("SALESOPS_SERVING__READY_TIMEOUT_S", "0.5")
    failed = cli("serve", "deploy")
    assert failed.exit_code == 1 and "not ready after 0.5 s" in failed.stderr
    kept = cli("serve", "status", "--json").json()
    assert kept["running"] and kept["pid"] == third["pid"]
    assert v1(server, {"instances": [{"store": 1, "dept": 1}]}).status_code == 200


def test_predict_tells_this_workspaces_server_from_another_ones(server, trained_env, cli,
                                                               workspace, monkeypatch):
    """In a workspace without a server, `predict` silently asked another workspace's server
    on the default port (other data, other week)."""
    other = trained_env["SALESOPS_PROJECT__WORKSPACE"]
    monkeypatch.setenv("SALESOPS_SERVING__PORT", trained_env["SALESOPS_SERVING__PORT"])
    refused = cli("predict", "--store", "1", "--dept", "1")
    assert refused.exit_code == 5
    assert f"serves the workspace {other}, not this one ({workspace})" in refused.stderr
    assert f"--url {server}" in refused.stderr
    status = cli("serve", "status", "--json").json()
    assert status["running"] is False and status["answering"]["workspace"] == other

    asked = cli("predict", "--store", "1", "--dept", "1", "--url", server, "--json")
    assert asked.exit_code == 0, asked.stderr
    assert asked.json()["workspace"] == other
    human = cli("predict", "--store", "1", "--dept", "1", "--url", server)
    assert f"workspace {other}" in " ".join(human.stdout.split())


def test_infra_down_stops_the_workspaces_server(trained_env, cli, workspace, monkeypatch):
    """`infra down --yes` left its server running, and `serve status`/`stop` then said there
    was none. (A second workspace, with its own features, reads the trained one's registry.)"""
    from tests.conftest import SMALL
    from tests.helpers import free_port

    registry = Path(trained_env["SALESOPS_PROJECT__WORKSPACE"]) / "mlflow.db"
    monkeypatch.setenv("SALESOPS_MLFLOW__TRACKING_URI", f"sqlite:///{registry}")
    monkeypatch.setenv("SALESOPS_SERVING__PORT", str(port := free_port()))
    for step in (["infra", "up"], ["features", "build", *SMALL], ["serve", "deploy"]):
        assert cli(*step).exit_code == 0, step
    pid = cli("serve", "status", "--json").json()["pid"]

    down = cli("infra", "down", "--yes")
    assert down.exit_code == 0, down.stderr
    assert "stopping the model server" in down.stderr
    assert not Path(f"/proc/{pid}").exists() and not workspace.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v2/health/live", timeout=2)


def _hammer_while(action, url: str) -> tuple[list[str], int]:
    """Send requests on fresh connections while `action` runs; (errors, successes)."""
    errors: list[str] = []
    served = 0
    done = threading.Event()

    def hammer() -> None:
        nonlocal served
        while not done.is_set():
            try:
                with httpx.Client() as client:
                    response = client.post(f"{url}/v1/models/{MODEL}:predict",
                                           json={"instances": [{"store": 1, "dept": 1}]})
                if response.status_code == 200:
                    served += 1
                else:
                    errors.append(response.text)
            except httpx.HTTPError as exc:
                errors.append(repr(exc))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        assert action().exit_code == 0
    finally:
        done.set()
        thread.join()
    return errors, served
