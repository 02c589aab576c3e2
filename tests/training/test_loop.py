"""The loop on real torch: one process in-process, and two gloo processes via launch_local.

Entry functions live at module level so that spawned ranks can import them by name.
"""

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist

from salesops.backends.local.launch import LaunchFailed, launch_local
from salesops.errors import DataError
from salesops.training.distributed import (
    all_agree_to_stop,
    broadcast_from_main,
    init_from_env,
    shutdown,
)
from salesops.training.inputs import ModelInputs
from salesops.training.loop import TrainConfig, train
from salesops.training.metrics import regression_metrics
from salesops.training.model import Scalers, predict

#: a bound for every multi-process test, so a hang fails instead of blocking the suite
LAUNCH_TIMEOUT_S = 120


def _problem(rows: int, seed: int = 0, features: int = 8):
    """Sales whose log is a smooth, partly non-linear function of X, plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)).astype(np.float32)
    signal = X[:, 0] + 0.5 * X[:, 1] - 0.5 * X[:, 2] * X[:, 3] + np.sin(2 * X[:, 4])
    log_sales = 6.0 + signal + 0.1 * rng.normal(size=rows)
    return X, np.expm1(log_sales), signal


def _inputs(X: np.ndarray) -> ModelInputs:
    """Inputs with a constant level (no skip information) and two kinds of entity."""
    ids = np.stack([np.ones(len(X), np.int64), np.arange(len(X)) % 2 + 1], axis=1)
    return ModelInputs(x=X, ids=ids, level=np.full(len(X), 6.0))


def _split(rows: int, val_rows: int, seed: int = 0):
    X, y, signal = _problem(rows + val_rows, seed)
    return _inputs(X[:rows]), y[:rows], _inputs(X[rows:]), y[rows:], signal[rows:]


def _train_entry(out_dir: str, rows: int, config: TrainConfig, adversarial_val: bool):
    """One rank: train, record this rank's epochs_run, return the history from rank 0."""
    info = init_from_env()
    try:
        X_tr, y_tr, X_val, y_val, val_signal = _split(rows, rows // 4)
        if adversarial_val:
            # Validation targets that move against the learnable signal: the better the fit
            # to the training data, the worse the validation loss, from the first epochs on.
            y_val = np.expm1(6.0 - val_signal)
        scalers = Scalers.fit(X_tr.x, y_tr)
        seen: list[int] = []
        result = train(X_tr, y_tr, X_val, y_val, scalers, config, info,
                       on_epoch=lambda record: seen.append(record["epoch"]))
        Path(out_dir, f"rank{info.rank}.json").write_text(json.dumps({
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early,
            "on_epoch_calls": len(seen),
        }))
        return {"history": result.history, "best_epoch": result.best_epochs[0],
                "world_size": info.world_size, "backend": info.backend}
    finally:
        shutdown(info)


def _failing_entry():
    info = init_from_env()
    if info.rank == 1:
        raise ValueError("rank one gives up\nsecond line is not shown")
    dist.barrier()  # rank 0 would wait here for rank 1 forever without the launcher's help


def _sleeping_entry():
    time.sleep(600)


def _collectives_entry():
    info = init_from_env()
    try:
        value = broadcast_from_main(info, {"from": info.rank})
        stop = all_agree_to_stop(info, stop=info.rank == 0)  # the ranks disagree; rank 0 wins
        return value, stop, info.world_size, os.environ["MASTER_ADDR"]
    finally:
        shutdown(info)


def _single_entry():
    info = init_from_env()
    return broadcast_from_main(info, info.rank), all_agree_to_stop(info, True), info.world_size


def test_single_process_learns_and_beats_the_mean():
    X_tr, y_tr, X_val, y_val, _ = _split(5000, 1000)
    scalers = Scalers.fit(X_tr.x, y_tr)
    info = init_from_env()
    assert (info.world_size, info.backend) == (1, "none")
    seen = []
    result = train(X_tr, y_tr, X_val, y_val, scalers,
                   TrainConfig(epochs=8, batch_size=256, members=2), info,
                   on_epoch=seen.append)
    history = result.history
    # the history network by network, each its epochs (they may have trained side by
    # side: the progress saw their epochs as they came)
    assert [(r["member"], r["epoch"]) for r in history] == [
        (m, e) for m in (1, 2) for e in range(1, 9)]
    assert sorted(seen, key=lambda r: (r["member"], r["epoch"])) == history
    assert set(history[0]) == {"member", "epoch", "train_loss", "val_loss", "seconds"}
    for member in (history[:8], history[8:]):
        assert member[-1]["val_loss"] < 0.5 * member[0]["val_loss"]
        assert member[-1]["train_loss"] < member[0]["train_loss"]
    assert result.best_epochs == [min(member, key=lambda r: r["val_loss"])["epoch"]
                                  for member in (history[:8], history[8:])]
    assert len(result.model.members) == 2
    assert not result.model.training
    assert next(result.model.parameters()).device.type == "cpu"

    model_wape = regression_metrics(y_val, predict(result.model, scalers, X_val)[:, 1])["wape"]
    mean_wape = regression_metrics(y_val, np.full_like(y_val, y_tr.mean()))["wape"]
    assert model_wape < 0.5 * mean_wape


def test_launch_local_one_node_runs_in_process_and_restores_env(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "7")
    monkeypatch.delenv("RANK", raising=False)
    assert launch_local(1, _single_entry) == (0, True, 1)
    assert os.environ["WORLD_SIZE"] == "7" and "RANK" not in os.environ


def test_two_ranks_share_rank_zero_decisions():
    value, stop, world_size, addr = launch_local(2, _collectives_entry, timeout_s=LAUNCH_TIMEOUT_S)
    assert (value, stop, world_size, addr) == ({"from": 0}, True, 2, "127.0.0.1")


@pytest.mark.slow
def test_two_process_ddp_trains(tmp_path):
    config = TrainConfig(epochs=6, batch_size=256, patience=10, members=1)
    out = launch_local(2, _train_entry, (str(tmp_path), 4000, config, False),
                       timeout_s=LAUNCH_TIMEOUT_S)
    assert (out["world_size"], out["backend"]) == (2, "gloo")
    history = out["history"]
    assert [r["epoch"] for r in history] == list(range(1, 7))
    # the loss sums the three quantiles' pinball losses: the interval's part has a floor
    assert history[-1]["val_loss"] < 0.75 * history[0]["val_loss"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["epochs_run"] for r in ranks] == [6, 6]
    # on_epoch runs on rank 0 only
    assert [r["on_epoch_calls"] for r in ranks] == [6, 0]


@pytest.mark.slow
def test_two_process_early_stopping_stops_all_ranks_together(tmp_path):
    config = TrainConfig(epochs=12, batch_size=256, patience=1, members=1)
    out = launch_local(2, _train_entry, (str(tmp_path), 3000, config, True),
                       timeout_s=LAUNCH_TIMEOUT_S)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["epochs_run"] == ranks[1]["epochs_run"] < config.epochs
    assert ranks[0]["stopped_early"] and ranks[1]["stopped_early"]
    assert len(out["history"]) == ranks[0]["epochs_run"]
    assert out["best_epoch"] < ranks[0]["epochs_run"]


def test_a_failing_rank_fails_the_launch_without_hanging():
    """With its own error, as one process would raise it (not its peer's broken
    connection), and where it came from in a note."""
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"^rank one gives up\nsecond line") as err:
        launch_local(2, _failing_entry, timeout_s=LAUNCH_TIMEOUT_S)
    assert err.value.__notes__[0].startswith("raised on training rank 1:\nTraceback")
    assert time.monotonic() - started < 60


