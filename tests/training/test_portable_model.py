"""A registered model loads with nothing but what a package index has, and says where it came
from: `mlflow models serve --env-manager virtualenv` (what MLflow's and KServe's MLServer
runtimes do) builds a fresh environment from the model's pip requirements and serves the
same numbers as salesops' own process; the version carries the run's lineage tags.

The environment is MLflow's own cache (`MLFLOW_ENV_ROOT`, keyed by the requirements), kept
under the pytest cache: the first run builds it (3-4 minutes on 2 busy cores: mlflow, torch,
numpy, pandas from the package index), later runs reuse it.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SMALL
from tests.helpers import free_port, only_env

NAME = "salesops-demand"
#: the first build of the environment takes minutes (see the module docstring)
ENV_BUILD_TIMEOUT_S = 900


def _model_code() -> list[Path]:
    """The files a logged model runs: the package logged with it and the entry file."""
    import demand_forecaster
    from salesops.training.pyfunc_model import ENTRY_FILE

    return [*sorted(Path(demand_forecaster.__file__).parent.glob("*.py")), ENTRY_FILE]


def _imported_packages(path: Path) -> set[str]:
    """The top-level packages a module imports (absolute imports; relative ones stay in it)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_the_model_code_imports_only_its_pinned_requirements():
    from salesops.training.pyfunc_model import REQUIREMENTS

    for path in _model_code():
        third_party = _imported_packages(path) - set(sys.stdlib_module_names) - {
            "demand_forecaster"}
        assert third_party <= set(REQUIREMENTS), (path.name, third_party)


def test_pip_requirements_pin_installable_versions():
    from importlib.metadata import version

    from salesops.training.pyfunc_model import REQUIREMENTS, pip_requirements

    requirements = pip_requirements()
    assert [line.split("==")[0] for line in requirements] == list(REQUIREMENTS)
    # torch exactly, without the wheel's local label (`2.13.0+cpu`): an unpinned torch, or
    # one the index lacks, is a several-GB CUDA build or a failed environment
    assert "torch==2.13.0" in requirements
    assert f"numpy=={version('numpy')}" in requirements
    assert f"pandas=={version('pandas')}" in requirements
    assert not [line for line in requirements if "salesops" in line or "+" in line]


def test_the_model_reads_the_feature_stores_entity_keys():
    from demand_forecaster.inputs import ID_COLUMNS
    from salesops.features.schema import ENTITY_KEYS

    assert ID_COLUMNS == tuple(ENTITY_KEYS)


@pytest.mark.slow  # importing mlflow: ~5 s on 2 cores, unless an earlier test did
def test_models_logged_before_still_find_their_class():
    """Their entry file, logged with them, imports it from salesops.training.pyfunc_model."""
    from demand_forecaster.pyfunc import DemandForecaster
    from salesops.training import pyfunc_model

    assert pyfunc_model.DemandForecaster is DemandForecaster


@pytest.fixture(scope="module")
def registered(tmp_path_factory) -> Path:
    """A workspace whose registry has v1 of the model, trained and registered by
    `salesops train submit` (one epoch on a small dataset)."""
    from salesops.cli import main

    workspace = tmp_path_factory.mktemp("portable") / "ws"
    with only_env(workspace.parent, {"SALESOPS_PROJECT__WORKSPACE": str(workspace)}):
        for command in (["infra", "up"], ["features", "build", *SMALL],
                        ["train", "submit", "--epochs", "1", "--force-promote"]):
            with pytest.raises(SystemExit) as exit_info:
                main(["-q", *command])
            assert not exit_info.value.code, command
    return workspace


@contextlib.contextmanager
def _registry(workspace: Path):
    """MLflow pointed at `workspace`'s registry; yields the client."""
    from salesops.config import load_settings
    from salesops.training import registry
    from salesops.training.tracking import Tracking

    with only_env(workspace.parent, {"SALESOPS_PROJECT__WORKSPACE": str(workspace)}):
        Tracking.open(load_settings(), read_only=True)
        yield registry.client()


@pytest.mark.slow
def test_the_registered_version_carries_the_runs_lineage(registered):
    with _registry(registered) as client:
        version = client.get_model_version(NAME, "1")
        run_tags = client.get_run(version.run_id).data.tags
    lineage = {key: value for key, value in run_tags.items() if not key.startswith("mlflow.")}
    assert {"data_fingerprint", "feature_service", "salesops.version", "git_commit",
            "feature_store.profile"} <= set(lineage)
    assert {key: version.tags.get(key) for key in lineage} == lineage


@pytest.mark.slow
def test_the_registered_model_serves_from_a_fresh_virtualenv(registered, tmp_path, request):
    import mlflow
    from mlflow.models import Model

    uri = f"models:/{NAME}/1"
    with _registry(registered):
        local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "model")))
        rows = Model.load(local).load_input_example(str(local))
        in_process = mlflow.pyfunc.load_model(uri).predict(rows)
    from salesops.training.pyfunc_model import pip_requirements

    assert (local / "requirements.txt").read_text().split() == pip_requirements()

    served = _serve_in_virtualenv(local, rows, request.config.cache.mkdir("mlflow-envs"),
                                  tmp_path / "serve.log")
    # a frame from both: forecast, p10, p50, p90
    assert served.columns.tolist() == in_process.columns.tolist() == ["forecast", "p10", "p50",
                                                                       "p90"]
    np.testing.assert_allclose(served, in_process, rtol=1e-6)


def _serve_in_virtualenv(model: Path, rows, env_root: Path, log: Path):
    """`mlflow models serve --env-manager virtualenv` on loopback: the forecasts for `rows`.
    Also checks that the environment it built cannot import salesops."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["MLFLOW_ENV_ROOT"] = str(env_root)
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(mlflow_cli), "models", "serve", "-m", str(model), "--env-manager",
             "virtualenv", "-h", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait_for_ping(port, server, log)
        split = rows.to_dict(orient="split")  # per-column types: ids stay integers
        body = json.dumps({"dataframe_split": {"columns": split["columns"],
                                               "data": split["data"]}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.loads(response.read())["predictions"]
    finally:
        with contextlib.suppress(ProcessLookupError):  # already exited: nothing left
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    for python in env_root.glob("*/bin/python"):
        probe = subprocess.run([str(python), "-c", "import salesops"], capture_output=True,
                               env=env)
        assert probe.returncode != 0, f"{python} can import salesops"
    import pandas as pd

    return pd.DataFrame(predictions)  # one record per row


def _wait_for_ping(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + ENV_BUILD_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited {server.returncode}: {_errors(log)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    pytest.fail(f"mlflow models serve not up after {ENV_BUILD_TIMEOUT_S} s: {_errors(log)}")


def _errors(log: Path) -> str:
    """pip's and MLflow's error lines from the server's log, else its end."""
    text = log.read_text(errors="replace")
    errors = [line for line in text.splitlines() if line.startswith(("ERROR", "mlflow."))]
    return "\n".join(errors) if errors else text[-3000:]
