"""From feature rows to what the network reads, as salesops calls it: the derivation is
`demand_forecaster.inputs`, the code every logged model carries (its docstring says what the
inputs are and why), with what it cannot read raised as DataError (exit 3).
"""

from __future__ import annotations

from demand_forecaster import inputs as _inputs
from demand_forecaster.inputs import CV_CLIP, DROPPED, ID_COLUMNS, LEVEL, YOY_CLIP, ModelInputs
from salesops.training.model_errors import data_errors

__all__ = ["CV_CLIP", "DROPPED", "ID_COLUMNS", "LEVEL", "YOY_CLIP", "ModelInputs",
           "input_names", "model_inputs"]


def input_names(features: list[str]) -> list[str]:
    """Names of the derived columns that `model_inputs` makes from `features`, in order."""
    with data_errors():
        return _inputs.input_names(features)


def model_inputs(frame, features: list[str]) -> ModelInputs:
    """Derive the inputs from `frame`, which holds `features` plus the `store`/`dept` ids."""
    with data_errors():
        return _inputs.model_inputs(frame, features)
