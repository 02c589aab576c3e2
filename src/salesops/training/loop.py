"""The training loop: one function that runs alone or as one rank of DistributedDataParallel.

Loss: the pinball (quantile) loss of the P10, P50 and P90 heads on the standardized log1p
target, each row weighted by its series' recent sales level (`sales_mean_4 + 1`, normalized
to mean 1 over the training rows). An error of e in log space is a relative miss of about e,
so weighting by the level makes the loss an absolute-dollar miss: the quantity WAPE sums,
and what the promotion gate ranks by. The median's pinball loss is half the absolute error:
it pulls the point forecast towards the conditional median and lets the zero-sales weeks of
intermittent departments (far below their usual log level) count linearly instead of
dominating the gradient. The interval heads share the layers and regularize them: trained
together, the median's holdout error is lower and steadier across seeds than alone.

Early stopping keeps the epoch with the lowest validation loss, and stops after `patience`
epochs without a better one, but not in the schedule's first half: until the rate has come
down from its peak the validation loss jumps about, and a run stopped there (7 of 30
epochs) missed the decay that settles the weights (holdout WAPE 13.4 against 10.7).

One process or N compute the same steps (`--nodes` changes the speed, not the model):
* the batch size is global: each of N ranks takes `batch_size // N` rows per step of the
  one shuffled order (`RankOrder`), so the steps, the LR schedule and the rows of each step
  are the same; DDP averages the ranks' mean gradients, which is the global batch's mean.
  Exactly so when N divides the global batch (a multiple of 64 above 64 rows:
  `global_batch`) and the training rows; otherwise `RankOrder` repeats up to N - 1 rows an
  epoch and the last step differs by those;
* a row's output depends on that row alone: no batch statistics in the network;
* dropout masks are drawn for the global batch from one stream per epoch, and each rank
  applies its rows of them (`_draw_masks`).
What remains is the order of floating-point sums (DDP's all-reduce); tests/training/
test_rank_equivalence.py trains one process and two side by side.

The members of the ensemble share nothing while they train, so a process with more than
one thread trains them side by side, one Python thread each (`member_workers`), with the
intra-op threads divided among them: torch releases the GIL inside its kernels, two
single-threaded networks keep two cores busy without the per-operation barrier of two
threads working on one small matrix, and on a busy machine a descheduled thread delays
only its own network instead of stalling its partner at every operation. Each member's
result is the same either way: its own seeds, streams and optimizer
(tests/training/test_member_threads.py).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from salesops.errors import DataError
from salesops.training.distributed import DistInfo, all_agree_to_stop
from salesops.training.inputs import ModelInputs
from salesops.training.intervals import calibrate
from salesops.training.model import QUANTILES, DemandEnsemble, DemandMLP, Scalers
from salesops.training.rank_order import RankOrder
from salesops.training.rows import Rows, encode, train_weight_mean, val_weight_mean

#: rows per forward pass when computing the validation loss (no gradients, so big is cheap)
EVAL_BATCH = 65536
#: the fewest optimizer steps an epoch, whatever training.batch_size (`global_batch`)
MIN_STEPS = 16
#: a global batch above it is a multiple of it (`global_batch`)
BATCH_MULTIPLE = 64
#: what each random stream is for, in `stream_seed`'s keys
MEMBER_STREAM, DROPOUT_STREAM = 1, 2


@dataclass
class TrainConfig:
    epochs: int = 20
    # batch and dropout chosen on the validation weeks of both synthetic data sets: 1024
    # below 2048 on five seeds of six, in the same time (the steps are compute-bound);
    # dropout 0.05 below 0.1 and 0 on average over four seeds (retail 10.46 % against
    # 10.52 % and 10.54 %, default 10.23 % against 10.30 % and 10.25 %)
    batch_size: int = 1024
    learning_rate: float = 8e-3
    weight_decay: float = 1e-4
    hidden_sizes: tuple[int, ...] = (256, 128, 64)
    dropout: float = 0.05
    patience: int = 10
    seed: int = 0
    members: int = 2

    @classmethod
    def from_section(cls, section) -> TrainConfig:
        """The loop's settings from the config's `training` section (same field names)."""
        values = {f.name: getattr(section, f.name) for f in fields(cls)}
        return cls(**{**values, "hidden_sizes": tuple(values["hidden_sizes"])})


@dataclass
class TrainResult:
    model: DemandEnsemble  # on CPU, eval mode, each member's weights of its best epoch
    history: list[dict]  # per member and epoch: member, epoch, train_loss, val_loss, seconds
    best_epochs: list[int]  # each member's
    epochs_run: int  # the most any member ran
    stopped_early: bool  # whether any member stopped before config.epochs


@dataclass
class _Member:
    model: DemandMLP  # unwrapped, on CPU, eval mode, weights of the best epoch
    history: list[dict]
    best_epoch: int
    epochs_run: int
    stopped_early: bool


@dataclass
class _Steps:
    """How one rank steps through an epoch: its shard of the rows, batch, optimizer, schedule."""

    sampler: RankOrder
    rank_batch: int
    steps_per_epoch: int
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    autocast: object  # torch.autocast on a GPU, else a no-op context
    seed: int  # of the epochs' dropout streams
    #: set when the run gives up (another member failed, Ctrl-C): checked every step, so
    #: a network training beside others stops within a step even on an epoch of minutes
    stop: threading.Event


def train(
    train_inputs: ModelInputs,
    y_train: np.ndarray,
    val_inputs: ModelInputs,
    y_val: np.ndarray,
    scalers: Scalers,
    config: TrainConfig,
    info: DistInfo,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train a DemandMLP; y in real units. Every rank calls this with the same full arrays,
    in memory (the worker shares its rows encoded, through `train_encoded`)."""
    check_inputs(train_inputs, y_train, val_inputs, y_val, scalers)
    rows = encode(train_inputs, y_train, scalers, train_weight_mean(train_inputs.level))
    # each rank encodes only its own slice of the validation rows; the sums are all-reduced
    mine = slice(info.rank, None, info.world_size)
    val = encode(val_inputs.take(mine), y_val[mine], scalers, val_weight_mean(val_inputs.level))
    return train_encoded(rows, val, id_sizes_of(train_inputs), config, info, on_epoch)


