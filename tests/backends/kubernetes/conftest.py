"""Fixtures: a stand-in API server on loopback and a kubeconfig pointing at it."""

from __future__ import annotations

import pytest

from tests.backends.kubernetes.apiserver import ApiServer, write_kubeconfig


@pytest.fixture
def apiserver(tmp_path, monkeypatch):
    server = ApiServer().start()
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, server.url)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "kubernetes")
    yield server
    server.stop()


@pytest.fixture
def namespace(apiserver):
    """The stand-in with the default namespace already there (as after `infra up`)."""
    apiserver.objects[("namespaces", "", "salesops")] = {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "salesops", "uid": "u"}}
    return apiserver


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch):
    """The waiters poll every 2 s against a cluster; the stand-in answers at once."""
    from salesops.backends.kubernetes import client

    monkeypatch.setattr(client, "POLL_S", 0.02)


def later(condition, action, timeout_s: float = 10.0):
    """Run `action` in a thread once `condition()` holds: the test plays a controller while
    the command under test waits."""
    import threading
    import time

    def run():
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                action()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