@pytest.mark.slow
def test_launch_local_timeout():
    with pytest.raises(LaunchFailed, match="timed out"):
        launch_local(2, _sleeping_entry, timeout_s=3)


@pytest.mark.parametrize("rows, epochs", [(4, 1), (20, 1), (1024, 5), (600, 3)])
def test_tiny_runs_train_whatever_the_step_count(rows, epochs):
    """Few optimizer steps in all (down to one) must not break the LR schedule."""
    X_tr, y_tr, X_val, y_val, _ = _split(rows, 10)
    result = train(X_tr, y_tr, X_val, y_val, Scalers.fit(X_tr.x, y_tr),
                   TrainConfig(epochs=epochs, batch_size=512), init_from_env())
    assert result.epochs_run == epochs


def _bad_data_entry():
    info = init_from_env()
    try:
        if info.rank == 0:  # as rank 0 does when the training set fails its checks
            raise DataError("training set: sales_mean_4 has 3 non-finite values of 40 rows",
                            hint="rebuild it")
        broadcast_from_main(info, None)  # rank 1 waits for data that never comes
    finally:
        shutdown(info)


def test_a_rank_s_own_error_reaches_the_caller_with_its_type_and_exit_code():
    with pytest.raises(DataError) as err:
        launch_local(2, _bad_data_entry, timeout_s=LAUNCH_TIMEOUT_S)
    assert err.value.exit_code == 3 and err.value.hint == "rebuild it"
    assert err.value.message == "training set: sales_mean_4 has 3 non-finite values of 40 rows"


def test_returns_in_the_targets_train_without_nan():
    # weeks of returns (negative sales) are kept in the data; the model trains on them as 0
    X_tr, y_tr, X_val, y_val, _ = _split(400, 100)
    y_tr[::7] = -250.0
    y_val[::5] = -80.0
    scalers = Scalers.fit(X_tr.x, y_tr)
    config = TrainConfig(epochs=2, batch_size=64, hidden_sizes=(16,), patience=5)
    result = train(X_tr, y_tr, X_val, y_val, scalers, config, init_from_env())
    losses = [entry[key] for entry in result.history for key in ("train_loss", "val_loss")]
    assert np.isfinite(losses).all()
    forecasts = predict(result.model, scalers, X_val)
    assert np.isfinite(forecasts).all() and (forecasts >= 0).all()


def test_the_global_batch_leaves_the_schedule_steps_and_splits_evenly():
    from salesops.training.loop import global_batch

    assert global_batch(2048, 44_100) == 2048  # the default data: the configured batch
    # 3,500 rows: 16 steps an epoch at least, in a multiple of 64 rows
    assert global_batch(2048, 3_500) == 192 and 3_500 / 192 >= 16
    assert global_batch(2048, 100) == 7  # tiny: below 64 rows, as it comes
    assert global_batch(100, 1_000_000) == 64


def test_streams_differ_by_purpose_member_and_seed():
    from salesops.training.loop import DROPOUT_STREAM, MEMBER_STREAM, stream_seed

    seeds = {stream_seed(seed, purpose, k) for seed in (0, 1) for purpose in
             (MEMBER_STREAM, DROPOUT_STREAM) for k in (1, 2)}
    assert len(seeds) == 8 and all(0 <= s < 2**63 for s in seeds)
    assert stream_seed(0, MEMBER_STREAM, 1) == stream_seed(0, MEMBER_STREAM, 1)
