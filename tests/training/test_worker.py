"""What a training rank keeps after its rows are shared, and how fast it leaves."""

import gc

import numpy as np
import pandas as pd
import pytest

from salesops.backends.local.launch import launch_local
from salesops.training import worker
from salesops.training.dataset import TrainingSet
from salesops.training.inputs import ModelInputs

LAUNCH_TIMEOUT_S = 120


def _exit_entry():
    worker._before_exit()
    return gc.get_freeze_count()


@pytest.mark.slow
def test_a_spawned_rank_freezes_its_objects_before_it_exits():
    """The interpreter's last collections would walk them: seconds per rank."""
    assert launch_local(2, _exit_entry, timeout_s=LAUNCH_TIMEOUT_S) > 0


def test_rank_zero_keeps_no_raw_training_rows_once_they_are_shared():
    rows = 1000
    inputs = ModelInputs(np.ones((rows, 5), np.float32), np.ones((rows, 2), np.int64),
                         np.ones(rows))
    keys = pd.DataFrame({"store": np.ones(rows, int), "dept": np.ones(rows, int)})
    holdout = pd.DataFrame({"weekly_sales": [1.0, 2.0]})
    full = TrainingSet(inputs, np.ones(rows), keys, 800, holdout,
                       pd.Timestamp("2024-01-05", tz="UTC"), "f" * 16, ["sales_mean_4"])
    kept = worker._without_train_rows(full)
    assert len(kept.train_inputs) == 0 and kept.train_inputs.x.shape == (0, 5)
    # nothing left that holds the rows' memory
    assert kept.train_inputs.x.base is None and kept.train_keys.empty
    assert kept.train_rows == rows and kept.holdout is holdout
    assert (kept.fingerprint, kept.features) == (full.fingerprint, full.features)
