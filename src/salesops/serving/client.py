"""The model server's client: entity keys out, forecasts back, over V1 or V2 (stdlib only).

Also where the server's URL comes from when none is given: the deployed server's record in
the workspace, else `serving.host`/`serving.port`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from salesops.config import Settings
from salesops.errors import DataError, ServiceUnavailable
from salesops.workspace import Workspace

#: the route with the server's pid and model version (added by salesops.serving.server)
INFO_PATH = "/salesops/server"
DEPLOY_HINT = "run `salesops serve deploy`"


def client_url(host: str, port: int) -> str:
    """Where a client on this machine reaches a server listening on host:port."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def default_url(settings: Settings) -> str:
    workspace = Workspace(settings.workspace)
    record = workspace.read_json(workspace.server_state)
    if record is not None:
        return record["url"]
    return client_url(settings.serving.host, settings.serving.port)


def get_json(url: str, timeout: float = 2) -> Any:
    """GET a JSON document on a new connection; None when nothing (valid) answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def predict(url: str, model: str, stores: list[int], depts: list[int],
            protocol: str = "v1", timeout: float = 30) -> dict[str, Any]:
    """Forecasts for the (store, dept) pairs, the model version and the round-trip time."""
    base = url.rstrip("/")
    if protocol == "v2":
        endpoint = f"{base}/v2/models/{model}/infer"
        body = {"inputs": [{"name": name, "datatype": "INT64", "shape": [len(values)],
                            "data": values} for name, values in (("store", stores),
                                                                 ("dept", depts))]}
    else:
        endpoint = f"{base}/v1/models/{model}:predict"
        body = {"instances": [{"store": s, "dept": d} for s, d in zip(stores, depts)]}
    request = urllib.request.Request(endpoint, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    started = time.perf_counter()
    answer = _post(request, url, model, timeout)
    latency_ms = (time.perf_counter() - started) * 1000
    if protocol == "v2":
        outputs = {output["name"]: output["data"] for output in answer["outputs"]}
        rows = [{"store": s, "dept": d, "week": w, "forecast": f}
                for s, d, w, f in zip(stores, depts, outputs["week"], outputs["forecast"])]
    else:
        rows = answer["predictions"]
    return {"url": base, "protocol": protocol, "model_name": answer["model_name"],
            "model_version": answer["model_version"], "latency_ms": round(latency_ms, 3),
            "predictions": rows}


def _post(request: urllib.request.Request, url: str, model: str, timeout: float) -> dict:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        message = _error_message(exc)
        if exc.code == 404:
            raise ServiceUnavailable(f"{url} does not serve model {model!r}: {message}",
                                     hint=DEPLOY_HINT) from None
        if 400 <= exc.code < 500:
            raise DataError(f"the model server refused the request: {message}") from None
        raise ServiceUnavailable(f"the model server at {url} failed (HTTP {exc.code}): "
                                 f"{message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceUnavailable(f"no model server answers at {url}: {reason}",
                                 hint=DEPLOY_HINT) from None


def _error_message(exc: urllib.error.HTTPError) -> str:
    body = exc.read().decode(errors="replace")
    try:
        return json.loads(body).get("error") or body
    except (ValueError, AttributeError):
        return body.strip() or exc.reason
