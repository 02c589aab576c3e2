"""Fixtures for the exact-output tests of tests/cli."""

import pytest

from tests.helpers import fixed_workspace, normalize


@pytest.fixture
def exact_workspace(monkeypatch):
    """A fresh workspace whose path has the same length on every run, and a terminal 100
    columns wide: what a table looks like does not depend on where pytest puts tmp_path."""
    monkeypatch.setenv("COLUMNS", "100")
    with fixed_workspace() as path:
        monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(path))
        yield path


@pytest.fixture
def exact(cli, exact_workspace):
    """`salesops ARGS` in-process -> (exit code, stdout, stderr), normalized (the workspace
    path is `<ws>`, elapsed times `0.0s`)."""

    def run(*args: str) -> tuple[int, str, str]:
        result = cli(*args)
        return (result.exit_code, normalize(result.stdout, ws=exact_workspace),
                normalize(result.stderr, ws=exact_workspace))

    return run
