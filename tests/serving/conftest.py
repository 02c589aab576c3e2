"""A workspace with features and a champion model, built once for all serving tests.

Training and `features build` take seconds; every serving test reads the same workspace,
selected through the environment (`serving_env`), and none of them changes its features or
its registry.
"""

from __future__ import annotations

import contextlib

import pytest

from salesops.cli import main
from tests.conftest import SMALL
from tests.helpers import free_port, only_env


def run_cli(*args: str) -> int:
    try:
        main(["-q", *args])
    except SystemExit as exit_info:
        return int(exit_info.code or 0)
    return 0


def run_steps(*steps: list[str]) -> None:
    for args in steps:
        assert run_cli(*args) == 0, f"salesops {' '.join(args)} failed"


# session, not package: the suite's module order (tests/conftest.py) leaves and re-enters
# this package, and a package fixture would be built again each time it comes back
@pytest.fixture(scope="session")
def trained_env(tmp_path_factory) -> dict[str, str]:
    """The environment that selects the trained workspace (and a free port for its server)."""
    root = tmp_path_factory.mktemp("serving")
    env = {
        "SALESOPS_PROJECT__WORKSPACE": str(root / "ws"),
        "SALESOPS_SERVING__PORT": str(free_port()),
        "SALESOPS_SERVING__LOG_FLUSH_S": "0.2",
    }
    with only_env(root, env):
        run_steps(["infra", "up"], ["features", "build", *SMALL],
                  ["train", "submit", "--epochs", "2", "--force-promote"])
    return env


@contextlib.contextmanager
def deployed(trained_env: dict[str, str]):
    """A server deployed in the trained workspace for the block (its url); `serve stop` after."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in trained_env.items():
            patch.setenv(name, value)
        assert run_cli("serve", "deploy") == 0
        yield f"http://127.0.0.1:{trained_env['SALESOPS_SERVING__PORT']}"
        run_cli("serve", "stop")


@pytest.fixture
def serving_env(trained_env, monkeypatch) -> dict[str, str]:
    for name, value in trained_env.items():
        monkeypatch.setenv(name, value)
    return trained_env
