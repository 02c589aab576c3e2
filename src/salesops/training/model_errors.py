"""What the model's own code (`demand_forecaster`, free of salesops) raises, as salesops'
errors: feature rows or a training matrix it cannot read are a DataError (exit 3)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from demand_forecaster.inputs import InputError
from salesops.errors import DataError


@contextlib.contextmanager
def data_errors() -> Iterator[None]:
    try:
        yield
    except InputError as exc:
        raise DataError(str(exc)) from None
