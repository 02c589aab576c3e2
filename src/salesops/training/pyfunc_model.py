"""The model as MLflow stores it: a pyfunc that takes feature rows and returns sales.

Input: one row per (store, dept, week) with the entity ids `store` and `dept` and the
feature columns the model was trained on (`model_input_columns`; the signature lists them,
extra columns are ignored). Output: sales in real units. Scalers, the feature list and the
network's shape travel as artifacts inside the logged model, so
`mlflow.pyfunc.load_model("models:/<name>@champion").predict(features_df)` needs nothing
else installed but salesops.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from salesops.training.inputs import ID_COLUMNS

#: what `log_model(python_model=...)` gets: MLflow's "models from code" file for this class
ENTRY_FILE = Path(__file__).with_name("pyfunc_entry.py")


def model_input_columns(features: list[str]) -> list[str]:
    """The columns the logged model reads: the entity ids, then its features."""
    return [*ID_COLUMNS, *features]


class DemandForecaster(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        import torch

        from salesops.training.model import DemandMLP, Scalers

        spec = json.loads(Path(context.artifacts["spec"]).read_text())
        self.features: list[str] = spec["features"]
        self.scalers = Scalers.from_dict(spec["scalers"])
        self.model = DemandMLP(spec["inputs"], spec["hidden_sizes"], spec["dropout"],
                               spec["id_sizes"])
        self.model.load_state_dict(torch.load(context.artifacts["weights"], weights_only=True))
        self.model.eval()

    def predict(self, context, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> np.ndarray:
        from salesops.training.inputs import model_inputs
        from salesops.training.model import predict

        return predict(self.model, self.scalers, model_inputs(model_input, self.features))


def write_artifacts(folder: Path, model, scalers, features: list[str]) -> dict:
    """Save weights and spec for `mlflow.pyfunc.log_model(artifacts=...)`."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "weights.pt"
    torch.save(model.state_dict(), weights)
    spec = folder / "spec.json"
    spec.write_text(json.dumps({
        "features": list(features), "scalers": scalers.to_dict(), "inputs": model.n_features,
        "hidden_sizes": list(model.hidden_sizes), "dropout": model.dropout,
        "id_sizes": list(model.id_sizes),
    }))
    return {"weights": str(weights), "spec": str(spec)}
