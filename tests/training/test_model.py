import json

import numpy as np
import pytest
import torch

from salesops.errors import DataError
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


def test_constant_column_encodes_to_zero_not_nan(data):
    X, y = data
    encoded = Scalers.fit(X, y).encode_x(X)
    assert encoded.dtype == np.float32
    assert np.isfinite(encoded).all()
    assert (encoded[:, 2] == 0).all()
    np.testing.assert_allclose(encoded[:, 0].std(), 1.0, rtol=1e-4)


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


def test_mlp_shape():
    model = DemandMLP(5, [16, 8], dropout=0.2)
    out = model(torch.randn(32, 5))
    assert out.shape == (32,)
    batchnorms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [m.num_features for m in batchnorms] == [16, 8]


def test_predict_gives_non_negative_sales_per_row(data):
    X, y = data
    scalers = Scalers.fit(X, y)
    torch.manual_seed(0)
    model = DemandMLP(X.shape[1], [16], dropout=0.5)
    model.train()
    # batch_size smaller than the data: several chunks, and a final chunk of one row
    out = predict(model, scalers, X[:201], batch_size=100)
    assert out.shape == (201,) and out.dtype == np.float64
    assert np.isfinite(out).all() and (out >= 0).all()
    # eval mode inside predict: deterministic, independent of batching; mode restored after
    np.testing.assert_allclose(predict(model, scalers, X[:201], batch_size=7), out, rtol=1e-5)
    assert model.training
