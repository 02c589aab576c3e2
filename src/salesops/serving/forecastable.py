"""Which series the server forecasts, and why it refuses the others.

The authority is the last build's series table (`engineering.series_table`), not Feast:
the online store has no per-entity delete, so rows written by earlier builds stay there,
of a store a later build left out, or of a series that has ended since. Such a row can
even carry the very week to forecast, when the data's last week did not move. So a series
is forecast only when the current build says `current`; an `ended` or `short` one is
refused with its reason, and one the build does not list is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesops.config import Settings
from salesops.errors import PreconditionError
from salesops.features.schema import MIN_HISTORY_WEEKS
from salesops.workspace import Workspace

Key = tuple[int, int]
#: refusals named in one message; the rest are counted
SHOWN = 3
WEEK = pd.Timedelta(weeks=1)


@dataclass(frozen=True)
class Forecastable:
    next_week: pd.Timestamp  # the week every forecast is for (the build manifest's)
    stores: np.ndarray  # int64: the current series, in the series table's order
    depts: np.ndarray
    refusals: dict[Key, str]  # the ended and short series, each with why

    @property
    def week(self) -> np.datetime64:
        """`next_week` as Feast stamps rows: UTC seconds."""
        return np.datetime64(self.next_week.tz_convert("UTC").tz_localize(None), "s")


def read_forecastable(settings: Settings, workspace: Workspace) -> Forecastable | None:
    """The last build's forecastable series; None before the first build."""
    from salesops.features.offline import read_manifest, read_series

    manifest = read_manifest(settings, workspace)
    if not manifest or "next_week" not in manifest:
        return None
    series = read_series(settings, workspace)
    if series is None:
        raise PreconditionError("the last `salesops features build` wrote no series table "
                                "(it predates it)", hint="rerun `salesops features build`")
    next_week = pd.Timestamp(manifest["next_week"])
    next_week = next_week.tz_localize("UTC") if next_week.tzinfo is None else next_week
    current = series["status"].eq("current").to_numpy()
    # a build replaces the tables before it writes the manifest: a reader between the two
    # would pair the new series with the old week
    if (series.loc[current, "last_week"] != next_week - WEEK).any():
        raise PreconditionError(
            "the series table and the build manifest come from different builds",
            hint="wait for the running `salesops features build` to finish, or rerun it")
    ended_after = (manifest.get("policies") or {}).get("ended_after_weeks")
    refusals = {}
    for row in series[~current].itertuples(index=False):
        key = (int(row.store), int(row.dept))
        refusals[key] = (ended(key, row.last_week, ended_after) if row.status == "ended"
                         else short(key, row.weeks))
    return Forecastable(next_week, series["store"].to_numpy(np.int64)[current],
                        series["dept"].to_numpy(np.int64)[current], refusals)


def where(key: Key) -> str:
    return f"store={key[0]}, dept={key[1]}"


def ended(key: Key, last_week: pd.Timestamp, ended_after: int | None) -> str:
    recent = f"in the last {ended_after} weeks" if ended_after else "in the data's last weeks"
    return (f"{where(key)} has ended: its last sales week is {last_week:%Y-%m-%d}; series "
            f"without sales {recent} are not forecast (data.ended_after_weeks)")


def short(key: Key, weeks: int) -> str:
    return (f"{where(key)} has only {weeks} weeks of history; a forecast needs "
            f"{MIN_HISTORY_WEEKS}")


def unknown(key: Key) -> str:
    return f"{where(key)} is unknown: the last `salesops features build` has no such series"


def refused(keys: Iterable[Key], refusals: dict[Key, str]) -> str:
    """One line naming each refused series (the first SHOWN) and why."""
    problems = [refusals.get(key) or unknown(key) for key in dict.fromkeys(keys)]
    more = f" (+{len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
    return "; ".join(problems[:SHOWN]) + more
