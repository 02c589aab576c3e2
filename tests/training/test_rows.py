"""Chunked scaling and the tensor shuffle give, bit for bit, what the whole-matrix calls and
DistributedSampler gave: the same model for the same seed, with less memory."""

import numpy as np
import pytest
import torch
from torch.utils.data.distributed import DistributedSampler

from salesops.errors import DataError
from salesops.training.inputs import ModelInputs
from salesops.training.model import Scalers
from salesops.training.rank_order import RankOrder
from salesops.training.rows import encode, fit_scalers, train_weight_mean, val_weight_mean


def _inputs(rows: int, seed: int = 0) -> tuple[ModelInputs, np.ndarray]:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.01, 1000, size=9)
    x = (rng.normal(size=(rows, 9)) * scale + rng.uniform(-50, 50, 9)).astype(np.float32)
    x[:, 4] = 2.5  # a constant column: encoded as 0
    ids = rng.integers(1, 40, size=(rows, 2))
    level = rng.uniform(0, 12, size=rows)
    y = np.expm1(rng.normal(6, 2, size=rows))
    y[::11] = -30.0  # returns
    return ModelInputs(x, ids, level), y


def _whole(inputs: ModelInputs, y: np.ndarray, scalers: Scalers, mean) -> list[np.ndarray]:
    """What the loop made before, on the whole arrays at once."""
    weight = torch.from_numpy((np.expm1(inputs.level) + 1.0).astype(np.float32))
    return [scalers.encode_x(inputs.x), np.ascontiguousarray(inputs.ids),
            scalers.encode_level(inputs.level), scalers.encode_y(y),
            (weight / (weight.mean() if mean is None else mean)).numpy()]


@pytest.mark.parametrize("chunk", [1, 7, 1000, 1 << 16])
def test_fit_in_chunks_is_scalers_fit_bit_for_bit(chunk):
    inputs, y = _inputs(20_011)
    whole, chunked = Scalers.fit(inputs.x, y), fit_scalers(inputs.x, y, chunk_rows=chunk)
    assert type(chunked) is Scalers
    for name, value in vars(whole).items():
        assert np.array_equal(getattr(chunked, name), value), name


def test_fit_in_chunks_refuses_what_scalers_fit_refuses():
    inputs, y = _inputs(100)
    inputs.x[50, 3] = np.nan
    with pytest.raises(DataError, match=r"non-finite values in feature column\(s\) \[3\]"):
        fit_scalers(inputs.x, y, chunk_rows=16)
    with pytest.raises(DataError, match="non-empty 2-D"):
        fit_scalers(np.empty((0, 3), np.float32), np.empty(0))


@pytest.mark.parametrize("chunk", [3, 1 << 16])
def test_encoding_in_chunks_equals_the_whole_matrix_encoding(chunk, monkeypatch):
    monkeypatch.setattr("salesops.training.rows.CHUNK_ROWS", chunk)
    inputs, y = _inputs(5_003)
    scalers = Scalers.fit(inputs.x, y)
    train = encode(inputs, y, scalers, train_weight_mean(inputs.level))
    for got, want in zip([train.x, train.ids, train.base, train.y, train.weight],
                         _whole(inputs, y, scalers, None), strict=True):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    # validation: one rank's slice, weights normalized over every rank's rows
    mine = slice(1, None, 2)
    val = encode(inputs.take(mine), y[mine], scalers, val_weight_mean(inputs.level))
    want = _whole(inputs.take(mine), y[mine], scalers, float(
        (np.expm1(inputs.level) + 1.0).mean()))
    assert all(np.array_equal(getattr(val, name), w) for name, w
               in zip(["x", "ids", "base", "y", "weight"], want, strict=True))


@pytest.mark.parametrize("rows, world", [(10, 1), (11, 2), (1000, 3), (1, 3), (2, 5)])
def test_rank_order_is_the_distributed_samplers(rows, world):
    dataset = torch.zeros(rows)
    for rank in range(world):
        order = RankOrder(rows, world, rank, seed=7)
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                     seed=7)
        assert order.rank_rows == len(sampler)
        for epoch in (1, 2, 5):
            sampler.set_epoch(epoch)
            got = order.epoch(epoch)
            assert got.dtype == torch.int64 and got.tolist() == list(sampler)
