"""What `drift` compares: the champion's lineage, the two windows and how rows are matched.

Reference (default): the weeks the champion was trained on, found through its run: every
feature week before the run's `holdout_start` param. Current (default): the newest
`drift.current_weeks` weeks of the feature store (the week being forecast included). Both
can be given as ISO date ranges instead (inclusive; an open end means "from the start" or
"to the end").

Two corrections keep a comparison meaningful rather than a restatement of the calendar:

* **Season matching.** A few weeks of December are not drawn from the same distribution as
  a whole year of sales, temperatures or markdowns, drifted or not. The reference is
  narrowed to the weeks of the year that the current window covers (± `SEASON_SLACK`
  weeks), i.e. the same season in the training years, when it holds at least
  `drift.min_rows` rows there; otherwise the whole reference is used and a note says so.
* **Series levels.** Departments sell from hundreds to hundreds of thousands a week, so a
  40 % fall in demand hardly moves the pooled distribution of raw sales. Sales-valued
  features (lags, window means and deviations) and predictions are compared divided by
  their series' mean weekly sales over the reference window. Markdown dollars, which scale
  with a store's floor space, likewise by the store's mean markdown spend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from salesops.config import Settings
from salesops.errors import DataError, PreconditionError, UsageError
from salesops.features.schema import DEPT_FEATURES, STORE_FEATURES, TARGET, TIMESTAMP
from salesops.training.inputs import ID_COLUMNS
from salesops.workspace import Workspace

SEASON_SLACK = 1
LEVEL_FLOOR = 1.0


@dataclass
class Champion:
    name: str
    version: str
    run_id: str
    features: list[str]  # the model's input features, without the entity ids
    holdout_start: pd.Timestamp
    holdout_wape: float | None


@dataclass
class Windows:
    dept: pd.DataFrame  # dept_weekly rows of both windows, with a `window` column
    store: pd.DataFrame  # store_weekly rows of both windows, with a `window` column
    target: pd.DataFrame  # sales_target (all weeks): actuals for served predictions
    levels: pd.Series  # mean weekly sales per (store, dept) over the reference weeks
    markdown_levels: pd.Series  # mean weekly markdown dollars per store, reference weeks
    reference_range: tuple[str, str]
    current_range: tuple[str, str]
    season_weeks: list[int] | None  # weeks of the year the reference was narrowed to
    notes: list[str] = field(default_factory=list)


#: the offline tables drift reads, with their columns (those `features build` writes)
TABLES: dict[str, list[str]] = {
    "dept_weekly": ["store", "dept", TIMESTAMP, *DEPT_FEATURES],
    "store_weekly": ["store", TIMESTAMP, *STORE_FEATURES],
    "sales_target": ["store", "dept", TIMESTAMP, TARGET],
}
_NO_FEATURES = ("no feature store to monitor",
                "run `salesops infra up` and `salesops features build`")


def require_features(settings: Settings) -> Workspace:
    """The workspace, once the profile's offline store has a build: read through the store,
    so that a run in a fresh workspace (a pod) sees the server's build on `postgres`."""
    from salesops.stores import offline_store

    workspace = Workspace(settings.workspace)
    if offline_store(settings).read_manifest(workspace) is None:
        raise PreconditionError(_NO_FEATURES[0], hint=_NO_FEATURES[1])
    return workspace


def read_tables(settings: Settings) -> dict[str, pd.DataFrame]:
    """The last build's tables drift compares, from the profile's offline store."""
    from salesops.stores import offline_store

    store, workspace = offline_store(settings), Workspace(settings.workspace)
    frames = {name: store.read_table(workspace, name, columns)
              for name, columns in TABLES.items()}
    if any(frame is None for frame in frames.values()):
        raise PreconditionError(_NO_FEATURES[0], hint=_NO_FEATURES[1])
    return frames


def find_champion(settings: Settings) -> Champion | None:
    """The champion's version, run, input features and holdout; None without one."""
    import mlflow

    from salesops.training import registry
    from salesops.training.tracking import Tracking

    Tracking.open(settings, read_only=True)  # drift reads; it never creates a store
    name = settings.mlflow.model_name
    found = registry.champion_run(name)
    if found is None:
        return None
    version, run = found
    info = mlflow.models.get_model_info(f"models:/{name}/{version}")
    features = [c for c in info.signature.inputs.input_names() if c not in ID_COLUMNS]
    return Champion(name, version, run.info.run_id, features,
                    pd.Timestamp(run.data.params["holdout_start"], tz="UTC"),
                    run.data.metrics.get("holdout_wape"))


def load_windows(settings: Settings, champion: Champion | None, reference: tuple, current: tuple,
                 ) -> Windows:
    """`reference` and `current`: (from, to) dates, None for the default or an open end."""
    tables = read_tables(settings)
    dept, store, target = (tables[name] for name in TABLES)
    weeks = pd.DatetimeIndex(np.sort(dept[TIMESTAMP].unique()))
    ref_weeks, cur_weeks, notes = select_weeks(weeks, champion, reference, current,
                                               settings.drift.current_weeks)
    levels = _series_levels(target, ref_weeks)
    markdown_levels = _markdown_levels(store, ref_weeks)
    ref_compare, season_weeks, note = match_season(ref_weeks, cur_weeks, dept[TIMESTAMP],
                                                   settings.drift.min_rows)
    notes += [note] if note else []

    def tag(frame: pd.DataFrame) -> pd.DataFrame:
        window = np.where(frame[TIMESTAMP].isin(cur_weeks), "current",
                          np.where(frame[TIMESTAMP].isin(ref_compare), "reference", ""))
        return frame.assign(window=window)[window != ""].reset_index(drop=True)

    return Windows(tag(dept), tag(store), target, levels, markdown_levels, _range(ref_weeks),
                   _range(cur_weeks), season_weeks, notes)


