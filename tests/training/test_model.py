import json
from pathlib import Path

import numpy as np
import pytest
import torch

from salesops.errors import DataError
from salesops.training.inputs import ModelInputs
from salesops.training.model import DemandMLP, Scalers, predict


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    X = rng.normal(loc=50.0, scale=20.0, size=(300, 5))
    X[:, 2] = 7.0  # a constant column
    y = np.expm1(rng.uniform(0, 10, size=300))
    y[:10] = 0.0  # intermittent demand
    return X, y


def test_scalers_round_trip_the_target(data):
    X, y = data
    scalers = Scalers.fit(X, y)
    z = scalers.encode_y(y)
    assert z.dtype == np.float32
    assert abs(z.mean()) < 1e-3 and abs(z.std() - 1) < 1e-3
    np.testing.assert_allclose(scalers.decode_y(z), y, rtol=1e-5, atol=1e-3)


def test_negative_sales_are_clipped_not_nan(data):
    X, y = data
    scalers = Scalers.fit(X, y)
    decoded = scalers.decode_y(scalers.encode_y(np.array([-5.0])))
    np.testing.assert_allclose(decoded, [0.0], atol=1e-6)


def test_forecasts_are_capped_at_twice_the_largest_training_week(data):
    X, y = data
    scalers = Scalers.fit(X, y)
    runaway = scalers.encode_y(np.array([y.max() * 1e6, y.max() * 1.5]))
    decoded = scalers.decode_y(runaway)
    assert decoded[0] == pytest.approx(2 * (y.max() + 1) - 1, rel=1e-6)
    assert decoded[1] == pytest.approx(1.5 * y.max(), rel=1e-5)  # below the cap: untouched
    # a model saved before the cap existed decodes as it always did
    old = Scalers.from_dict({k: v for k, v in scalers.to_dict().items() if k != "target_max"})
    assert old.decode_y(runaway)[0] == pytest.approx(y.max() * 1e6, rel=1e-4)


def test_values_beyond_the_training_range_read_as_its_edge(data):
    """A short history leaves weeks of the year, holiday distances or markdowns the network
    never saw: extrapolated linearly they sent every forecast of a 40-week data set to the
    cap (WAPE 148 %); read as the edge of the range they do not."""
    X, y = data
    scalers = Scalers.fit(X, y)
    later = X[:2].copy()
    later[0, 0] = X[:, 0].max() + 1e4
    later[1, 1] = X[:, 1].min() - 1e4
    edge = X[:2].copy()
    edge[0, 0], edge[1, 1] = X[:, 0].max(), X[:, 1].min()
    np.testing.assert_array_equal(scalers.encode_x(later), scalers.encode_x(edge))
    np.testing.assert_array_equal(scalers.encode_x(X), Scalers.from_dict(
        json.loads(json.dumps(scalers.to_dict()))).encode_x(X))
    # a model saved before the range was kept encodes as it always did
    old = Scalers.from_dict({k: v for k, v in scalers.to_dict().items()
                             if k not in ("feature_min", "feature_max")})
    assert old.encode_x(later)[0, 0] > scalers.encode_x(later)[0, 0] + 100


def test_constant_column_encodes_to_zero_not_nan(data):
    X, y = data
    encoded = Scalers.fit(X, y).encode_x(X)
    assert encoded.dtype == np.float32
    assert np.isfinite(encoded).all()
    assert (encoded[:, 2] == 0).all()
    np.testing.assert_allclose(encoded[:, 0].std(), 1.0, rtol=1e-4)


def test_a_column_constant_in_training_encodes_to_zero_whatever_it_reads_later(data):
    # e.g. a holiday offset that never changed over the fitted weeks: the network learned
    # nothing from it, and dividing a later, different value by the std floor would send
    # millions into it (the forecasts overflow to inf)
    X, y = data
    scalers = Scalers.fit(X, y)
    later = X[:3].copy()
    later[:, 2] = [8.0, -3.0, 7.0]
    encoded = scalers.encode_x(later)
    assert (encoded[:, 2] == 0).all()
    others = [0, 1, 3, 4]
    np.testing.assert_array_equal(encoded[:, others], scalers.encode_x(X[:3])[:, others])


def test_scalers_json_round_trip(data):
    X, y = data
    scalers = Scalers.fit(X, y)
    again = Scalers.from_dict(json.loads(json.dumps(scalers.to_dict())))
    np.testing.assert_array_equal(again.feature_mean, scalers.feature_mean)
    np.testing.assert_array_equal(again.feature_std, scalers.feature_std)
    assert (again.target_mean, again.target_std) == (scalers.target_mean, scalers.target_std)
    np.testing.assert_array_equal(again.encode_x(X), scalers.encode_x(X))


