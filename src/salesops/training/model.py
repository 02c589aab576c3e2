"""The demand model (an MLP over standardized features) and the scalers that travel with it.

The target is `log1p(sales)`, standardized: sales span four orders of magnitude across
departments, and in log space a 10 % miss costs the same for a small and a large department.
The scalers are part of the model artifact, so they serialize to plain JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from salesops.errors import DataError

#: Constant columns (e.g. a store type when only one type is present) have std 0; this floor
#: keeps them at 0 after encoding instead of producing NaN.
STD_FLOOR = 1e-6


class DemandMLP(nn.Module):
    """Linear -> BatchNorm1d -> ReLU -> Dropout per hidden layer, then one linear output."""

    def __init__(self, n_features: int, hidden_sizes: Sequence[int], dropout: float) -> None:
        super().__init__()
        if n_features < 1 or not hidden_sizes:
            raise ValueError("DemandMLP needs at least one feature and one hidden layer")
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden_sizes:
            # BatchNorm makes the bias of the preceding Linear redundant.
            layers += [
                nn.Linear(width, size, bias=False),
                nn.BatchNorm1d(size),
                nn.ReLU(),
                nn.Dropout(dropout),
            ]
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.n_features = n_features
        self.hidden_sizes = tuple(int(s) for s in hidden_sizes)
        self.dropout = float(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


@dataclass
class Scalers:
    """Standardization of the features and of the target `log1p(sales)`."""

    feature_mean: np.ndarray
    feature_std: np.ndarray
    target_mean: float
    target_std: float
    #: columns in sales units (lags, window means and stds): log1p before standardizing, so
    #: the network sees them on the target's scale; raw, a 100k-dollar department would
    #: squash every small one into the same standardized value.
    log_columns: tuple[int, ...] = ()

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, log_columns: tuple[int, ...] = ()) -> Scalers:
        X = _log_columns(np.asarray(X, dtype=np.float64), tuple(log_columns))
        if X.ndim != 2 or len(X) == 0:
            raise DataError(f"Scalers.fit: expected a non-empty 2-D feature matrix, got {X.shape}")
        bad = np.flatnonzero(~np.isfinite(X).all(axis=0))
        if bad.size:
            raise DataError(f"Scalers.fit: non-finite values in feature column(s) {bad.tolist()}")
        log_y = _log_target(y)
        if not np.isfinite(log_y).all():
            raise DataError("Scalers.fit: non-finite target values")
        return cls(
            feature_mean=X.mean(axis=0),
            feature_std=np.maximum(X.std(axis=0), STD_FLOOR),
            target_mean=float(log_y.mean()),
            target_std=float(max(log_y.std(), STD_FLOOR)),
            log_columns=tuple(int(c) for c in log_columns),
        )

    def encode_x(self, X: np.ndarray) -> np.ndarray:
        # float32 throughout: the model runs in float32 and a float64 copy of a 10M-row
        # matrix would double peak memory for nothing.
        X = _log_columns(np.asarray(X, dtype=np.float32), self.log_columns)
        mean = self.feature_mean.astype(np.float32)
        std = self.feature_std.astype(np.float32)
        return (X - mean) / std

    def encode_y(self, y: np.ndarray) -> np.ndarray:
        return ((_log_target(y) - self.target_mean) / self.target_std).astype(np.float32)

    def decode_y(self, z: np.ndarray) -> np.ndarray:
        log_y = np.asarray(z, dtype=np.float64) * self.target_std + self.target_mean
        return np.maximum(np.expm1(log_y), 0.0)

    def to_dict(self) -> dict:
        return {
            "feature_mean": [float(v) for v in self.feature_mean],
            "feature_std": [float(v) for v in self.feature_std],
            "target_mean": float(self.target_mean),
            "target_std": float(self.target_std),
            "log_columns": list(self.log_columns),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Scalers:
        return cls(
            feature_mean=np.asarray(data["feature_mean"], dtype=np.float64),
            feature_std=np.asarray(data["feature_std"], dtype=np.float64),
            target_mean=float(data["target_mean"]),
            target_std=float(data["target_std"]),
            log_columns=tuple(data.get("log_columns", ())),
        )


def _log_columns(X: np.ndarray, columns: tuple[int, ...]) -> np.ndarray:
    if not columns or X.ndim != 2:
        return X
    X = X.copy()
    X[:, columns] = np.log1p(np.maximum(X[:, columns], 0))
    return X


def _log_target(y: np.ndarray) -> np.ndarray:
    # Negative weekly sales exist in the Walmart data (returns exceeding sales); the model
    # forecasts demand, which is >= 0, and log1p of a value below -1 would be NaN.
    return np.log1p(np.maximum(np.asarray(y, dtype=np.float64).ravel(), 0.0))


def predict(
    model: DemandMLP, scalers: Scalers, X: np.ndarray, batch_size: int = 65536
) -> np.ndarray:
    """Sales forecasts in real units (>= 0) for the rows of `X`, one per row."""
    encoded = scalers.encode_x(X)
    device = next(model.parameters()).device
    was_training = model.training
    # eval mode: BatchNorm uses its running statistics and dropout is off, so a row's
    # forecast does not depend on which other rows share its batch.
    model.eval()
    outputs = []
    try:
        with torch.inference_mode():
            for start in range(0, len(encoded), batch_size):
                chunk = torch.from_numpy(encoded[start : start + batch_size]).to(device)
                outputs.append(model(chunk).float().cpu().numpy())
    finally:
        model.train(was_training)
    z = np.concatenate(outputs) if outputs else np.empty(0, dtype=np.float32)
    return scalers.decode_y(z)
