"""The registered model, loaded once and called on feature rows: online and in batch.

`mlflow.pyfunc` is the contract: `predict(DataFrame of the signature's columns)` returns
sales: the point forecast and its P10, P50 and P90 (`salesops.forecasts`). The signature names the model's inputs: feature columns, and possibly the entity
keys `store` and `dept` themselves. Before the model runs, pyfunc enforces the signature on
the DataFrame (about 0.3 ms for one row, and as long as the model itself on a 1M-row batch);
the scorer builds frames with exactly the signature's columns and dtypes, which makes that
enforcement a no-op, and so may call the wrapped `PythonModel.predict` directly, but only
after checking at load that it returns exactly what `pyfunc.predict` does on real rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salesops.config import Settings
from salesops.errors import DataError, PreconditionError, UsageError
from salesops.features.schema import ENTITY_KEYS
from salesops.forecasts import QUANTILE_COLUMNS, Forecasts, read_output

KEYS = ENTITY_KEYS
log = logging.getLogger("salesops.serving")


def resolve_version(settings: Settings, version: str | None = None,
                    alias: str | None = None) -> str:
    """The registered version to serve: `version` as given, else the one `alias` points to
    (default `serving.model_alias`). Opens the configured tracking store, read-only.

    Only "not found" (or a version that is not a number) means there is no such version;
    any other MLflow error is the store failing (exit 5)."""
    from mlflow.exceptions import MlflowException

    from salesops.training.registry import client
    from salesops.training.tracking import Tracking, no_such_version, not_found, store_failed

    Tracking.open(settings, read_only=True)  # serving reads the registry; it never creates one
    name = settings.mlflow.model_name
    if version is not None:
        try:
            return str(client().get_model_version(name, str(version)).version)
        except MlflowException as exc:
            if not no_such_version(exc):
                raise store_failed(exc) from None
            raise UsageError(f"model {name!r} has no version {version}",
                             hint="see `salesops models list`") from None
    alias = alias or settings.serving.model_alias
    try:
        return str(client().get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if not not_found(exc):
            raise store_failed(exc) from None
        raise PreconditionError(f"no {alias} version of model {name!r} to serve",
                                hint="run `salesops train submit` first") from None


@dataclass
class Scorer:
    name: str
    version: str
    pyfunc: object
    columns: list[str]  # the model's inputs, in signature order
    dtypes: dict[str, np.dtype]
    #: whether the model answers P10, P50 and P90 (models since the quantile heads)
    has_quantiles: bool = False
    fast: Callable[[pd.DataFrame], np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, settings: Settings, version: str) -> Scorer:
        import mlflow.pyfunc

        from salesops.training.tracking import Tracking

        Tracking.open(settings, read_only=True)
        name = settings.mlflow.model_name
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        schema = model.metadata.get_input_schema()
        if schema is None or not schema.has_input_names():
            # every model `train submit` logs has one; without it the inputs are unknown
            raise DataError(f"model {name!r} v{version} has no input signature naming its "
                            "columns; train it with `salesops train submit`")
        dtypes = {column: np.dtype(kind.to_numpy())
                  for column, kind in schema.input_types_dict().items()}
        outputs = model.metadata.get_output_schema()
        named = outputs is not None and outputs.has_input_names()
        quantiles = named and set(QUANTILE_COLUMNS) <= set(outputs.input_names())
        return cls(name, version, model, list(dtypes), dtypes, quantiles)

    @property
    def features(self) -> list[str]:
        """The inputs that come from the feature store: all but the entity keys."""
        return [column for column in self.columns if column not in KEYS]

    def frame(self, stores: np.ndarray, depts: np.ndarray, features: np.ndarray) -> pd.DataFrame:
        """The model's input frame for entities whose feature rows (`self.features` order)
        are `features`."""
        values = dict(zip(self.features, features.T))
        values.update(store=stores, dept=depts)
        return pd.DataFrame({column: values[column].astype(self.dtypes[column], copy=False)
                             for column in self.columns})

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A user's frame as the model's input frame; DataError names what does not fit."""
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise DataError(f"missing model input column(s): {', '.join(missing)}")
        try:
            X = frame[self.columns].to_numpy(np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"model input columns must be numeric: {exc}") from None
        bad = [name for name, ok in zip(self.columns, np.isfinite(X).all(axis=0)) if not ok]
        if bad:
            raise DataError(f"missing or non-finite values in column(s): {', '.join(bad)}")
        return pd.DataFrame({column: X[:, i].astype(self.dtypes[column], copy=False)
                             for i, column in enumerate(self.columns)})

    def predict(self, frame: pd.DataFrame) -> Forecasts:
        """Forecasts for a frame from `frame` or `conform`."""
        predict = self.fast or self.pyfunc.predict
        return read_output(predict(frame))

    def enable_fast_path(self, probe: pd.DataFrame) -> bool:
        """Call the PythonModel directly if it equals `pyfunc.predict` on `probe` (real rows),
        as one batch and row by row."""
        if probe.empty:
            return False
        try:
            python_model = self.pyfunc.unwrap_python_model()
        except (AttributeError, ValueError):  # not a PythonModel flavor
            return False
        fast = lambda frame: python_model.predict(None, frame)  # noqa: E731
        checks = [probe] + [probe.iloc[i:i + 1].reset_index(drop=True)
                            for i in range(min(len(probe), 8))]
        for rows in checks:
            try:
                same = read_output(fast(rows)).equals(read_output(self.pyfunc.predict(rows)))
            except Exception as exc:  # the direct call does not work like pyfunc's: skip it
                log.warning("calling the model directly failed (%s); using pyfunc.predict", exc)
                return False
            if not same:
                log.warning("the model called directly differs from pyfunc.predict; using pyfunc")
                return False
        self.fast = fast
        return True
