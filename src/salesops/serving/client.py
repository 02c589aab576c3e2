"""The model server's client: entity keys out, forecasts back, over V1 or V2 (stdlib only).

Also where the server's URL comes from when none is given: the deployed server's record in
the workspace, else `serving.host`/`serving.port`; and who a server is (its info route:
pid, deploy id, workspace), so that a client can tell this workspace's server from another
one on the same port.

Requests go through `backends.local.server_probe.request` (`http.client`, a new connection
each, a short connect timeout, no proxy). Whatever goes wrong ends as one line: a malformed
URL is a usage error (exit 2), anything the server does or fails to do a ServiceUnavailable
(exit 5), a refused request a DataError (exit 3).
"""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from salesops.backends.local.server_probe import (
    INFO_PATH,
    client_url,
    info_of,
    request,
    same_workspace,
)
from salesops.config import Settings
from salesops.errors import DataError, ServiceUnavailable, UsageError
from salesops.forecasts import QUANTILE_COLUMNS
from salesops.workspace import Workspace

DEPLOY_HINT = "run `salesops serve deploy`"
READ_TIMEOUT_S = 30.0  # a request the server accepted


def default_url(settings: Settings) -> str:
    workspace = Workspace(settings.workspace)
    record = workspace.read_json(workspace.server_state)
    if record is not None:
        return record["url"]
    return client_url(settings.serving.host, settings.serving.port)


def check_url(url: str) -> str:
    """`url` without a trailing slash; UsageError unless it is an http(s) URL with a host."""
    from salesops.masking import mask_url

    example = "an http(s) URL like http://127.0.0.1:8080"
    shown = repr(mask_url(url))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise UsageError(f"--url {shown} is not {example}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url {shown} is not {example}")
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"--url {shown}: salesops sends no credentials; give the server's "
                         "address only")
    if parts.query or parts.fragment:
        raise UsageError(f"--url {shown}: give the server's address without ?query or "
                         "#fragment (the predict path is added to it)")
    return url.rstrip("/")


def identify(url: str, timeout: float = 5) -> dict[str, Any] | None:
    """The info of the salesops server at `url`; None when what answers there is not one;
    ServiceUnavailable when nothing does."""
    try:
        return info_of(*request("GET", url.rstrip("/") + INFO_PATH, None, timeout))
    except (OSError, http.client.HTTPException) as exc:
        raise ServiceUnavailable(f"no model server answers at {url}: {_reason(exc)}",
                                 hint=DEPLOY_HINT) from None


def require_this_workspace(url: str, workspace: Path, timeout: float = 5) -> dict[str, Any]:
    """The info of the server at `url`, which must serve `workspace`; else why not, in one
    line (ServiceUnavailable)."""
    info = identify(url, timeout)
    if info is None:
        raise ServiceUnavailable(f"{url} answers, but not as a salesops model server",
                                 hint=f"{DEPLOY_HINT}, or pass --url")
    if not same_workspace(info, workspace):
        raise ServiceUnavailable(
            f"the model server at {url} (pid {info.get('pid')}) serves the workspace "
            f"{info.get('workspace') or '(unknown)'}, not this one ({Path(workspace)})",
            hint=f"{DEPLOY_HINT} here, or pass --url {url} to ask that server anyway")
    return info


def predict(url: str, model: str, stores: list[int], depts: list[int],
            protocol: str = "v1", timeout: float = READ_TIMEOUT_S) -> dict[str, Any]:
    """Forecasts (with P10, P50, P90 where the model has them) for the (store, dept) pairs,
    the model version and the round-trip time."""
    base = check_url(url)
    if protocol == "v2":
        endpoint = f"{base}/v2/models/{model}/infer"
        body = {"inputs": [{"name": name, "datatype": "INT64", "shape": [len(values)],
                            "data": values} for name, values in (("store", stores),
                                                                 ("dept", depts))]}
    else:
        endpoint = f"{base}/v1/models/{model}:predict"
        body = {"instances": [{"store": s, "dept": d} for s, d in zip(stores, depts)]}
    started = time.perf_counter()
    answer = _post(endpoint, json.dumps(body).encode(), base, model, timeout)
    latency_ms = (time.perf_counter() - started) * 1000
    try:
        if protocol == "v2":
            outputs = {output["name"]: output["data"] for output in answer["outputs"]}
            values = ["forecast", *(name for name in QUANTILE_COLUMNS if name in outputs)]
            rows = [{"store": s, "dept": d, "week": outputs["week"][i],
                     **{name: outputs[name][i] for name in values}}
                    for i, (s, d) in enumerate(zip(stores, depts))]
        else:
            rows = answer["predictions"]
        return {"url": base, "protocol": protocol, "model_name": answer["model_name"],
                "model_version": answer["model_version"], "latency_ms": round(latency_ms, 3),
                "predictions": rows}
    except (KeyError, TypeError, IndexError) as exc:
        raise ServiceUnavailable(f"{base} answered, but not as a salesops model server "
                                 f"(no {exc} in its answer)") from None


def _post(endpoint: str, body: bytes, url: str, model: str, timeout: float) -> dict:
    try:
        status, payload = request("POST", endpoint, body, timeout)
    except (OSError, http.client.HTTPException) as exc:
        raise ServiceUnavailable(f"no model server answers at {url}: {_reason(exc)}",
                                 hint=DEPLOY_HINT) from None
    if status == 200:
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ServiceUnavailable(f"{url} answered, but not with JSON: is it a salesops "
                                     "model server?")
        return answer
    message = _error_message(payload, status)
    if status == 404:
        raise ServiceUnavailable(f"{url} does not serve model {model!r}: {message}",
                                 hint=DEPLOY_HINT)
    if 400 <= status < 500:
        raise DataError(f"the model server refused the request: {message}")
    raise ServiceUnavailable(f"the model server at {url} failed (HTTP {status}): {message}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, http.client.HTTPException):
        return f"it does not speak HTTP ({type(exc).__name__})"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _error_message(payload: bytes, status: int) -> str:
    text = payload.decode(errors="replace")
    try:
        return json.loads(text).get("error") or text
    except (ValueError, AttributeError):
        return text.strip()[:200] or f"HTTP {status}"
