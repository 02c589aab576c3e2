"""Who answers at a model server's address (pure parts: no server needed)."""

from __future__ import annotations

import json

import pytest

from salesops.backends.local.server_probe import client_url, info_of, same_workspace, server_info
from tests.helpers import free_port


@pytest.mark.parametrize("host, url", [
    ("0.0.0.0", "http://127.0.0.1:8080"), ("", "http://127.0.0.1:8080"),
    ("::", "http://127.0.0.1:8080"), ("::1", "http://[::1]:8080"),
    ("10.0.0.5", "http://10.0.0.5:8080"), ("localhost", "http://localhost:8080"),
])
def test_client_url_reaches_a_wildcard_address_on_loopback(host, url):
    assert client_url(host, 8080) == url


def test_only_a_salesops_info_answer_counts():
    info = {"pid": 7, "workspace": "/ws", "deploy_id": "ab"}
    assert info_of(200, json.dumps(info).encode()) == info
    assert info_of(404, json.dumps(info).encode()) is None
    assert info_of(200, b'{"status": "ok"}') is None  # someone else's JSON
    assert info_of(200, b"<html>") is None
    assert info_of(200, b"[1, 2]") is None


def test_same_workspace_compares_resolved_paths(tmp_path):
    (tmp_path / "ws").mkdir()
    assert same_workspace({"workspace": str(tmp_path / "x" / ".." / "ws")}, tmp_path / "ws")
    assert not same_workspace({"workspace": "/elsewhere"}, tmp_path / "ws")
    assert not same_workspace({"pid": 1}, tmp_path / "ws")
    assert not same_workspace(None, tmp_path / "ws")


def test_nothing_listening_is_no_info():
    assert server_info(f"http://127.0.0.1:{free_port()}", timeout=0.5) is None
