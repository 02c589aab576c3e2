"""The model as MLflow stores it: a pyfunc that takes feature rows and returns sales.

Input: one row per (store, dept, week) with the entity ids `store` and `dept` and the
feature columns the model was trained on (`inputs.model_input_columns`; the signature lists
them, extra columns are ignored). Output: a frame of sales in real units, one row per input
row: `forecast` (the median) and the quantiles `p10`, `p50`, `p90` (a model saved before
the quantile heads has `forecast` alone). Weights, scalers and the
feature list travel as artifacts (`artifacts`), and this package as the model's code, so
`mlflow.pyfunc.load_model("models:/<name>@champion").predict(features_df)` needs only the
model's pinned requirements installed.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd


class DemandForecaster(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from .artifacts import read_artifacts

        self.model, self.scalers, self.features = read_artifacts(context.artifacts)

    def predict(self, context, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        from .inputs import model_inputs
        from .network import median_column, output_names, predict

        values = predict(self.model, self.scalers, model_inputs(model_input, self.features))
        columns = {"forecast": values[:, median_column(self.model)]}
        columns.update(zip(output_names(self.model)[1:], values.T))
        return pd.DataFrame(columns)
