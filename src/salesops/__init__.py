"""salesops: the whole life of a retail demand-forecasting model, from one CLI."""

__version__ = "0.1.0"
