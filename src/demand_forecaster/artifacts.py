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
    members = getattr(model, "members", None)
    spec.write_text(json.dumps({
        "features": list(features), "scalers": scalers.to_dict(), "inputs": model.n_features,
        "hidden_sizes": list(model.hidden_sizes), "dropout": model.dropout,
        "id_sizes": list(model.id_sizes), "norm": model.norm,
        "quantiles": list(model.quantiles),
        # None: one DemandMLP; a number: a DemandEnsemble of that many
        "members": None if members is None else len(members),
    }))
    return {"weights": str(weights), "spec": str(spec)}


def read_artifacts(artifacts: dict[str, str]):
    """(the network in eval mode, its scalers, its features) from `write_artifacts`' files."""
    import torch

    from .network import DemandEnsemble, DemandMLP, Scalers

    spec = json.loads(Path(artifacts["spec"]).read_text())

    def network() -> DemandMLP:
        # a spec without "norm" and "quantiles" is a model saved before the quantile heads
        return DemandMLP(spec["inputs"], spec["hidden_sizes"], spec["dropout"],
                         spec["id_sizes"], norm=spec.get("norm", "batch"),
                         quantiles=spec.get("quantiles", ()))

    members = spec.get("members")
    model = network() if members is None else DemandEnsemble([network() for _ in range(members)])
    model.load_state_dict(torch.load(artifacts["weights"], weights_only=True))
    model.eval()
    return model, Scalers.from_dict(spec["scalers"]), list(spec["features"])
