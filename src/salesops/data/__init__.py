"""Sales data: the `SalesDataset` contract, the synthetic generator, the Walmart CSV loader.

Importing this package is cheap (numpy and pandas only); heavy libraries live elsewhere.
"""

from salesops.data.calendar import HOLIDAYS, holiday_calendar
from salesops.data.dataset import SalesDataset
from salesops.data.synthetic import generate

__all__ = ["HOLIDAYS", "SalesDataset", "generate", "holiday_calendar"]
