"""Next-week feature rows by (store, dept), as the Feast online store serves them.

Why a snapshot instead of one `get_online_features` call per request: measured on the
embedded profile (SQLite online store, Feast 0.67, 2 cores), one call for one entity takes
about 0.35 ms, which would fit the budget, but (1) the SQL registry's cache expires every
`cache_ttl_seconds` and the next call then re-reads the registry on the request path, (2) a
`features build` running beside the server rewrites the online rows while it materializes,
so a request could see some views of the new week and some of the old, and (3) a batch of
1,000 entities costs ~50 ms. So the server asks Feast once for every series the last build
forecasts (one `get_online_features` call with the `inference_features` service, ~35 ms
for 630 series) and keeps the answer as a matrix indexed by (store, dept). A background
thread watches the build manifest, which changes when `features build` switches to a new
generation (manifest, offline files and online rows together); then the store is reopened
on the new generation, the snapshot rebuilt and swapped in one assignment. Values come
from Feast itself, so they are exactly what `get_online_features` returns.

Which series are served is the build's series table's word, not Feast's (see
`forecastable`): a key outside the snapshot is refused, never looked up in Feast, whose
online store may still hold rows of series that earlier builds wrote. A row is served only
when every view has it for the manifest's next week and every value is present: a row of
another week is stale, and a null value is refused too, never filled in.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from salesops.errors import PreconditionError
from salesops.config import Settings
from salesops.features.feast_ops import open_store, quiet_feast
from salesops.forecasts import Forecasts
from salesops.serving import forecastable
from salesops.serving.entities import BadRequest
from salesops.stores import offline_store
from salesops.workspace import Workspace

if TYPE_CHECKING:
    from feast import FeatureStore

SERVICE = "inference_features"
#: Feast's suffix for a feature's event timestamp in `to_dict(include_event_timestamps=True)`
TS_SUFFIX = "__ts"
CHUNK = 10_000
REBUILD = "rerun `salesops features build`"
log = logging.getLogger("salesops.serving")


class UnknownEntities(BadRequest):
    """Some requested (store, dept) pairs are not forecast; the message says why for each."""


@dataclass(frozen=True)
class Rows:
    stores: np.ndarray  # int64
    depts: np.ndarray  # int64
    features: np.ndarray  # float64, columns in `OnlineFeatures.features` order (NaN: no value)
    weeks: np.ndarray  # datetime64[s]: the week each row forecasts
    #: the served model's forecasts of these rows, scored with the snapshot (`score`)
    forecasts: Forecasts | None = None

    def take(self, positions: np.ndarray) -> Rows:
        return Rows(self.stores[positions], self.depts[positions], self.features[positions],
                    self.weeks[positions],
                    None if self.forecasts is None else self.forecasts.take(positions))


@dataclass(frozen=True)
class Snapshot:
    stamp: Hashable | None
    index: dict[tuple[int, int], int]
    rows: Rows
    #: series of the build that are not served, and why (any other key is unknown)
    refusals: dict[tuple[int, int], str] = field(default_factory=dict)


class OnlineFeatures:
    """`score`, where given, forecasts every served row in one batch whenever a snapshot is
    built (at start and at each reload): between two builds a series' next-week forecast by
    one model version is a function of its key alone, so a request needs only the lookup.
    A snapshot whose scoring fails is not swapped in, like one whose features fail."""

    def __init__(self, store: FeatureStore, workspace: Workspace, features: list[str],
                 poll_s: float = 1.0, *, settings: Settings,
                 score: Callable[[Rows], Forecasts] | None = None) -> None:
        self.store = store
        self.workspace = workspace
        #: where the build's manifest and series table are read (on the `postgres` profile
        #: from the server: a pod has no workspace files)
        self.settings = settings
        self.features = list(features)
        self.poll_s = poll_s
        self._feast_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed_stamp: Hashable | None = None
        self._offline = offline_store(settings)
        self._score = score
        self._load_service()
        self.snapshot = self._build(self._stamp())

    # -- request path -------------------------------------------------------------------
    def lookup(self, stores: np.ndarray, depts: np.ndarray) -> Rows:
        """Every key's row; any key that cannot be forecast refuses the whole request."""
        snapshot, keys, positions = self._find(stores, depts)
        missing = positions < 0
        if missing.any():
            refused = [key for key, gone in zip(keys, missing.tolist()) if gone]
            raise UnknownEntities(forecastable.refused(refused, snapshot.refusals))
        return snapshot.rows.take(positions)

    def lookup_servable(self, stores: np.ndarray, depts: np.ndarray,
                        ) -> tuple[Rows, np.ndarray, list[str | None]]:
        """For a batch file, where ended series are common: the rows of the keys that can be
        forecast, which keys those are (a mask), and why each other one is refused."""
        snapshot, keys, positions = self._find(stores, depts)
        served = positions >= 0
        reasons = [None if ok else forecastable.refused([key], snapshot.refusals)
                   for key, ok in zip(keys, served.tolist())]
        return snapshot.rows.take(positions[served]), served, reasons

    def _find(self, stores: np.ndarray, depts: np.ndarray):
        snapshot = self.snapshot  # one read: a refresh swaps the whole object
        keys = list(zip(stores.tolist(), depts.tolist()))
        positions = np.fromiter((snapshot.index.get(key, -1) for key in keys), np.int64,
                                len(keys))
        return snapshot, keys, positions

    @property
    def size(self) -> int:
        return len(self.snapshot.index)

    # -- refresh ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="online-features", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                stamp = self._stamp()
            except Exception as exc:  # the database is away: keep serving what we have
                log.warning("online features: cannot tell whether a new build exists: %s", exc)
                continue
            if stamp == self.snapshot.stamp or stamp == self._failed_stamp:
                continue
            try:
                # a new store, not `refresh_registry`: Feast's SQLite online store keeps its
                # connection, i.e. the previous generation's file (see `stores.generation`)
                store = open_store(self.workspace)
                with self._feast_lock:
                    self.store = store
                self._load_service()
                self.snapshot = self._build(stamp)
                log.info("online features reloaded after `features build`: %d series",
                         self.size)
            except Exception as exc:  # keep serving the previous snapshot
                self._failed_stamp = stamp
                log.error("online features reload failed, keeping the previous rows: %s", exc)

    def _stamp(self) -> Hashable | None:
        """The offline store's: the manifest file's, or on the `postgres` profile the
        server's manifest (a pod has no workspace files, and a build made elsewhere must
        reach it)."""
        return self._offline.build_stamp(self.workspace)

    def _build(self, stamp: tuple | None) -> Snapshot:
        series = forecastable.read_forecastable(self.settings, self.workspace)
        if series is None:  # nothing built yet
            empty = np.empty(0, np.int64)
            return Snapshot(stamp, {}, Rows(empty, empty, np.empty((0, len(self.features))),
                                            np.empty(0, "M8[s]")))
        features, seconds = self._fetch(series.stores, series.depts)
        week = series.week
        servable = ((seconds == week.astype(np.int64)).all(axis=1)
                    & np.isfinite(features).all(axis=1))
        refusals = dict(series.refusals)
        for position in np.flatnonzero(~servable):
            key = (int(series.stores[position]), int(series.depts[position]))
            refusals[key] = self._why(key, features[position], seconds[position], week)
        keep = np.flatnonzero(servable)
        rows = Rows(series.stores[keep], series.depts[keep], features[keep],
                    np.full(len(keep), week))
        if self._score is not None and len(keep):
            rows = dataclasses.replace(rows, forecasts=self._score(rows))
        keys = zip(rows.stores.tolist(), rows.depts.tolist())
        return Snapshot(stamp, {key: position for position, key in enumerate(keys)}, rows,
                        refusals)

    # -- Feast --------------------------------------------------------------------------
    def _load_service(self) -> None:
        """The feature service, and for each feature the view that serves it."""
        with self._feast_lock, quiet_feast(self.workspace):
            service = self.store.get_feature_service(SERVICE)
        views = {feature.name: projection.name for projection in service.feature_view_projections
                 for feature in projection.features}
        missing = [name for name in self.features if name not in views]
        if missing:
            raise PreconditionError(
                f"the model needs features that `{SERVICE}` does not serve: {', '.join(missing)}",
                hint="run `salesops features build`, or train a model on the current features")
        self._service, self._views = service, views

    def _fetch(self, stores: np.ndarray, depts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What Feast has for the keys: values (NaN where none) and each value's event
        timestamp in seconds (0 where the view has no row)."""
        values, stamps = [], []
        for start in range(0, len(stores), CHUNK):
            entity_rows = {"store": stores[start:start + CHUNK].tolist(),
                           "dept": depts[start:start + CHUNK].tolist()}
            with self._feast_lock, quiet_feast(self.workspace):
                answer = self.store.get_online_features(
                    features=self._service, entity_rows=entity_rows,
                ).to_dict(include_event_timestamps=True)
            values.append(np.array([answer[name] for name in self.features], np.float64).T)
            stamps.append(np.array([answer[name + TS_SUFFIX] for name in self.features],
                                   np.int64).T)
        width = len(self.features)
        features = np.concatenate(values) if values else np.empty((0, width))
        seconds = np.concatenate(stamps) if stamps else np.empty((0, width), np.int64)
        return features, seconds

    def _why(self, key: tuple[int, int], values: np.ndarray, seconds: np.ndarray,
             week: np.datetime64) -> str:
        """Why a current series' online row is not served."""
        where = forecastable.where(key)
        absent = seconds == 0
        if absent.any():
            views = ", ".join(self._views_of(absent))
            return f"{where} has no online row in {views}; {REBUILD}"
        stale = seconds != week.astype(np.int64)
        if stale.any():
            found = np.datetime_as_string(seconds[stale].astype("M8[s]"), unit="D")
            return (f"{where} has a stale online row in {', '.join(self._views_of(stale))} "
                    f"(week {min(found)}, not {np.datetime_as_string(week, unit='D')}); "
                    f"{REBUILD}")
        null = [name for name, ok in zip(self.features, np.isfinite(values)) if not ok]
        return f"{where} has no online value for {', '.join(null)}"

    def _views_of(self, columns: np.ndarray) -> list[str]:
        return sorted({self._views[name] for name, hit in zip(self.features, columns) if hit})
