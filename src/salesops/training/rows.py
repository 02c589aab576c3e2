"""Rows as the network reads them (scaled, float32), made a chunk of rows at a time, and the
scalers fitted the same way.

At 10M rows one copy of the input matrix is over 1 GB, and the whole-matrix calls made
several: `Scalers.fit` a float64 copy and a float64 deviation matrix, `encode_x` a clipped
copy beside the scaled one. Here each chunk goes through the same elementwise operations,
and the scalers' sums run row after row in the order numpy's column reductions add them,
so the results are bit-identical to `Scalers.fit(X, y)` and `scalers.encode_x(X)` on the
whole matrix (tests/training/test_rows.py compares them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch

from demand_forecaster.inputs import InputError
from demand_forecaster.network import STD_FLOOR, _log_target
from salesops.training.inputs import ModelInputs
from salesops.training.model import Scalers
from salesops.training.model_errors import data_errors

#: rows per chunk: a few MB of float64 per feature column block, whatever the set's size
CHUNK_ROWS = 1 << 16


@dataclass
class Rows:
    """The network's rows: numpy arrays, in memory or memory-mapped from a shared file."""

    x: np.ndarray  # float32 (rows, inputs): the scaled inputs
    ids: np.ndarray  # int64 (rows, 2): store and dept ids
    base: np.ndarray  # float32 (rows,): the scaled level (the skip input)
    y: np.ndarray  # float32 (rows,): the scaled target
    weight: np.ndarray  # float32 (rows,): the loss weight, normalized

    def __len__(self) -> int:
        return len(self.x)

    def take(self, rows: slice) -> Rows:
        """Those rows as arrays of their own (a strided slice of a mapped file, copied)."""
        return Rows(*(np.ascontiguousarray(getattr(self, f.name)[rows]) for f in fields(self)))

    @staticmethod
    def layout(rows: int, inputs: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Each array's (shape, dtype) for `rows` rows of `inputs` inputs."""
        f32, i64 = np.dtype(np.float32), np.dtype(np.int64)
        return {"x": ((rows, inputs), f32), "ids": ((rows, 2), i64), "base": ((rows,), f32),
                "y": ((rows,), f32), "weight": ((rows,), f32)}


def level_weight(level: np.ndarray) -> np.ndarray:
    """A row's loss weight: its series' recent sales level in dollars, plus one."""
    return np.expm1(np.asarray(level, dtype=np.float64)) + 1.0


def train_weight_mean(level: np.ndarray) -> torch.Tensor:
    """What the training rows' weights are divided by: their float32 mean over all rows, so
    that every rank weighs a row the same way."""
    return torch.from_numpy(level_weight(level).astype(np.float32)).mean()


def val_weight_mean(level: np.ndarray) -> float:
    """What the validation rows' weights are divided by: their mean over all ranks' rows."""
    return float(level_weight(level).mean())


def encode_chunks(inputs: ModelInputs, y: np.ndarray, scalers: Scalers,
                  weight_mean: torch.Tensor | float, emit: Callable[[slice, Rows], None],
                  chunk_rows: int = CHUNK_ROWS) -> None:
    """Encode `inputs` a chunk at a time; `emit(rows, encoded)` gets each chunk's rows."""
    for start in range(0, len(inputs), chunk_rows):
        rows = slice(start, min(start + chunk_rows, len(inputs)))
        part = inputs.take(rows)
        weight = torch.from_numpy(level_weight(part.level).astype(np.float32)) / weight_mean
        emit(rows, Rows(scalers.encode_x(part.x), np.ascontiguousarray(part.ids, np.int64),
                        scalers.encode_level(part.level), scalers.encode_y(y[rows]),
                        weight.numpy()))


def encode(inputs: ModelInputs, y: np.ndarray, scalers: Scalers,
           weight_mean: torch.Tensor | float) -> Rows:
    """All of `inputs` encoded into arrays sized once (in memory)."""
    layout = Rows.layout(len(inputs), np.shape(inputs.x)[1])
    out = Rows(**{name: np.empty(shape, dtype) for name, (shape, dtype) in layout.items()})

    def put(rows: slice, part: Rows) -> None:
        for f in fields(Rows):
            getattr(out, f.name)[rows] = getattr(part, f.name)

    encode_chunks(inputs, y, scalers, weight_mean, put)
    return out


def fit_scalers(x: np.ndarray, y: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> Scalers:
    """`Scalers.fit(x, y)`, bit for bit, holding a chunk of float64 rows rather than two
    copies of the whole matrix."""
    with data_errors():
        if np.ndim(x) != 2 or len(x) == 0:
            raise InputError(
                f"Scalers.fit: expected a non-empty 2-D feature matrix, got {np.shape(x)}")
        finite = _column_reduce(x, chunk_rows, lambda c: np.isfinite(c).all(axis=0), np.logical_and)
        bad = np.flatnonzero(~finite)
        if bad.size:
            raise InputError(f"Scalers.fit: non-finite values in feature column(s) {bad.tolist()}")
        log_y = _log_target(y)
        if not np.isfinite(log_y).all():
            raise InputError("Scalers.fit: non-finite target values")
        mean = np.true_divide(_sequential_sum(x, chunk_rows), len(x))
        variance = np.true_divide(_sequential_sum(x, chunk_rows, minus=mean), len(x))
        return Scalers(
            feature_mean=mean,
            feature_std=np.maximum(np.sqrt(variance), STD_FLOOR),
            target_mean=float(log_y.mean()),
            target_std=float(max(log_y.std(), STD_FLOOR)),
            target_max=float(log_y.max()),
            feature_min=_column_reduce(x, chunk_rows, lambda c: c.min(axis=0), np.minimum)
            .astype(np.float64),
            feature_max=_column_reduce(x, chunk_rows, lambda c: c.max(axis=0), np.maximum)
            .astype(np.float64),
        )


def _column_reduce(x: np.ndarray, chunk_rows: int, per_chunk, combine) -> np.ndarray:
    """An order-free column reduction (all, min, max), a chunk at a time."""
    result = None
    for start in range(0, len(x), chunk_rows):
        part = per_chunk(x[start:start + chunk_rows])
        result = part if result is None else combine(result, part)
    return result


def _sequential_sum(x: np.ndarray, chunk_rows: int, minus: np.ndarray | None = None
                    ) -> np.ndarray:
    """The float64 column sums of `x` (of `(x - minus) ** 2` when given), added row after row
    as `X.sum(axis=0)` does on a C-ordered float64 matrix: each chunk is reduced with the
    running sum as its first row, so the order of the additions is that of one pass."""
    width = np.shape(x)[1]
    buffer = np.empty((chunk_rows + 1, width), dtype=np.float64)
    total = np.zeros(width, dtype=np.float64)
    for number, start in enumerate(range(0, len(x), chunk_rows)):
        part = x[start:start + chunk_rows]
        block = buffer[1:len(part) + 1]
        block[:] = part
        if minus is not None:
            np.subtract(block, minus, out=block)
            np.multiply(block, block, out=block)
        # the first chunk alone: numpy's pass starts from the first row, not from 0 + it
        rows = block if number == 0 else buffer[:len(part) + 1]
        buffer[0] = total
        total = rows.sum(axis=0)
    return total
