"""The demand model (an MLP over standardized features) and the scalers that travel with it.

The target is `log1p(sales)`, standardized: sales span four orders of magnitude across
departments, and in log space a 10 % miss costs the same for a small and a large department.
The network adds its output to the standardized recent sales level (see `inputs`).
The scalers are part of the model artifact, so they serialize to plain JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .inputs import InputError, ModelInputs

#: Constant columns (e.g. a store type when only one type is present) have std 0; this floor
#: keeps the target's scale finite and marks a feature column as constant (see `encode_x`).
STD_FLOOR = 1e-6
#: forecasts are capped at twice (log 2 above) the largest training target; see decode_y
MAX_FORECAST_LOG_MARGIN = float(np.log(2.0))


#: embedding widths of the entity ids: departments differ more than stores in how they react
STORE_EMBEDDING, DEPT_EMBEDDING = 4, 8
#: the quantiles a model forecasts: the interval P10-P90 and the median P50, its point forecast
QUANTILES = (0.1, 0.5, 0.9)
#: hidden-layer normalization: "none" for models trained since the quantile heads (a row's
#: output then depends on that row alone, in training too, so one process or N compute the
#: same steps); "batch" (BatchNorm1d) for the models saved before them, which still load
NORMS = ("none", "batch")


class DemandMLP(nn.Module):
    """Linear -> ReLU -> Dropout per hidden layer, then the quantile heads.

    The inputs are the standardized derived features (`training.inputs`) and embeddings of
    the store and dept ids; each quantile head's output is added to the standardized recent
    sales level (a skip connection), so the layers learn the correction to it. The heads
    are free in training (a median tied to the bounds, as the median minus and plus a
    softplus, was pulled by their losses: holdout WAPE 10.9 against 10.6); in eval mode the
    three outputs are sorted (quantile rearrangement), so P10 <= P50 <= P90 always. Ids
    outside the range seen in training share embedding row 0 ("unknown"), which real ids
    (>= 1) never use.

    `forward` returns (rows, len(quantiles)) on the standardized log scale. A model saved
    before the heads has one output (its median) and BatchNorm1d after each Linear.
    `interval_scale` widens (or narrows) each side of the interval by the factor that made
    it cover its share of the validation weeks (`calibrate`); 1 until then.
    """

    def __init__(self, n_features: int, hidden_sizes: Sequence[int], dropout: float,
                 id_sizes: Sequence[int] = (1, 1), norm: str = "none",
                 quantiles: Sequence[float] = QUANTILES) -> None:
        super().__init__()
        if n_features < 1 or not hidden_sizes:
            raise ValueError("DemandMLP needs at least one feature and one hidden layer")
        if norm not in NORMS:
            raise ValueError(f"DemandMLP: norm must be one of {NORMS}, not {norm!r}")
        self.quantiles = tuple(float(q) for q in quantiles)
        if self.quantiles not in (QUANTILES, ()):
            raise ValueError(f"DemandMLP forecasts the quantiles {QUANTILES} or none")
        self.id_sizes = tuple(max(1, int(n)) for n in id_sizes)
        self.store_embedding = nn.Embedding(self.id_sizes[0], STORE_EMBEDDING)
        self.dept_embedding = nn.Embedding(self.id_sizes[1], DEPT_EMBEDDING)
        layers: list[nn.Module] = []
        width = n_features + STORE_EMBEDDING + DEPT_EMBEDDING
        for size in hidden_sizes:
            if norm == "batch":  # BatchNorm makes the bias of the preceding Linear redundant
                layers += [nn.Linear(width, size, bias=False), nn.BatchNorm1d(size)]
            else:
                layers.append(nn.Linear(width, size))
            layers += [nn.ReLU(), BatchDropout(dropout)]
            width = size
        layers.append(nn.Linear(width, max(1, len(self.quantiles))))
        self.net = nn.Sequential(*layers)
        if self.quantiles:
            self.register_buffer("interval_scale", torch.ones(2))
        self.n_features = n_features
        self.hidden_sizes = tuple(int(s) for s in hidden_sizes)
        self.dropout = float(dropout)
        self.norm = norm

    def forward(self, x: Tensor, ids: Tensor, base: Tensor) -> Tensor:
        store = self._known(ids[:, 0], 0)
        dept = self._known(ids[:, 1], 1)
        inputs = torch.cat([x, self.store_embedding(store), self.dept_embedding(dept)], dim=1)
        out = self.net(inputs) + base[:, None]
        if self.training or not self.quantiles:
            return out
        return scaled_interval(out.sort(dim=1).values, self.interval_scale)

    def dropouts(self) -> list[BatchDropout]:
        return [layer for layer in self.net if isinstance(layer, BatchDropout)]

    def _known(self, ids: Tensor, column: int) -> Tensor:
        return torch.where((ids >= 1) & (ids < self.id_sizes[column]), ids, 0)


class DemandEnsemble(nn.Module):
    """The model since the quantile heads: `DemandMLP` members trained apart (each with its
    own initial weights and order of the rows), whose outputs it averages on the
    standardized log scale, quantile by quantile. The average has a lower and steadier
    error than its members (on the default and the retail data the holdout WAPE of two
    members' average was 0.5-1 % below the better one's). `interval_scale` calibrates the average's
    interval, as a lone DemandMLP's does its own (`calibrate`); the members' stay 1.
    """

    def __init__(self, members: Sequence[DemandMLP]) -> None:
        super().__init__()
        if not members:
            raise ValueError("DemandEnsemble needs at least one member")
        self.members = nn.ModuleList(members)
        first = members[0]
        self.quantiles = first.quantiles
        self.n_features, self.hidden_sizes = first.n_features, first.hidden_sizes
        self.dropout, self.id_sizes, self.norm = first.dropout, first.id_sizes, first.norm
        self.register_buffer("interval_scale", torch.ones(2))

    def forward(self, x: Tensor, ids: Tensor, base: Tensor) -> Tensor:
        out = torch.stack([member(x, ids, base) for member in self.members]).mean(dim=0)
        if self.training or not self.quantiles:
            return out
        return scaled_interval(out, self.interval_scale)


def scaled_interval(out: Tensor, scale: Tensor) -> Tensor:
    """(low, median, high) columns with each side's width times its factor in `scale`."""
    low, median, high = out.unbind(dim=1)
    return torch.stack([median - (median - low) * scale[0], median,
                        median + (high - median) * scale[1]], dim=1)


