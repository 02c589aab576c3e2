"""From feature rows to what the network reads: scale-free history, covariates and entity ids.

Departments sell from a few hundred to a few hundred thousand dollars a week. Raw sales
features would make the network learn each series' level over again; instead every sales
feature is expressed against the series' recent level, `log1p(sales_mean_4)`:

* lags and window means become log ratios to that level (`lag_1` 10 % above it -> ~0.095);
* window standard deviations become coefficients of variation (`std_w / (mean_w + 1)`);
* the level itself is one input, and also the network's skip connection: the model predicts
  `log1p(sales)` as the level plus a learned correction, so a series it has never seen in
  a season still starts from its own recent sales rather than from an average department.

Markdowns enter as `log1p(dollars)` and as dollars per 100 sq ft of floor (a promotion's
intensity for the store's size). The integer calendar codes (week of year, month, quarter)
are left out: with one or two years of history the network would extrapolate them into
weeks it never saw; `week_sin`/`week_cos` and the per-holiday week offsets carry the season.
Store and department ids go to embeddings (`DemandMLP`): departments differ in how they
react to holidays, markdowns and weather, and no feature names the department otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: the recent sales level every sales feature is measured against
LEVEL = "sales_mean_4"
#: the entity ids, as the feature store names them (salesops.features.schema.ENTITY_KEYS)
ID_COLUMNS = ("store", "dept")
#: integer season codes the network would extrapolate (see the module docstring)
DROPPED = ("week_of_year", "month", "quarter")
#: the year-on-year ratio is clipped: a department that sold nothing a year ago has a huge one
YOY_CLIP = 3.0
#: so is the coefficient of variation: a window of returns and zero weeks ([215, 0, -267, 0])
#: has a mean near 0 and a CV in the hundreds, far outside anything the network learned
CV_CLIP = 10.0


class InputError(ValueError):
    """Feature rows the model cannot read (salesops raises it as its DataError, exit 3)."""


@dataclass
class ModelInputs:
    """The network's inputs for `len(self)` rows."""

    x: np.ndarray  # float32 (rows, inputs): derived features, not yet standardized
    ids: np.ndarray  # int64 (rows, 2): store and dept ids
    level: np.ndarray  # float64 (rows,): log1p of the recent sales level (the skip input)

    def __len__(self) -> int:
        return len(self.x)

    def take(self, rows: slice | np.ndarray) -> ModelInputs:
        return ModelInputs(self.x[rows], self.ids[rows], self.level[rows])


def model_input_columns(features: list[str]) -> list[str]:
    """The columns the logged model reads: the entity ids, then its features."""
    return [*ID_COLUMNS, *features]


def input_names(features: list[str]) -> list[str]:
    """Names of the derived columns that `model_inputs` makes from `features`, in order."""
    return [name for name, _ in _derivations(features)]


def model_inputs(frame: pd.DataFrame | Mapping[str, np.ndarray],
                 features: list[str]) -> ModelInputs:
    """Derive the inputs from `frame`, which holds `features` plus the `store`/`dept` ids
    (a frame, or arrays by column name: a training batch is never made a frame)."""
    missing = [c for c in [*ID_COLUMNS, *features] if c not in frame]
    if missing:
        raise InputError(f"missing feature columns: {', '.join(missing[:5])}"
                        + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""))
    if LEVEL not in features:
        raise InputError(f"the model needs the feature {LEVEL}")
    columns = {name: _values(frame[name], np.float64) for name in features}
    level = _log_sales(columns[LEVEL])
    derivations = _derivations(features)
    x = np.empty((len(level), len(derivations)), dtype=np.float32)
    for at, (_, derive) in enumerate(derivations):
        x[:, at] = derive(columns, level)
    ids = np.column_stack([_values(frame[name], np.int64) for name in ID_COLUMNS])
    return ModelInputs(x=x, ids=ids, level=level)


def _values(column, dtype) -> np.ndarray:
    return column.to_numpy(dtype=dtype) if hasattr(column, "to_numpy") else np.asarray(
        column, dtype=dtype)


def _log_sales(values: np.ndarray) -> np.ndarray:
    # Negative weekly sales exist in the Walmart data (returns); demand is >= 0.
    return np.log1p(np.maximum(values, 0.0))


def _derivations(features: list[str]):
    """(name, function of (columns, level)) for each derived input."""
    out = [("level", lambda c, level: level)]
    for name in features:
        if name == LEVEL or name in DROPPED:
            continue
        if name.startswith(("sales_lag_", "sales_mean_")):
            out.append((f"{name}_vs_level",
                        lambda c, level, n=name: _log_sales(c[n]) - level))
        elif name.startswith("sales_std_"):
            mean = name.replace("_std_", "_mean_")
            if mean not in features:
                raise InputError(f"feature {name} needs {mean} beside it")
            out.append((f"{name}_cv", lambda c, level, n=name, m=mean: np.minimum(
                np.maximum(c[n], 0.0) / (np.maximum(c[m], 0.0) + 1.0), CV_CLIP)))
        elif name == "sales_yoy_ratio":
            out.append((name, lambda c, level: np.clip(c["sales_yoy_ratio"], -YOY_CLIP, YOY_CLIP)))
        elif name == "markdown_total":
            out.append(("markdown_log", lambda c, level: _log_sales(c["markdown_total"])))
            if "store_size" in features:
                out.append(("markdown_per_100sqft", lambda c, level: _log_sales(
                    100.0 * c["markdown_total"] / np.maximum(c["store_size"], 1.0))))
        else:
            out.append((name, lambda c, level, n=name: c[n]))
    return out
