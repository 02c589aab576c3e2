"""The demand model as salesops trains it: `demand_forecaster.network`, the code every logged
model carries (its docstring says what the network and scalers are), with a training matrix
the scalers cannot fit raised as DataError (exit 3) rather than the package's ValueError.
"""

from __future__ import annotations

import numpy as np

from demand_forecaster import network
from demand_forecaster.network import (
    QUANTILES,
    DemandEnsemble,
    DemandMLP,
    median_column,
    predict,
)
from salesops.training.model_errors import data_errors

__all__ = ["QUANTILES", "DemandEnsemble", "DemandMLP", "Scalers", "median_column",
           "predict"]


class Scalers(network.Scalers):
    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray) -> Scalers:
        with data_errors():
            return super().fit(X, y)