class BatchDropout(nn.Dropout):
    """Dropout that can take its mask from the caller: the training loop draws the mask of
    the whole global batch from one seeded stream, and each process applies its rows of it,
    so a row is dropped alike whether one process trains or N (`training.loop`). The mask
    is drawn from 16 random bits a unit, so the rate applied is `threshold / 65536`, p to
    within 1/65536; it holds what each unit is multiplied by: 0 if dropped, else `scale`,
    which keeps the expectation. Without a mask it is `nn.Dropout`."""

    def __init__(self, p: float) -> None:
        super().__init__(p)
        self.mask: Tensor | None = None

    @property
    def threshold(self) -> int:
        """A unit whose 16 random bits are below this is dropped (one value in 65,536 is
        kept whatever p < 1 rounds to)."""
        return min(65535, round(self.p * 65536))

    @property
    def scale(self) -> float:
        """What a kept unit is multiplied by."""
        return 65536 / (65536 - self.threshold)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0 or self.mask is None:
            return super().forward(x)
        return x * self.mask


@dataclass
class Scalers:
    """Standardization of the features and of the target `log1p(sales)`."""

    feature_mean: np.ndarray
    feature_std: np.ndarray
    target_mean: float
    target_std: float
    #: log1p of the largest training target; None for models saved before it was kept
    target_max: float | None = None
    #: each feature's range in training; None for models saved before it was kept
    feature_min: np.ndarray | None = None
    feature_max: np.ndarray | None = None

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray) -> Scalers:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise InputError(
                f"Scalers.fit: expected a non-empty 2-D feature matrix, got {X.shape}")
        bad = np.flatnonzero(~np.isfinite(X).all(axis=0))
        if bad.size:
            raise InputError(f"Scalers.fit: non-finite values in feature column(s) {bad.tolist()}")
        log_y = _log_target(y)
        if not np.isfinite(log_y).all():
            raise InputError("Scalers.fit: non-finite target values")
        return cls(
            feature_mean=X.mean(axis=0),
            feature_std=np.maximum(X.std(axis=0), STD_FLOOR),
            target_mean=float(log_y.mean()),
            target_std=float(max(log_y.std(), STD_FLOOR)),
            target_max=float(log_y.max()),
            feature_min=X.min(axis=0),
            feature_max=X.max(axis=0),
        )

    def encode_x(self, X: np.ndarray) -> np.ndarray:
        # float32 throughout: the model runs in float32 and a float64 copy of a 10M-row
        # matrix would double peak memory for nothing.
        X = np.asarray(X, dtype=np.float32)
        if self.feature_min is not None:
            # Outside the range it was trained on, an MLP extrapolates linearly, and a few
            # weeks of calendar or markdown values never seen (a short history) sent every
            # forecast to the cap: a value beyond the range reads as the range's edge.
            X = np.clip(X, self.feature_min.astype(np.float32),
                        self.feature_max.astype(np.float32))
        mean = self.feature_mean.astype(np.float32)
        std = self.feature_std.astype(np.float32)
        # A column constant in training (a holiday offset over a few fitted weeks) taught
        # the network nothing; a later, different value divided by the floor would feed it
        # millions and the forecast would overflow. It reads 0, as in training.
        encoded = X - mean
        encoded /= std  # in place: one matrix-sized copy, not two
        encoded[..., self.feature_std <= STD_FLOOR] = 0.0
        return encoded

    def encode_y(self, y: np.ndarray) -> np.ndarray:
        return ((_log_target(y) - self.target_mean) / self.target_std).astype(np.float32)

    def encode_level(self, level: np.ndarray) -> np.ndarray:
        """A log1p sales level on the target's standardized scale (the skip input)."""
        return ((np.asarray(level, dtype=np.float64) - self.target_mean)
                / self.target_std).astype(np.float32)

    def decode_y(self, z: np.ndarray) -> np.ndarray:
        log_y = np.asarray(z, dtype=np.float64) * self.target_std + self.target_mean
        if self.target_max is not None:
            # A forecast above twice the largest week of any series in training is the
            # network extrapolating from inputs it never saw, not a forecast: capped there.
            log_y = np.minimum(log_y, self.target_max + MAX_FORECAST_LOG_MARGIN)
        return np.maximum(np.expm1(log_y), 0.0)

    def to_dict(self) -> dict:
        return {
            "feature_mean": [float(v) for v in self.feature_mean],
            "feature_std": [float(v) for v in self.feature_std],
            "target_mean": float(self.target_mean),
            "target_std": float(self.target_std),
            "target_max": None if self.target_max is None else float(self.target_max),
            **{name: None if values is None else [float(v) for v in values]
               for name, values in (("feature_min", self.feature_min),
                                    ("feature_max", self.feature_max))},
        }

    @classmethod
    def from_dict(cls, data: dict) -> Scalers:
        return cls(
            feature_mean=np.asarray(data["feature_mean"], dtype=np.float64),
            feature_std=np.asarray(data["feature_std"], dtype=np.float64),
            target_mean=float(data["target_mean"]),
            target_std=float(data["target_std"]),
            target_max=data.get("target_max"),
            **{name: None if data.get(name) is None else np.asarray(data[name], np.float64)
               for name in ("feature_min", "feature_max")},
        )


