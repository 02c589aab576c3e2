"""The ensemble's members trained side by side on threads of one process (`training.loop`):
the same networks as one after the other, and a failing member stops the rest.

Before, the members trained one after the other on both threads: beside two busy loops on
two cores the default `train submit` took 133 s (80 s with the threads, and 27 s once no
lowest-priority thread held the GIL beside them: `backends.local.training`)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from salesops.training import loop
from salesops.training.distributed import DistInfo
from salesops.training.inputs import ModelInputs
from salesops.training.loop import MEMBER_STREAM, TrainConfig, stream_seed, train
from salesops.training.model import DemandMLP, Scalers

CPU = DistInfo(0, 1, 0, torch.device("cpu"), "none")
CONFIG = TrainConfig(epochs=4, batch_size=128, hidden_sizes=(32, 16), dropout=0.2,
                     members=2, learning_rate=3e-3, seed=5)


def _data(rows: int = 1500):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(rows, 5)).astype(np.float32)
    y = np.expm1(6.0 + X[:, 0] - 0.5 * X[:, 1] * X[:, 2] + 0.2 * rng.normal(size=rows))
    ids = np.stack([rng.integers(1, 4, rows), rng.integers(1, 6, rows)], axis=1)
    inputs = ModelInputs(x=X, ids=ids.astype(np.int64), level=np.full(rows, 6.0))
    fit, val = slice(0, 1200), slice(1200, None)
    return (inputs.take(fit), y[fit], inputs.take(val), y[val],
            Scalers.fit(inputs.x[fit], y[fit]))


def _train(threads: int, config: TrainConfig = CONFIG, on_epoch=None):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        result = train(*_data(), config, CPU, on_epoch=on_epoch)
        assert torch.get_num_threads() == threads  # the members' one thread each undone
        return result
    finally:
        torch.set_num_threads(before)


def test_members_side_by_side_are_the_members_one_after_the_other():
    where: dict[int, set[str]] = {}

    def note(record: dict) -> None:
        where.setdefault(record["member"], set()).add(threading.current_thread().name)

    side_by_side = _train(2, on_epoch=note)  # two threads: one member on each, 1 thread each
    one_by_one = _train(1)
    # each member on a thread of its own, not this one
    assert len(where) == 2 and all(len(names) == 1 for names in where.values())
    assert where[1] != where[2] and threading.current_thread().name not in where[1] | where[2]
    assert len(side_by_side.history) == len(one_by_one.history) == 2 * CONFIG.epochs
    assert side_by_side.history == [
        {**record, "seconds": mine["seconds"]}
        for record, mine in zip(one_by_one.history, side_by_side.history)]
    ours, theirs = side_by_side.model.state_dict(), one_by_one.model.state_dict()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=0, msg=name)


def test_threads_share_members_and_ranks_or_a_gpu_train_them_in_turn():
    assert loop.member_workers(3, CPU) == min(3, torch.get_num_threads())
    assert loop.member_workers(1, CPU) == 1
    assert loop.member_workers(4, DistInfo(0, 2, 0, torch.device("cpu"), "gloo")) == 1
    assert loop.member_workers(4, DistInfo(0, 1, 0, torch.device("cuda", 0), "none")) == 1


def test_a_failing_member_stops_the_others_and_its_error_is_raised(monkeypatch):
    real = loop._train_epoch
    doomed = stream_seed(CONFIG.seed, MEMBER_STREAM, 2)

    def epoch(module, net, rows, steps, number, info):
        if steps.seed == doomed and number == 2:
            raise RuntimeError("member two ran out of memory")
        return real(module, net, rows, steps, number, info)

    monkeypatch.setattr(loop, "_train_epoch", epoch)
    epochs: list[int] = []
    config = TrainConfig(**{**CONFIG.__dict__, "epochs": 200, "members": 3})
    with pytest.raises(RuntimeError, match="member two ran out of memory"):
        _train(2, config, on_epoch=lambda record: epochs.append(record["member"]))
    # member 1 stopped at its next step, member 3 never started
    assert epochs.count(1) < 20 and 3 not in epochs


def test_a_member_stops_within_a_step_when_the_run_gives_up(monkeypatch):
    """A failing member (or Ctrl-C) stops the others at their next step: an epoch of
    minutes (10M rows) must not run to its end first."""
    import time

    steps: dict[str, int] = {}
    real_masks, real_epoch = loop._draw_masks, loop._train_epoch
    first = stream_seed(CONFIG.seed, MEMBER_STREAM, 1)

    def count(*args):
        name = threading.current_thread().name
        steps[name] = steps.get(name, 0) + 1
        return real_masks(*args)

    def epoch(module, net, rows, steps_, number, info):
        if steps_.seed == first:  # member 1 fails once member 2 is well into its epoch
            deadline = time.monotonic() + 30
            while max(steps.values(), default=0) < 5 and time.monotonic() < deadline:
                time.sleep(0.001)
            raise RuntimeError("member one failed")
        return real_epoch(module, net, rows, steps_, number, info)

    monkeypatch.setattr(loop, "_draw_masks", count)
    monkeypatch.setattr(loop, "_train_epoch", epoch)
    config = TrainConfig(**{**CONFIG.__dict__, "batch_size": 8})  # 150 steps an epoch
    with pytest.raises(RuntimeError, match="member one failed"):
        _train(2, config)
    assert len(steps) == 1 and 5 <= max(steps.values()) < 50, steps


def test_dropout_drops_its_share_and_keeps_the_expectation():
    net = DemandMLP(4, [512, 256], dropout=0.1)
    loop._draw_masks(net, np.random.SFC64(3), 4096, CPU)
    for layer in net.dropouts():
        assert layer.mask.unique().tolist() == [0.0, pytest.approx(1 / 0.9, rel=1e-4)]
        assert abs((layer.mask == 0).float().mean().item() - 0.1) < 0.003
        layer.train()
        x = torch.ones(4096, layer.mask.shape[1])
        assert abs(layer(x).mean().item() - 1.0) < 0.01


def test_validation_first_does_not_break_the_training_after_it():
    """The loss's quantiles are made once. Made inside inference mode (a validation pass
    before any training step of the process), every later step failed to save them for
    backward. A fresh process: in this one a training step has already run."""
    import subprocess
    import sys

    code = ("import torch\n"
            "from salesops.training import loop\n"
            "target, weight = torch.ones(4), torch.ones(4)\n"
            "with torch.inference_mode():\n"
            "    loop.pinball(torch.zeros(4, 3), target, weight)\n"
            "trained = torch.zeros(4, 3, requires_grad=True)\n"
            "loop.pinball(trained, target, weight).backward()\n"
            "assert trained.grad is not None\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
