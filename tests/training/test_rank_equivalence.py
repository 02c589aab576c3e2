"""One process or two compute the same training (`training.loop`'s docstring says how).

The same rows, config and seed, once in this process and once as two gloo ranks: the
histories and the final weights agree to float rounding (the order of DDP's sums), with
dropout on. Before the masks were drawn per global batch and BatchNorm went, the two runs
differed by whole percents of the loss.
"""

import numpy as np
import pytest
import torch

from salesops.backends.local.launch import launch_local
from salesops.training.distributed import init_from_env, shutdown
from salesops.training.inputs import ModelInputs
from salesops.training.loop import TrainConfig, train
from salesops.training.model import Scalers

LAUNCH_TIMEOUT_S = 120
CONFIG = TrainConfig(epochs=3, batch_size=128, hidden_sizes=(32, 16), dropout=0.2, members=2,
                     learning_rate=3e-3, patience=10, seed=3)


def _data(rows: int = 2001):
    """1,600 rows to fit in steps of 128: the last step of an epoch is short (64 rows), as
    it is for both process counts; exactly equal needs the rows to divide by the ranks
    (`training.loop`'s docstring), which the next test does not ask."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 6)).astype(np.float32)
    log_sales = 6.0 + X[:, 0] - 0.5 * X[:, 1] * X[:, 2] + 0.2 * rng.normal(size=rows)
    ids = np.stack([rng.integers(1, 4, rows), rng.integers(1, 6, rows)], axis=1)
    inputs = ModelInputs(x=X, ids=ids.astype(np.int64), level=np.full(rows, 6.0))
    return inputs, np.expm1(log_sales)


def _entry():
    info = init_from_env()
    try:
        inputs, y = _data()
        fit, val = slice(0, 1600), slice(1600, None)
        scalers = Scalers.fit(inputs.x[fit], y[fit])
        result = train(inputs.take(fit), y[fit], inputs.take(val), y[val], scalers, CONFIG,
                       info)
        weights = {k: v.numpy().copy() for k, v in result.model.state_dict().items()}
        return result.history, weights
    finally:
        shutdown(info)


@pytest.mark.slow
def test_two_ranks_train_the_model_one_process_trains():
    one_history, one = launch_local(1, _entry)
    two_history, two = launch_local(2, _entry, timeout_s=LAUNCH_TIMEOUT_S)
    assert len(one_history) == len(two_history) == 2 * CONFIG.epochs  # two networks
    for a, b in zip(one_history, two_history):
        np.testing.assert_allclose([a["train_loss"], a["val_loss"]],
                                   [b["train_loss"], b["val_loss"]], rtol=1e-4)
    assert one.keys() == two.keys()
    for name in one:
        np.testing.assert_allclose(one[name], two[name], rtol=1e-3, atol=1e-5, err_msg=name)
    # the calibrated interval too: it is computed from every rank's validation rows
    assert not np.allclose(one["interval_scale"], 1.0)


def test_dropout_masks_depend_on_the_global_batch_not_the_rank():
    """Rank r's rows of a step are the global batch's rows r, r + N, ...: their masks are
    the rows of the one mask a single process draws."""
    from salesops.training.distributed import DistInfo
    from salesops.training.loop import _draw_masks
    from salesops.training.model import DemandMLP

    def masks(rank: int, world: int, rows: int) -> list[torch.Tensor]:
        net = DemandMLP(4, [8, 4], dropout=0.5)
        info = DistInfo(rank, world, rank, torch.device("cpu"), "gloo" if world > 1 else "none")
        _draw_masks(net, np.random.SFC64(7), rows, info)
        return [layer.mask for layer in net.dropouts()]

    whole = masks(0, 1, 12)
    for rank in (0, 1, 2):
        for mine, all_rows in zip(masks(rank, 3, 4), whole):
            torch.testing.assert_close(mine, all_rows[rank::3])