def select_weeks(weeks: pd.DatetimeIndex, champion: Champion | None, reference: tuple,
                 current: tuple, current_weeks: int,
                 ) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex, list[str]]:
    """(reference weeks, current weeks, notes) among the feature store's `weeks`."""
    if reference == (None, None):
        if champion is None:
            raise PreconditionError("no champion model, so no default reference window",
                                    hint="run `salesops train submit`, or give "
                                    "--reference-from/--reference-to")
        ref_weeks = weeks[weeks < champion.holdout_start]
    else:
        ref_weeks = _select(weeks, reference, "--reference")
    if current == (None, None):
        cur_weeks = weeks[-current_weeks:]
    else:
        cur_weeks = _select(weeks, current, "--current")
    if ref_weeks.empty or cur_weeks.empty:
        which = "reference" if ref_weeks.empty else "current"
        raise DataError(f"the {which} window holds no feature weeks "
                        f"(the store has {weeks[0].date()} … {weeks[-1].date()})")
    overlap = ref_weeks.intersection(cur_weeks)
    notes = [f"the windows share {len(overlap)} weeks; drift there cannot show"] if len(
        overlap) else []
    return ref_weeks, cur_weeks, notes


def match_season(ref_weeks: pd.DatetimeIndex, cur_weeks: pd.DatetimeIndex,
                 row_weeks: pd.Series, min_rows: int,
                 ) -> tuple[pd.DatetimeIndex, list[int] | None, str | None]:
    """(the reference weeks compared, the weeks of the year they were narrowed to or None,
    a note): the same season as the current window when it holds `min_rows` rows
    (`row_weeks`: one entry per feature row), else the whole reference."""
    season = sorted(set(cur_weeks.isocalendar().week.astype(int)))
    matched = ref_weeks[_in_season(ref_weeks, season)]
    matched_rows = int(row_weeks.isin(matched).sum())
    if matched_rows >= min_rows and len(matched) < len(ref_weeks):
        return matched, season, None
    if len(matched) < len(ref_weeks):
        return ref_weeks, None, ("the reference does not cover the current weeks of the year: "
                                 "compared with the whole reference, seasonal features may "
                                 "look drifted")
    return ref_weeks, None, None


def _markdown_levels(store: pd.DataFrame, ref_weeks: pd.DatetimeIndex) -> pd.Series:
    """Mean weekly markdown dollars per store over the reference weeks they were known."""
    ref_store = store[store[TIMESTAMP].isin(ref_weeks)]
    if "markdown_known" in ref_store:  # weeks whose markdowns were not recorded read 0
        ref_store = ref_store[ref_store["markdown_known"] == 1]
    return ref_store.groupby("store")["markdown_total"].mean().clip(lower=LEVEL_FLOOR)


def level_of(frame: pd.DataFrame, windows: Windows) -> np.ndarray:
    """Each row's series level (NaN for a series the reference never saw)."""
    index = pd.MultiIndex.from_frame(frame[["store", "dept"]].astype("int64"))
    return windows.levels.reindex(index).to_numpy(dtype=np.float64)


def _in_season(weeks: pd.DatetimeIndex, season: list[int]) -> np.ndarray:
    """Whether each week's week of the year is within SEASON_SLACK of one in `season`."""
    woy = weeks.isocalendar().week.to_numpy(dtype=int)
    distance = np.abs(woy[:, None] - np.asarray(season)[None, :])
    distance = np.minimum(distance, 52 - distance)
    return (distance <= SEASON_SLACK).any(axis=1)


def _series_levels(target: pd.DataFrame, ref_weeks: pd.DatetimeIndex) -> pd.Series:
    rows = target[target[TIMESTAMP].isin(ref_weeks)]
    if rows.empty:  # a reference of future weeks only: fall back to every known week
        rows = target
    return rows.groupby(["store", "dept"])[TARGET].mean().clip(lower=LEVEL_FLOOR)


def _select(weeks: pd.DatetimeIndex, bounds: tuple, flag: str) -> pd.DatetimeIndex:
    start, end = (pd.Timestamp(b, tz="UTC") if b is not None else None for b in bounds)
    if start is not None and end is not None and start > end:
        raise UsageError(f"{flag}-from {bounds[0]} is after {flag}-to {bounds[1]}")
    keep = np.ones(len(weeks), dtype=bool)
    if start is not None:
        keep &= weeks >= start
    if end is not None:
        keep &= weeks <= end + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return weeks[keep]


def _range(weeks: pd.DatetimeIndex) -> tuple[str, str]:
    return weeks[0].date().isoformat(), weeks[-1].date().isoformat()


def parse_date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{flag} {value!r}: expected an ISO date, e.g. 2024-06-07") from None
