"""Logging the demand model so that it loads anywhere: the pyfunc, its code and what it needs.

The model's code is the `demand_forecaster` package (the network, its scalers and inputs,
the pyfunc), logged with every model (`code_paths`), and its pip requirements are the four
packages that code imports, pinned to the versions it was trained with. Loading needs
nothing that no package index has: not salesops, whose dependencies (Feast, KServe, ...)
a serving runtime should not have to install, and which no index has anyway. So
`mlflow models serve --env-manager virtualenv`, MLflow's and KServe's MLServer runtimes
load it in a fresh environment, and `mlflow.pyfunc.load_model` in salesops' own processes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import demand_forecaster
from demand_forecaster.artifacts import write_artifacts
from demand_forecaster.inputs import model_input_columns

__all__ = ["ENTRY_FILE", "log_model", "model_input_columns", "pip_requirements",
           "write_artifacts"]

#: what `log_model(python_model=...)` gets: MLflow's "models from code" file for this class
ENTRY_FILE = Path(__file__).with_name("pyfunc_entry.py")
#: the code logged with the model: a package that imports nothing from salesops
CODE = Path(demand_forecaster.__file__).parent
#: the distributions that code imports, each pinned to the version installed here
REQUIREMENTS = ("mlflow", "torch", "numpy", "pandas")


def __getattr__(name: str):
    # Models logged before the code travelled with them run an entry file that imports the
    # class from here: they still load where salesops is installed. Lazily, since the class
    # brings in mlflow.
    if name == "DemandForecaster":
        from demand_forecaster.pyfunc import DemandForecaster

        return DemandForecaster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pip_requirements() -> list[str]:
    """`name==version` for each of REQUIREMENTS, without a local version label: the CPU
    build here is `torch 2.13.0+cpu`, a GPU image's `+cu130`; `torch==2.13.0` matches
    either, and an unpinned torch would pull the newest CUDA build (several GB)."""
    from importlib.metadata import version

    from packaging.version import Version

    return [f"{name}=={Version(version(name)).public}" for name in REQUIREMENTS]


def log_model(model, scalers, features: list[str], rows):
    """Log the pyfunc in the active run, with its code, pinned requirements, signature and
    an input example (the first rows of `rows`; the output columns are the model's own on
    them)."""
    import mlflow
    from mlflow.models import infer_signature

    from demand_forecaster.artifacts import read_artifacts
    from demand_forecaster.pyfunc import DemandForecaster

    with tempfile.TemporaryDirectory() as tmp:
        artifacts = write_artifacts(Path(tmp) / "artifacts", model, scalers, features)
        # the source alone: byte code compiled here would travel with it for nothing
        code = shutil.copytree(CODE, Path(tmp) / "code" / CODE.name,
                               ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        example = rows[model_input_columns(features)].head(5)
        pyfunc = DemandForecaster()
        pyfunc.model, pyfunc.scalers, pyfunc.features = read_artifacts(artifacts)
        output = pyfunc.predict(None, example)
        return mlflow.pyfunc.log_model(
            name="model", python_model=str(ENTRY_FILE), artifacts=artifacts,
            code_paths=[str(code)], signature=infer_signature(example, output),
            input_example=example, pip_requirements=pip_requirements(),
        )