def _log_target(y: np.ndarray) -> np.ndarray:
    # Negative weekly sales exist in the Walmart data (returns exceeding sales); the model
    # forecasts demand, which is >= 0, and log1p of a value below -1 would be NaN.
    return np.log1p(np.maximum(np.asarray(y, dtype=np.float64).ravel(), 0.0))


def predict(
    model: DemandMLP | DemandEnsemble, scalers: Scalers, inputs: ModelInputs, batch_size: int = 65536
) -> np.ndarray:
    """Forecasts in real units (>= 0): (rows, len(model.quantiles)), one column per quantile
    (one column, the median, for a model without quantile heads)."""
    encoded = scalers.encode_x(inputs.x)
    base = scalers.encode_level(inputs.level)
    device = next(model.parameters()).device
    was_training = model.training
    # eval mode: dropout is off (and a model with BatchNorm uses its running statistics),
    # so a row's forecast does not depend on which other rows share its batch.
    model.eval()
    outputs = []
    try:
        with torch.inference_mode():
            for start in range(0, len(encoded), batch_size):
                rows = slice(start, start + batch_size)
                outputs.append(model(
                    torch.from_numpy(encoded[rows]).to(device),
                    torch.from_numpy(inputs.ids[rows]).to(device),
                    torch.from_numpy(base[rows]).to(device),
                ).float().cpu().numpy())
    finally:
        model.train(was_training)
    width = max(1, len(model.quantiles))
    z = np.concatenate(outputs) if outputs else np.empty((0, width), dtype=np.float32)
    return scalers.decode_y(z)


def output_names(model: DemandMLP | DemandEnsemble) -> list[str]:
    """The pyfunc's output columns: the point forecast (the median), then each quantile."""
    return ["forecast", *(quantile_name(q) for q in model.quantiles)]


def quantile_name(q: float) -> str:
    return f"p{round(100 * q):02d}"


def median_column(model: DemandMLP | DemandEnsemble) -> int:
    return model.quantiles.index(0.5) if model.quantiles else 0
