"""The training rows reach every rank as a mapping of one file per machine: what goes
through the process group is a few KB, whatever the set's size, and the scratch files are
gone once every rank has mapped them.

Entry functions live at module level so that spawned ranks can import them by name.
"""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from salesops.backends.local.launch import launch_local
from salesops.training import shared_rows
from salesops.training.distributed import barrier, init_from_env, shutdown
from salesops.training.inputs import ModelInputs
from salesops.training.loop import TrainConfig, id_sizes_of, train, train_encoded
from salesops.training.model import Scalers
from salesops.training.rows import encode, train_weight_mean, val_weight_mean

LAUNCH_TIMEOUT_S = 120
FIELDS = ("x", "ids", "base", "y", "weight")


class _Set:
    """What share_rows reads of a TrainingSet: its arrays (fit rows, then validation)."""

    def __init__(self, rows: int = 3000, fit: int = 2400) -> None:
        rng = np.random.default_rng(3)
        x = rng.normal(size=(rows, 6)).astype(np.float32)
        self.inputs = ModelInputs(x, rng.integers(1, 9, size=(rows, 2)),
                                  rng.uniform(2, 9, size=rows))
        self.y = np.expm1(6 + x[:, 0] + 0.1 * rng.normal(size=rows))
        self.fit = fit

    def arrays(self) -> dict:
        fit, val = slice(0, self.fit), slice(self.fit, None)
        return {"train": self.inputs.take(fit), "y_train": self.y[fit],
                "val": self.inputs.take(val), "y_val": self.y[val]}


def _expected(data: _Set):
    arrays = data.arrays()
    scalers = Scalers.fit(arrays["train"].x, arrays["y_train"])
    return (encode(arrays["train"], arrays["y_train"], scalers,
                   train_weight_mean(arrays["train"].level)),
            encode(arrays["val"], arrays["y_val"], scalers,
                   val_weight_mean(arrays["val"].level)), scalers)


def _share_entry(scratch: str, local_world_size: int | None = None):
    """One rank: the shared rows, checked against an in-memory encoding of the same set."""
    if local_world_size:  # machines of `local_world_size` ranks each, as torchrun numbers them
        rank = int(os.environ["RANK"])
        os.environ.update(LOCAL_WORLD_SIZE=str(local_world_size),
                          LOCAL_RANK=str(rank % local_world_size))
    info = init_from_env()
    try:
        data = _Set()
        shared = shared_rows.share_rows(info, data if info.is_main else None, Path(scratch))
        train_rows, val_rows, scalers = _expected(data)
        mapped = all(isinstance(getattr(part, name), np.memmap)
                     for part in (shared.train, shared.val) for name in FIELDS)
        equal = all(np.array_equal(getattr(got, name), getattr(want, name))
                    for got, want in ((shared.train, train_rows), (shared.val, val_rows))
                    for name in FIELDS)
        same_scalers = np.array_equal(shared.scalers.feature_std, scalers.feature_std)
        # every rank checks its own rows; a failure on any rank fails the launch
        assert mapped and equal and same_scalers, (info.rank, mapped, equal, same_scalers)
        assert shared.id_sizes == id_sizes_of(data.arrays()["train"])
        barrier(info)  # every machine's first rank has removed its files
        return sorted(os.listdir(scratch))
    finally:
        shutdown(info)


def test_one_process_maps_the_rows_and_sends_only_their_layout(tmp_path, monkeypatch):
    sent = []
    real = shared_rows.broadcast_from_main
    monkeypatch.setattr(shared_rows, "broadcast_from_main",
                        lambda info, obj: sent.append(obj) or real(info, obj))
    data = _Set(rows=200_000, fit=180_000)
    shared = shared_rows.share_rows(init_from_env(), data, tmp_path)
    train_rows, val_rows, _ = _expected(data)
    for got, want in ((shared.train, train_rows), (shared.val, val_rows)):
        for name in FIELDS:
            assert isinstance(getattr(got, name), np.memmap), name
            assert np.array_equal(getattr(got, name), getattr(want, name)), name
    # the set is ~10 MB; the broadcast, its layout and scalers
    assert len(pickle.dumps(sent[0])) < 5_000
    assert list(tmp_path.iterdir()) == []  # unlinked once mapped; the mapping keeps the data


def test_training_on_shared_rows_is_training_in_memory(tmp_path):
    """The worker's path (rank 0's rows, shared) and `train` on the arrays give one model."""
    data = _Set()
    config = TrainConfig(epochs=2, batch_size=128, hidden_sizes=(16,))
    arrays = data.arrays()
    scalers = Scalers.fit(arrays["train"].x, arrays["y_train"])
    in_memory = train(arrays["train"], arrays["y_train"], arrays["val"], arrays["y_val"],
                      scalers, config, init_from_env())
    shared = shared_rows.share_rows(init_from_env(), data, tmp_path)
    mapped = train_encoded(shared.train, shared.val.take(slice(0, None, 1)), shared.id_sizes,
                           config, init_from_env())
    assert mapped.history and [(h["train_loss"], h["val_loss"]) for h in mapped.history] == [
        (h["train_loss"], h["val_loss"]) for h in in_memory.history]


def test_two_local_ranks_map_rank_zeros_file(tmp_path):
    assert launch_local(2, _share_entry, (str(tmp_path),), timeout_s=LAUNCH_TIMEOUT_S) == []


@pytest.mark.slow
def test_two_machines_relay_the_rows_in_tensors(tmp_path):
    """4 ranks as 2 machines of 2: rank 2 receives rank 0's arrays and writes its machine's
    files, which rank 3 maps; every rank checks what it got (rank 0 reports)."""
    assert launch_local(4, _share_entry, (str(tmp_path), 2), timeout_s=LAUNCH_TIMEOUT_S) == []
