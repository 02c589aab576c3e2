"""The P10-P90 interval: calibrated on the validation weeks, scored on the holdout.

Pinball loss fits the quantiles of the training weeks, where the network's own fit makes
the misses smaller than on weeks it has not seen: trained alone, the interval covered about
75 % of the holdout instead of 80 %. So once training has picked its epoch, each side of the
interval is scaled by the factor that makes it hold its share of the validation weeks
(split conformal calibration, one factor per side, on the log scale): 10 % of those actuals
below P10 and 10 % above P90. The factors are the model's `interval_scale` buffer, saved
with its weights. The validation weeks are the 4 weeks before the holdout, never the holdout.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from salesops.training.distributed import DistInfo
from salesops.training.model import QUANTILES, DemandMLP

#: rows per forward pass while calibrating
BATCH = 65536
#: fewer validation rows than this leave the interval as trained: a tenth of 30 rows is
#: 3 actuals on each side, too few to scale a side by
MIN_ROWS = 30
#: the factors stay within these: a head of almost no width times a huge factor would
#: be a guess, not a calibration
SCALE_RANGE = (0.2, 5.0)


def calibrate(model: DemandMLP, val: tuple, info: DistInfo) -> None:
    """Set `model.interval_scale` from this rank's validation rows `val` (x, ids, base,
    target, weight tensors) and every other rank's: the same factors on every rank."""
    if not model.quantiles:
        return
    X, ids, base, y, _ = val
    model.eval()
    model.interval_scale.fill_(1.0)
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(X), BATCH):
            rows = slice(start, start + BATCH)
            outputs.append(model(X[rows], ids[rows], base[rows]).float())
    out = torch.cat(outputs) if outputs else torch.empty(0, 3)
    low, median, high = out.unbind(dim=1)
    # how many of its side's widths each actual lies beyond the median (<= 0: on the other side)
    below = ((median - y) / (median - low).clamp_min(1e-6)).numpy()
    above = ((y - median) / (high - median).clamp_min(1e-6)).numpy()
    below, above = _all_rows(below, info), _all_rows(above, info)
    if below.size < MIN_ROWS:
        return
    scale = [_conformal_quantile(below, 1.0 - QUANTILES[0]),
             _conformal_quantile(above, QUANTILES[-1])]
    model.interval_scale.copy_(torch.tensor(np.clip(scale, *SCALE_RANGE), dtype=torch.float32))


def _conformal_quantile(scores: np.ndarray, level: float) -> float:
    """Split conformal's finite-sample quantile: the ceil((n + 1) * level)-th smallest
    score, so that a new row's score is at most it with probability >= level."""
    n = scores.size
    rank = min(n, int(np.ceil((n + 1) * level)))
    return float(np.partition(scores, rank - 1)[rank - 1])


def _all_rows(values: np.ndarray, info: DistInfo) -> np.ndarray:
    if info.world_size == 1:
        return values
    gathered: list = [None] * info.world_size
    dist.all_gather_object(gathered, values)
    return np.concatenate(gathered)


def interval_metrics(actual: np.ndarray, quantiles: np.ndarray) -> dict[str, float]:
    """Coverage of the P10-P90 interval (% of rows inside it) and the mean pinball loss
    over the three quantiles, in sales units, of (rows, 3) forecasts in real units."""
    actual = np.asarray(actual, dtype=np.float64).ravel()
    low, high = quantiles[:, 0], quantiles[:, -1]
    miss = actual[:, None] - quantiles
    q = np.asarray(QUANTILES)
    loss = np.maximum(q * miss, (q - 1) * miss).mean(axis=1)
    return {"coverage": float(100.0 * np.mean((actual >= low) & (actual <= high))),
            "pinball": float(loss.mean())}