def train_encoded(
    train_rows: Rows,
    val_rows: Rows,
    id_sizes: tuple[int, int],
    config: TrainConfig,
    info: DistInfo,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train on rows already encoded (`rows.encode`, or mapped by `shared_rows`): all the
    training rows, which every rank reads (the sampler deals them out anew each epoch), and
    this rank's validation rows. Trains `config.members` networks, each from a seed of its
    own (`stream_seed`), `member_workers` at a time, and returns their calibrated ensemble."""
    rows, val = _device_tensors(train_rows, info.device), _device_tensors(val_rows, info.device)
    # Built here, one after the other: initial weights come from torch's global generator,
    # which threads would race for.
    stop = threading.Event()
    starts = [_member_start(rows, id_sizes, config, info, member, stop)
              for member in range(1, config.members + 1)]
    report = _serialized(on_epoch) if on_epoch is not None and info.is_main else None
    workers = member_workers(config.members, info)

    def fit(start: _MemberStart) -> _Member:
        try:
            return _train_member(start, rows, val, config, info, report)
        except BaseException:
            stop.set()  # the members still to come, or still training, give up
            raise

    if workers == 1:
        fitted = [fit(start) for start in starts]
    else:
        with _intra_op_threads(max(1, torch.get_num_threads() // workers)):
            fitted = _in_threads(fit, starts, workers, stop)
    final = DemandEnsemble([member.model for member in fitted])
    final.eval()
    calibrate(final, _device_tensors(val_rows, torch.device("cpu")), info)
    history = [record for member in fitted for record in member.history]
    return TrainResult(final, history, [member.best_epoch for member in fitted],
                       max(member.epochs_run for member in fitted),
                       any(member.stopped_early for member in fitted))


def member_workers(members: int, info: DistInfo) -> int:
    """How many members train at once: one per intra-op thread of a single CPU process.
    Ranks of a process group train them one after the other, since every member's steps
    are collectives on the one group, which must run in the same order on every rank; so
    does a GPU, which a single network already fills."""
    if info.world_size > 1 or info.device.type != "cpu":
        return 1
    return max(1, min(members, torch.get_num_threads()))


@dataclass
class _MemberStart:
    member: int
    module: DemandMLP
    net: nn.Module  # the module or its DDP wrapper
    steps: _Steps


def _member_start(rows: tuple, id_sizes: tuple[int, int], config: TrainConfig,
                  info: DistInfo, member: int, stop: threading.Event) -> _MemberStart:
    seed = stream_seed(config.seed, MEMBER_STREAM, member)
    module, net = _network(rows[0].shape[1], id_sizes, config, info, seed)
    return _MemberStart(member, module, net, _steps(module, rows, config, info, seed, stop))


def _in_threads(fit: Callable, starts: list, workers: int, stop: threading.Event) -> list:
    """`fit` of each start on `workers` threads, the results in order. If one fails, or
    this thread is interrupted (Ctrl-C), the others stop at their next step; the first
    real error is raised."""
    with ThreadPoolExecutor(workers, thread_name_prefix="member") as pool:
        try:
            futures = [pool.submit(fit, start) for start in starts]
            wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # interrupted: the members stop at their next step
            stop.set()
            raise
    for future in futures:
        if future.exception() is not None and not isinstance(future.exception(), _Stopped):
            raise future.exception()
    return [future.result() for future in futures]


@contextmanager
def _intra_op_threads(threads: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _serialized(callback: Callable[[dict], None]) -> Callable[[dict], None]:
    """`callback` for several threads: one report at a time (a progress line is written in
    parts, and a bar is redrawn)."""
    lock = threading.Lock()

    def report(record: dict) -> None:
        with lock:
            callback(record)

    return report


def _train_member(start: _MemberStart, rows: tuple, val: tuple, config: TrainConfig,
                  info: DistInfo, report) -> _Member:
    module, net, steps = start.module, start.net, start.steps
    history: list[dict] = []
    best_loss, best_epoch, best_state = math.inf, 0, None
    stale = 0
    stopped_early = False
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        train_loss = _train_epoch(module, net, rows, steps, epoch, info)
        val_loss = _validation_loss(module, val, steps.autocast, info)
        if val_loss < best_loss:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = _cpu_state(module)
        else:
            stale += 1
        record = {"member": start.member, "epoch": epoch, "train_loss": train_loss,
                  "val_loss": val_loss, "seconds": time.perf_counter() - started}
        history.append(record)
        if report is not None:
            report(record)
        stale_enough = stale >= config.patience and epoch >= config.epochs // 2
        if epoch < config.epochs and all_agree_to_stop(info, stale_enough):
            stopped_early = True
            break

    # A fresh CPU copy rather than the trained module: that one carries DDP's hooks and may
    # live on a GPU. best_state is None only if every validation loss was NaN.
    final = DemandMLP(rows[0].shape[1], config.hidden_sizes, config.dropout, module.id_sizes)
    final.load_state_dict(best_state if best_state is not None else _cpu_state(module))
    final.eval()
    return _Member(final, history, best_epoch, len(history), stopped_early)


class _Stopped(Exception):
    """A member's training given up because another failed or the run was interrupted."""


def _device_tensors(rows: Rows, device: torch.device) -> tuple:
    """(x, ids, base, target, weight) on the device. On the CPU they are the arrays'
    own memory: a mapped file's pages stay shared between the ranks."""
    with warnings.catch_warnings():
        # a read-only mapping: torch warns that writing would fail, and nothing writes
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return tuple(torch.from_numpy(getattr(rows, f.name)).to(device) for f in fields(rows))


def _network(n_features: int, id_sizes: tuple[int, int], config: TrainConfig,
             info: DistInfo, seed: int) -> tuple[DemandMLP, nn.Module]:
    """(the model, what the loop calls: the model itself or its DDP wrapper)."""
    device = info.device
    # Same seed on every rank: identical initial weights (DDP would broadcast rank 0's
    # anyway, but single-process runs are then reproducible too).
    torch.manual_seed(seed)
    module = DemandMLP(n_features, config.hidden_sizes, config.dropout, id_sizes).to(device)
    if info.world_size == 1:
        return module, module
    return module, DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None
    )


