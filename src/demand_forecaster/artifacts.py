"""The model's artifacts: its weights and a JSON spec (features, scalers, the network's
shape). Written when the model is logged, read when it loads: one format, in one place."""

from __future__ import annotations

import json
from pathlib import Path


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


def read_artifacts(artifacts: dict[str, str]):
    """(the network in eval mode, its scalers, its features) from `write_artifacts`' files."""
    import torch

    from .network import DemandMLP, Scalers

    spec = json.loads(Path(artifacts["spec"]).read_text())
    model = DemandMLP(spec["inputs"], spec["hidden_sizes"], spec["dropout"], spec["id_sizes"])
    model.load_state_dict(torch.load(artifacts["weights"], weights_only=True))
    model.eval()
    return model, Scalers.from_dict(spec["scalers"]), list(spec["features"])
