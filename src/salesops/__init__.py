"""salesops: the whole life of a retail demand-forecasting model, from one CLI."""

from salesops import feast_torch, feast_typechecks

__version__ = "0.1.0"

feast_typechecks.install()
feast_torch.install()