def test_non_finite_features_are_rejected(data):
    X, y = data
    X = X.copy()
    X[4, 3] = np.nan
    with pytest.raises(DataError, match=r"\[3\]"):
        Scalers.fit(X, y)


def _ids(rows: int, stores: int = 3, depts: int = 4) -> torch.Tensor:
    return torch.stack([torch.arange(rows) % stores + 1, torch.arange(rows) % depts + 1], dim=1)


def test_mlp_shape_quantiles_in_order_and_skip_connection():
    model = DemandMLP(5, [16, 8], dropout=0.2, id_sizes=(4, 5))
    model.eval()
    x, ids = torch.randn(32, 5), _ids(32)
    out = model(x, ids, torch.zeros(32))
    assert out.shape == (32, 3)  # P10, P50, P90
    assert (out[:, 0] <= out[:, 1]).all() and (out[:, 1] <= out[:, 2]).all()
    assert not [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    # the output is the base level plus the network's correction
    torch.testing.assert_close(model(x, ids, torch.full((32,), 2.0)), out + 2.0)
    # the calibration's factors scale each side of the interval around the median
    model.interval_scale.copy_(torch.tensor([2.0, 0.5]))
    scaled = model(x, ids, torch.zeros(32))
    torch.testing.assert_close(scaled[:, 1], out[:, 1])
    torch.testing.assert_close(scaled[:, 1] - scaled[:, 0], 2.0 * (out[:, 1] - out[:, 0]))
    torch.testing.assert_close(scaled[:, 2] - scaled[:, 1], 0.5 * (out[:, 2] - out[:, 1]))


def test_a_model_saved_before_the_quantile_heads_loads_as_it_was(tmp_path):
    """Its spec has no norm or quantiles: BatchNorm layers and one output, the median."""
    from demand_forecaster.artifacts import read_artifacts, write_artifacts

    old = DemandMLP(5, [16, 8], dropout=0.2, id_sizes=(4, 5), norm="batch", quantiles=())
    artifacts = write_artifacts(tmp_path, old, Scalers.fit(np.ones((3, 5)) * [[1], [2], [3]],
                                                           np.ones(3)), ["a"])
    spec_file = Path(artifacts["spec"])
    spec = json.loads(spec_file.read_text())
    del spec["norm"], spec["quantiles"], spec["members"]
    spec_file.write_text(json.dumps(spec))
    model, _, _ = read_artifacts(artifacts)
    assert [m.num_features for m in model.modules()
            if isinstance(m, torch.nn.BatchNorm1d)] == [16, 8]
    x, ids = torch.randn(4, 5), _ids(4)
    old.eval()
    torch.testing.assert_close(model(x, ids, torch.zeros(4)), old(x, ids, torch.zeros(4)))
    assert model(x, ids, torch.zeros(4)).shape == (4, 1)


def test_unseen_ids_share_the_unknown_embedding():
    model = DemandMLP(3, [8], dropout=0.0, id_sizes=(4, 5))  # stores 1..3, depts 1..4 seen
    model.eval()
    x, base = torch.randn(4, 3), torch.zeros(4)
    unseen = torch.tensor([[99, 1], [0, 1], [-3, 1], [1, 1]])
    unknown = torch.tensor([[0, 1], [0, 1], [0, 1], [1, 1]])
    torch.testing.assert_close(model(x, unseen, base), model(x, unknown, base))


def _inputs(X: np.ndarray) -> ModelInputs:
    rows = len(X)
    return ModelInputs(x=X.astype(np.float32), ids=_ids(rows).numpy(),
                       level=np.log1p(np.abs(X[:, 0])))


def test_predict_gives_non_negative_sales_per_row(data):
    X, y = data
    scalers = Scalers.fit(X, y)
    torch.manual_seed(0)
    model = DemandMLP(X.shape[1], [16], dropout=0.5, id_sizes=(4, 5))
    model.train()
    inputs = _inputs(X).take(slice(0, 201))
    # batch_size smaller than the data: several chunks, and a final chunk of one row
    out = predict(model, scalers, inputs, batch_size=100)
    assert out.shape == (201, 3) and out.dtype == np.float64
    assert np.isfinite(out).all() and (out >= 0).all()
    # eval mode inside predict: deterministic, independent of batching; mode restored after
    np.testing.assert_allclose(predict(model, scalers, inputs, batch_size=7), out, rtol=1e-5)
    assert model.training
