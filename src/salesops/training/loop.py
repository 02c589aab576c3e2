"""The training loop: one function that runs alone or as one rank of DistributedDataParallel.

Loss: Huber (delta 1) on the standardized log1p target. Intermittent departments have
zero-sales weeks that sit several standard deviations below their usual log level; squared
error would let those few rows dominate the gradient, while Huber weighs them linearly and
pulls the fit towards the conditional median, the quantity WAPE and MAPE reward.

Batch size is global: each of N ranks takes `batch_size // N` rows per step, so the number of
optimizer steps, and with it the LR schedule and the result, does not depend on `--nodes`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import TensorDataset
from torch.utils.data.distributed import DistributedSampler

from salesops.errors import DataError
from salesops.training.distributed import DistInfo, all_agree_to_stop
from salesops.training.model import DemandMLP, Scalers

#: rows per forward pass when computing the validation loss (no gradients, so big is cheap)
EVAL_BATCH = 65536


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 512
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    hidden_sizes: tuple[int, ...] = (256, 128, 64)
    dropout: float = 0.1
    patience: int = 4
    seed: int = 0


@dataclass
class TrainResult:
    model: DemandMLP  # unwrapped, on CPU, eval mode, weights of the best epoch
    history: list[dict]  # per epoch: epoch, train_loss, val_loss, seconds
    best_epoch: int
    epochs_run: int
    stopped_early: bool


def train(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    scalers: Scalers,
    config: TrainConfig,
    info: DistInfo,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train a DemandMLP; y in real units. Every rank calls this with the same full arrays."""
    _check_inputs(X_train, y_train, X_val, y_val, scalers)
    device = info.device
    X = torch.from_numpy(scalers.encode_x(X_train)).to(device)
    y = torch.from_numpy(scalers.encode_y(y_train)).to(device)
    # Each rank scores its own slice of the validation set; the sums are all-reduced.
    X_v = torch.from_numpy(scalers.encode_x(X_val[info.rank :: info.world_size])).to(device)
    y_v = torch.from_numpy(scalers.encode_y(y_val[info.rank :: info.world_size])).to(device)

    # Same seed on every rank: identical initial weights (DDP would broadcast rank 0's
    # anyway, but single-process runs are then reproducible too).
    torch.manual_seed(config.seed)
    module = DemandMLP(X.shape[1], config.hidden_sizes, config.dropout).to(device)
    # A different stream per rank afterwards, so ranks do not draw identical dropout masks.
    torch.manual_seed(config.seed + 1_000_003 * info.rank)
    net: nn.Module = module
    if info.world_size > 1:
        net = DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None
        )

    # One sampler for one rank or N: it shuffles and shards row indices per epoch, padding so
    # that every rank runs the same number of steps (DDP hangs otherwise). Batches are then
    # gathered by tensor indexing, with no per-row Python.
    sampler: DistributedSampler = DistributedSampler(
        TensorDataset(X, y), num_replicas=info.world_size, rank=info.rank,
        shuffle=True, seed=config.seed,
    )
    # BatchNorm cannot train on a single row, hence the floor of 2 rows per rank and step.
    rank_batch = max(2, config.batch_size // info.world_size)
    steps_per_epoch = _batches_per_epoch(len(sampler), rank_batch)
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    # One-cycle: a short warm-up (fresh BatchNorm statistics make the first steps noisy),
    # then cosine decay, which settles the weights without a hand-tuned step schedule.
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=config.epochs * steps_per_epoch,
        pct_start=0.1,
    )
    loss_fn = nn.HuberLoss(delta=1.0)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    )

    history: list[dict] = []
    best_loss, best_epoch, best_state = math.inf, 0, None
    stale = 0
    stopped_early = False
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        order = torch.as_tensor(list(sampler), device=device)
        net.train()
        total = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, rows
        for step in range(steps_per_epoch):
            idx = order[step * rank_batch : (step + 1) * rank_batch]
            with autocast:
                pred = net(X[idx])
            loss = loss_fn(pred.float(), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            # Accumulated on the device: a .item() per step would force a sync per step.
            total[0] += loss.detach().double() * len(idx)
            total[1] += len(idx)
        train_loss = _sum_over_ranks(total, info)
        val_loss = _validation_loss(module, X_v, y_v, loss_fn, autocast, info)

        if val_loss < best_loss:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = _cpu_state(module)
        else:
            stale += 1
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        if on_epoch is not None and info.is_main:
            on_epoch(record)
        if epoch < config.epochs and all_agree_to_stop(info, stale >= config.patience):
            stopped_early = True
            break

    # A fresh CPU copy rather than the trained module: that one carries DDP's hooks and may
    # live on a GPU. best_state is None only if every validation loss was NaN.
    final = DemandMLP(X.shape[1], config.hidden_sizes, config.dropout)
    final.load_state_dict(best_state if best_state is not None else _cpu_state(module))
    final.eval()
    return TrainResult(final, history, best_epoch, len(history), stopped_early)


def _check_inputs(X_train, y_train, X_val, y_val, scalers: Scalers) -> None:
    if len(X_train) < 2 or len(X_train) != len(y_train):
        raise DataError(f"training needs >= 2 rows with one target each; got {len(X_train)} "
                        f"feature rows and {len(y_train)} targets")
    if len(X_val) < 1 or len(X_val) != len(y_val):
        raise DataError(f"validation needs >= 1 row with one target each; got {len(X_val)} "
                        f"feature rows and {len(y_val)} targets")
    n_features = len(scalers.feature_mean)
    for name, X in (("X_train", X_train), ("X_val", X_val)):
        if np.ndim(X) != 2 or np.shape(X)[1] != n_features:
            raise DataError(f"{name} has shape {np.shape(X)}; the scalers expect "
                            f"{n_features} feature columns")


def _cpu_state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _batches_per_epoch(rows: int, batch: int) -> int:
    # A trailing batch of one row would crash BatchNorm; it is dropped (on every rank alike,
    # since DistributedSampler gives every rank the same number of rows).
    full, rest = divmod(rows, batch)
    return full + (1 if rest >= 2 else 0)


def _sum_over_ranks(total: Tensor, info: DistInfo) -> float:
    """Mean loss over all rows of all ranks, from per-rank (loss sum, row count)."""
    if info.world_size > 1:
        dist.all_reduce(total)
    return float(total[0] / total[1]) if float(total[1]) > 0 else math.nan


def _validation_loss(module, X_v: Tensor, y_v: Tensor, loss_fn, autocast, info) -> float:
    # The bare module, not the DDP wrapper: evaluation needs no gradient sync, and DDP's
    # forward would broadcast buffers as a collective.
    module.eval()
    total = torch.zeros(2, dtype=torch.float64, device=X_v.device)
    with torch.inference_mode():
        for start in range(0, len(X_v), EVAL_BATCH):
            xb, yb = X_v[start : start + EVAL_BATCH], y_v[start : start + EVAL_BATCH]
            with autocast:
                pred = module(xb)
            # Huber's mean times rows gives the sum, so chunks and ranks combine exactly.
            total[0] += loss_fn(pred.float(), yb).double() * len(yb)
            total[1] += len(yb)
    return _sum_over_ranks(total, info)
