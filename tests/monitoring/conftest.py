"""One trained workspace for the drift tests, built once; each test gets a fresh copy of it
(`features build --append-weeks` and `train submit` change a workspace)."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import free_port, only_env
from tests.serving.conftest import run_cli, run_steps

#: 10 stores (store covariates are compared per store and week) × 5 depts, 90 weeks
DATA = ["--stores", "10", "--depts", "5", "--weeks", "90"]
#: the test data is small: 8 weeks hold 80 store-weeks and 400 series-weeks
ENV = {"SALESOPS_DRIFT__MIN_ROWS": "50", "SALESOPS_SERVING__LOG_FLUSH_S": "0.2"}


# session, not package: the suite's module order (tests/conftest.py) leaves and re-enters
# this package, and a package fixture would be built again each time it comes back
@pytest.fixture(scope="session")
def base_workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift")
    workspace = root / "ws"
    with only_env(root, {**ENV, "SALESOPS_PROJECT__WORKSPACE": str(workspace)}):
        run_steps(["infra", "up"], ["features", "build", *DATA],
                  ["train", "submit", "--epochs", "2", "--force-promote"])
    shutil.copytree(workspace, root / "base", symlinks=True)
    return workspace


@pytest.fixture
def drift_ws(base_workspace, tmp_path, monkeypatch):
    """A copy of the base workspace (a trained champion, 90 weeks), selected in the env.

    A new path, not the base's restored in place: MLflow and Feast keep their SQLite
    connections per path within the process. `infra up` renders the feature repo's paths
    for the copy; model artifacts stay where the base's registry says (read only).
    """
    workspace = tmp_path / "ws"
    shutil.copytree(base_workspace.parent / "base", workspace, symlinks=True)
    for name, value in {**ENV, "SALESOPS_PROJECT__WORKSPACE": str(workspace),
                        "SALESOPS_SERVING__PORT": str(free_port())}.items():
        monkeypatch.setenv(name, value)
    assert run_cli("infra", "up") == 0
    return workspace
