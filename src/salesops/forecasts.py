"""What a logged model's `predict` returns, read the same way by training, serving and
monitoring: a frame with `forecast` (the median) and `p10`, `p50`, `p90`, or, from a model
saved before the quantile heads, the forecasts alone (an array, or a frame of `forecast`).
Light: the model server's stdlib client reads the column names from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: the quantile columns of a model's output, lowest first
QUANTILE_COLUMNS = ("p10", "p50", "p90")


@dataclass
class Forecasts:
    forecast: np.ndarray  # float64 (rows,): the point forecast, in sales units
    quantiles: np.ndarray | None  # float64 (rows, 3): P10, P50, P90; None for an older model

    def __len__(self) -> int:
        return len(self.forecast)

    def take(self, rows) -> Forecasts:
        return Forecasts(self.forecast[rows],
                         None if self.quantiles is None else self.quantiles[rows])

    def equals(self, other: Forecasts) -> bool:
        import numpy as np

        mine, theirs = self.columns(), other.columns()
        return mine.keys() == theirs.keys() and all(
            np.array_equal(mine[name], theirs[name]) for name in mine)

    def columns(self) -> dict[str, np.ndarray]:
        """By output name: `forecast`, and the quantiles where the model has them."""
        out = {"forecast": self.forecast}
        if self.quantiles is not None:
            out.update(zip(QUANTILE_COLUMNS, self.quantiles.T))
        return out


def read_output(output) -> Forecasts:
    """A model's `predict` output as Forecasts."""
    import numpy as np

    if hasattr(output, "columns"):  # a frame
        forecast = output["forecast"] if "forecast" in output.columns else output.iloc[:, 0]
        forecast = np.asarray(forecast, dtype=np.float64)
        if all(name in output.columns for name in QUANTILE_COLUMNS):
            return Forecasts(forecast, output[list(QUANTILE_COLUMNS)].to_numpy(np.float64))
        return Forecasts(forecast, None)
    return Forecasts(np.asarray(output, dtype=np.float64).ravel(), None)


def point_forecast(output) -> np.ndarray:
    return read_output(output).forecast
