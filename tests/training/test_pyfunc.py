"""The logged model gives the same numbers as the in-process one (MLflow models from code)."""

import mlflow
import numpy as np
import pytest

from salesops.data.synthetic import generate
from salesops.features.engineering import build_features
from salesops.features.schema import TARGET, TIMESTAMP
from salesops.training.dataset import model_features
from salesops.training.inputs import model_inputs
from salesops.training.loop import TrainConfig, train
from salesops.training.distributed import init_from_env
from salesops.training.model import Scalers, predict
from salesops.training.pyfunc_model import ENTRY_FILE, model_input_columns, write_artifacts


@pytest.fixture(scope="module")
def frame():
    frames = build_features(generate(stores=3, depts=4, weeks=70, seed=5))
    joined = frames.dept_weekly.merge(frames.store_weekly, on=["store", TIMESTAMP])
    return joined.merge(frames.sales_target, on=["store", "dept", TIMESTAMP])


@pytest.mark.slow
def test_pyfunc_round_trip_equals_the_in_process_model(frame, tmp_path):
    features = model_features(8)
    inputs = model_inputs(frame, features)
    y = frame[TARGET].to_numpy()
    scalers = Scalers.fit(inputs.x, y)
    result = train(inputs, y, inputs.take(slice(0, 50)), y[:50], scalers,
                   TrainConfig(epochs=2, batch_size=64), init_from_env())
    expected = predict(result.model, scalers, inputs)

    artifacts = write_artifacts(tmp_path / "artifacts", result.model, scalers, features)
    mlflow.pyfunc.save_model(tmp_path / "model", python_model=str(ENTRY_FILE),
                             artifacts=artifacts)
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    # extra columns (the target, the timestamp) are ignored; column order does not matter
    shuffled = frame[list(reversed(frame.columns))]
    output = loaded.predict(shuffled)
    # the point forecast is the median; then the quantiles, lowest first
    assert output.columns.tolist() == ["forecast", "p10", "p50", "p90"]
    np.testing.assert_allclose(output[["p10", "p50", "p90"]], expected, rtol=1e-6)
    np.testing.assert_array_equal(output["forecast"], output["p50"])
    head = loaded.predict(frame[model_input_columns(features)].head(3))
    np.testing.assert_allclose(head[["p10", "p50", "p90"]], expected[:3], rtol=1e-6)

    with pytest.raises(Exception, match="sales_mean_4"):
        loaded.predict(frame.drop(columns=["sales_mean_4"]))
