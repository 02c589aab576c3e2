"""The model as MLflow stores it: a pyfunc that takes feature rows and returns sales.

Scalers, the feature list and the network's shape travel as artifacts inside the logged
model, so `mlflow.pyfunc.load_model("models:/<name>@champion").predict(features_df)` gives
sales in real units with nothing else installed but salesops.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd


class DemandForecaster(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        import torch

        from salesops.training.model import DemandMLP, Scalers

        spec = json.loads(Path(context.artifacts["spec"]).read_text())
        self.features: list[str] = spec["features"]
        self.scalers = Scalers.from_dict(spec["scalers"])
        self.model = DemandMLP(len(self.features), spec["hidden_sizes"], spec["dropout"])
        self.model.load_state_dict(torch.load(context.artifacts["weights"], weights_only=True))
        self.model.eval()

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None):
        from salesops.training.model import predict

        missing = [name for name in self.features if name not in model_input.columns]
        if missing:
            raise ValueError(f"missing feature columns: {', '.join(missing)}")
        X = model_input[self.features].to_numpy(dtype=np.float32)
        return predict(self.model, self.scalers, X)


def write_artifacts(folder: Path, model, scalers, features: list[str], hidden_sizes, dropout) -> dict:
    """Save weights and spec for `mlflow.pyfunc.log_model(artifacts=...)`."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "weights.pt"
    torch.save(model.state_dict(), weights)
    spec = folder / "spec.json"
    spec.write_text(json.dumps({"features": features, "scalers": scalers.to_dict(),
                                "hidden_sizes": list(hidden_sizes), "dropout": dropout}))
    return {"weights": str(weights), "spec": str(spec)}
