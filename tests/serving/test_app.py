"""The server's app changes in-process: readiness, the repository lock, error log levels."""

from __future__ import annotations

import asyncio
import logging

import pytest

from salesops import kserve_import  # noqa: F401  (before any other kserve import)
from kserve import Model  # noqa: E402
from kserve.model_repository import ModelRepository  # noqa: E402

from salesops.serving.app import RepositoryDisabled, error_handler, model_plane  # noqa: E402


def registry(*models: Model) -> ModelRepository:
    repository = ModelRepository()
    for model in models:
        repository.update(model)
    return repository


def test_readiness_is_the_models():
    """KServe's `/v2/health/ready` said ready with the model unloaded."""
    loading = Model("salesops-demand")  # `ready` is False until `load()` sets it
    dataplane, _ = model_plane(registry(loading))
    assert asyncio.run(dataplane.ready()) is False
    loading.load()
    assert asyncio.run(dataplane.ready()) is True
    loading.stop()  # what the server does when it stops
    assert asyncio.run(dataplane.ready()) is False
    assert asyncio.run(model_plane(registry())[0].ready()) is False  # no model at all


def test_the_repository_refuses_load_and_unload():
    model = Model("salesops-demand")
    model.load()
    repository = registry(model)
    _, extension = model_plane(repository)
    for action in (extension.load, extension.unload):
        with pytest.raises(RepositoryDisabled, match="disabled on this server"):
            asyncio.run(action("salesops-demand"))
    assert repository.get_model("salesops-demand") is model and model.ready


def _request(path: str):
    from starlette.requests import Request

    return Request({"type": "http", "method": "POST", "path": path, "headers": [],
                    "query_string": b""})


def test_client_errors_log_one_info_line_server_errors_an_error_with_traceback(caplog):
    from kserve.errors import InvalidInput

    caplog.set_level(logging.INFO, logger="salesops.serving")
    bad = asyncio.run(error_handler(400, logging.INFO)(_request("/v1/x"),
                                                         InvalidInput("input store: 1.9")))
    assert bad.status_code == 400 and b"input store: 1.9" in bad.body
    broken = asyncio.run(error_handler(500, logging.ERROR)(_request("/v1/x"),
                                                            RuntimeError("disk on fire")))
    assert broken.status_code == 500 and b"RuntimeError: disk on fire" in broken.body
    (client, server) = caplog.records
    assert client.levelno == logging.INFO and client.exc_info is None
    assert client.getMessage() == "POST /v1/x: 400 input store: 1.9"
    assert server.levelno == logging.ERROR and server.exc_info is not None
