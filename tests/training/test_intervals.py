"""The P10-P90 interval holds 80 % of weeks the model has not seen (`training.intervals`)."""

import numpy as np
import torch

from salesops.training.distributed import init_from_env
from salesops.training.inputs import ModelInputs
from salesops.training.intervals import interval_metrics
from salesops.training.loop import TrainConfig, train
from salesops.training.model import Scalers, predict


def _data(rows: int, seed: int):
    """Log sales = signal + noise whose spread depends on the department (id 1 quiet, id 3
    noisy): an interval of one width for all would miss that."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4)).astype(np.float32)
    dept = rng.integers(1, 4, rows)
    noise = np.array([0.0, 0.05, 0.2, 0.5])[dept] * rng.normal(size=rows)
    log_sales = 6.0 + X[:, 0] + 0.5 * np.sin(2 * X[:, 1]) + noise
    ids = np.stack([np.ones(rows, np.int64), dept], axis=1)
    return ModelInputs(x=X, ids=ids, level=np.full(rows, 6.0)), np.expm1(log_sales)


def test_the_calibrated_interval_covers_80_percent_of_new_rows():
    torch.manual_seed(0)
    fit, y_fit = _data(8000, 0)
    val, y_val = _data(4000, 1)
    new, y_new = _data(8000, 2)
    scalers = Scalers.fit(fit.x, y_fit)
    result = train(fit, y_fit, val, y_val, scalers,
                   TrainConfig(epochs=6, batch_size=256, hidden_sizes=(32, 16)),
                   init_from_env())
    quantiles = predict(result.model, scalers, new)
    assert (np.diff(quantiles, axis=1) >= 0).all()  # P10 <= P50 <= P90, always
    coverage = interval_metrics(y_new, quantiles)["coverage"]
    assert 77.0 <= coverage <= 83.0, coverage
    # and not by one width for all: the noisy department's interval is the widest
    width = np.log1p(quantiles[:, 2]) - np.log1p(quantiles[:, 0])
    by_dept = [np.median(width[new.ids[:, 1] == d]) for d in (1, 2, 3)]
    assert by_dept[0] < by_dept[1] < by_dept[2]


def test_interval_metrics():
    actual = np.array([5.0, 10.0, 20.0, 30.0])
    quantiles = np.array([[4, 5, 6], [11, 12, 13], [10, 20, 30], [10, 20, 30]], float)
    metrics = interval_metrics(actual, quantiles)
    assert metrics["coverage"] == 75.0
    # per row, the mean over P10, P50, P90 of q * miss (actual above) or (1 - q) * -miss
    rows = [(0.1 * 1 + 0 + 0.1 * 1) / 3, (0.9 * 1 + 0.5 * 2 + 0.1 * 3) / 3,
            (0.1 * 10 + 0 + 0.1 * 10) / 3, (0.1 * 20 + 0.5 * 10 + 0) / 3]
    assert np.isclose(metrics["pinball"], np.mean(rows))