def _steps(module: DemandMLP, rows: tuple, config: TrainConfig, info: DistInfo,
           seed: int, stop: threading.Event) -> _Steps:
    # One shuffle for one rank or N: row indices shuffled and sharded per epoch, padded so
    # that every rank runs the same number of steps (DDP hangs otherwise). Batches are then
    # gathered by tensor indexing, with no per-row Python.
    sampler = RankOrder(len(rows[0]), info.world_size, info.rank, seed)
    rank_batch = max(1, global_batch(config.batch_size, len(rows[0])) // info.world_size)
    steps_per_epoch = _batches_per_epoch(sampler.rank_rows, rank_batch)
    # fused: one kernel for all the parameters instead of a dozen small ones each
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay, fused=True)
    # One-cycle: a short warm-up, then cosine decay, which settles the weights without a
    # hand-tuned step schedule.
    schedule = _one_cycle(optimizer, config.learning_rate, config.epochs * steps_per_epoch)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if info.device.type == "cuda"
                else nullcontext())
    return _Steps(sampler, rank_batch, steps_per_epoch, optimizer, schedule, autocast, seed,
                  stop)


def _train_epoch(module: DemandMLP, net: nn.Module, rows: tuple, steps: _Steps, epoch: int,
                 info: DistInfo) -> float:
    """One pass over this rank's shard; the mean training loss over all ranks' rows."""
    X, ids, base, y, weight = rows
    order = steps.sampler.epoch(epoch).to(info.device)
    net.train()
    masks = np.random.SFC64(stream_seed(steps.seed, DROPOUT_STREAM, epoch))
    total = torch.zeros(2, dtype=torch.float64, device=info.device)  # loss sum, rows
    for step in range(steps.steps_per_epoch):
        if steps.stop.is_set():
            raise _Stopped()
        idx = order[step * steps.rank_batch : (step + 1) * steps.rank_batch]
        _draw_masks(module, masks, len(idx), info)
        with steps.autocast:
            pred = net(X[idx], ids[idx], base[idx])
        loss = pinball(pred, y[idx], weight[idx])
        steps.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        steps.optimizer.step()
        steps.schedule.step()
        # Accumulated on the device: a .item() per step would force a sync per step.
        total[0] += loss.detach().double() * len(idx)
        total[1] += len(idx)
    return _sum_over_ranks(total, info)


