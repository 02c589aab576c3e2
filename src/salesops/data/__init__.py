"""Sales data: the `SalesDataset` contract, the synthetic generator, the Walmart CSV loader.

The names below load on first use (PEP 562): `data.calendar` holds the holiday names that
the light feature schema reads, and importing it must not pull in pandas through here.
"""

from importlib import import_module

_WHERE = {"HOLIDAYS": "calendar", "holiday_calendar": "calendar", "SalesDataset": "dataset",
          "generate": "synthetic"}

__all__ = ["HOLIDAYS", "SalesDataset", "generate", "holiday_calendar"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"salesops.data.{_WHERE[name]}"), name)