def check_inputs(train_inputs, y_train, val_inputs, y_val, scalers: Scalers) -> None:
    if len(train_inputs) < 2 or len(train_inputs) != len(y_train):
        raise DataError(f"training needs >= 2 rows with one target each; got "
                        f"{len(train_inputs)} feature rows and {len(y_train)} targets")
    if len(val_inputs) < 1 or len(val_inputs) != len(y_val):
        raise DataError(f"validation needs >= 1 row with one target each; got "
                        f"{len(val_inputs)} feature rows and {len(y_val)} targets")
    n_features = len(scalers.feature_mean)
    for name, inputs in (("training", train_inputs), ("validation", val_inputs)):
        if np.ndim(inputs.x) != 2 or np.shape(inputs.x)[1] != n_features:
            raise DataError(f"{name} inputs have shape {np.shape(inputs.x)}; the scalers "
                            f"expect {n_features} feature columns")


def id_sizes_of(inputs: ModelInputs) -> tuple[int, int]:
    """Embedding rows for the ids seen in training: ids are >= 1, row 0 is "unknown"."""
    if len(inputs) == 0:
        return (1, 1)
    return tuple(int(v) + 1 for v in np.maximum(inputs.ids.max(axis=0), 0))


def pinball(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Weighted pinball loss of (rows, quantiles) predictions, summed over the quantiles and
    averaged over the rows; twice the weighted absolute error for the median alone."""
    quantiles = _QUANTILES.to(pred.device)
    miss = target[:, None] - pred.float()
    loss = torch.maximum(quantiles * miss, (quantiles - 1) * miss).sum(dim=1)
    return (loss * weight).mean()


#: made once, outside any inference mode (a tensor made inside one cannot be saved for a
#: later backward pass); `.to` the CPU is the tensor itself
_QUANTILES = torch.tensor(QUANTILES)


def global_batch(batch_size: int, rows: int) -> int:
    """The rows of one step: `batch_size`, but small enough for MIN_STEPS steps an epoch
    (3,500 training rows in batches of 2,048 would give the schedule two steps an epoch to
    learn with), rounded down to a multiple of BATCH_MULTIPLE when above it, so that 1, 2,
    4, ... 64 processes split it evenly."""
    batch = min(batch_size, math.ceil(rows / MIN_STEPS))
    if batch >= BATCH_MULTIPLE:
        batch -= batch % BATCH_MULTIPLE
    return max(1, batch)


def stream_seed(*keys: int) -> int:
    """A seed for torch from `keys` (the run's seed, what the stream is for, which one):
    distinct streams for distinct keys, the same on every rank. Run seeds 0 and 1 share no
    network, and no network's dropout stream is its shuffle's."""
    state = np.random.SeedSequence([abs(int(key)) for key in keys]).generate_state(2)
    return int(state[0]) << 31 | int(state[1]) >> 1


def _draw_masks(net: DemandMLP, bits: np.random.SFC64, rank_rows: int,
                info: DistInfo) -> None:
    """Each dropout layer's mask for this rank's rows of the next global batch.

    Every rank draws the masks of the whole global batch from the same stream (seeded per
    epoch, `_train_epoch`); rank r's k-th row is the global batch's row r + k * world_size
    (`RankOrder` deals the shuffled order out round-robin), so it takes those rows of them:
    the masks one process would draw for the whole batch. A unit is dropped when its 16
    random bits fall below p * 65536 (`BatchDropout.threshold`): raw generator output, four
    units to a 64-bit draw, a tenth of the time of `torch.rand`'s floats, which took a
    quarter of each step."""
    layers = [(layer, width) for layer, width in zip(net.dropouts(), net.hidden_sizes)
              if layer.p > 0]
    if not layers:
        return
    rows = rank_rows * info.world_size
    units = rows * sum(width for _, width in layers)
    drawn = bits.random_raw(-(-units // 4)).view(np.uint16)[:units].reshape(rows, -1)
    mine = drawn[info.rank::info.world_size]
    column = 0
    for layer, width in layers:
        keep = torch.from_numpy(mine[:, column:column + width] >= layer.threshold)
        # as the factor each unit is multiplied by: converted once here, not in the
        # forward and again in the backward pass
        layer.mask = keep.to(info.device, torch.float32).mul_(layer.scale)
        column += width


def _one_cycle(optimizer, max_lr: float, total_steps: int):
    """One-cycle with a 10 % warm-up; on tiny runs at least two warm-up steps (OneCycleLR
    divides by the warm-up length minus one), and a constant rate below four steps."""
    if total_steps < 4:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=total_steps,
        pct_start=min(0.5, max(0.1, 2.5 / total_steps)),
    )


def _cpu_state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _batches_per_epoch(rows: int, batch: int) -> int:
    # every rank has the same number of rows (RankOrder pads), hence of steps
    return math.ceil(rows / batch)


def _sum_over_ranks(total: Tensor, info: DistInfo) -> float:
    """Mean loss over all rows of all ranks, from per-rank (loss sum, row count)."""
    if info.world_size > 1:
        dist.all_reduce(total)
    return float(total[0] / total[1]) if float(total[1]) > 0 else math.nan


def _validation_loss(module, val: tuple, autocast, info) -> float:
    # The bare module, not the DDP wrapper: evaluation needs no gradient sync, and DDP's
    # forward would broadcast buffers as a collective.
    X_v, ids_v, base_v, y_v, w_v = val
    module.eval()
    total = torch.zeros(2, dtype=torch.float64, device=X_v.device)
    with torch.inference_mode():
        for start in range(0, len(X_v), EVAL_BATCH):
            rows = slice(start, start + EVAL_BATCH)
            with autocast:
                pred = module(X_v[rows], ids_v[rows], base_v[rows])
            # the mean times rows gives the sum, so chunks and ranks combine exactly
            total[0] += pinball(pred, y_v[rows], w_v[rows]).double() * len(y_v[rows])
            total[1] += len(y_v[rows])
    return _sum_over_ranks(total, info)
