"""Next-week feature rows by (store, dept), as the Feast online store serves them.

Why a snapshot instead of one `get_online_features` call per request: measured on the
embedded profile (SQLite online store, Feast 0.67, 2 cores), one call for one entity takes
about 0.35 ms, which would fit the budget, but (1) the SQL registry's cache expires every
`cache_ttl_seconds` and the next call then re-reads the registry on the request path, (2) a
`features build` running beside the server rewrites the online rows while it materializes,
so a request could see some views of the new week and some of the old, and (3) a batch of
1,000 entities costs ~50 ms. So the server asks Feast once for every series the offline
store knows (one `get_online_features` call with the `inference_features` service, ~35 ms
for 630 series) and keeps the answer as a matrix indexed by (store, dept). A background
thread watches the build manifest, which `features build` writes last, after materializing;
when it changes, the registry is refreshed, the snapshot rebuilt and swapped in one
assignment. Values come from Feast itself, so they are exactly what `get_online_features`
returns. A key missing from the snapshot is asked of Feast directly before it is refused:
the snapshot speeds things up, Feast stays the authority on what exists.

A row is served only when every view has it and every value is present: an entity without
a row in some view is unknown, and a null value is refused too, never filled in.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from salesops.errors import PreconditionError
from salesops.config import Settings
from salesops.features.feast_ops import quiet_feast
from salesops.serving.entities import BadRequest
from salesops.workspace import Workspace

if TYPE_CHECKING:
    from feast import FeatureStore

SERVICE = "inference_features"
#: Feast's suffix for a feature's event timestamp in `to_dict(include_event_timestamps=True)`
TS_SUFFIX = "__ts"
CHUNK = 10_000
log = logging.getLogger("salesops.serving")


class UnknownEntities(BadRequest):
    """Some requested (store, dept) pairs have no complete online feature row."""


@dataclass(frozen=True)
class Rows:
    stores: np.ndarray  # int64
    depts: np.ndarray  # int64
    features: np.ndarray  # float64, columns in `OnlineFeatures.features` order (NaN: no value)
    weeks: np.ndarray  # datetime64[s]: the week each row forecasts
    present: np.ndarray | None = None  # bool, like `features`: the view has a row (from Feast)

    def take(self, positions: np.ndarray) -> Rows:
        return Rows(self.stores[positions], self.depts[positions], self.features[positions],
                    self.weeks[positions])


@dataclass(frozen=True)
class Snapshot:
    stamp: tuple | None
    index: dict[tuple[int, int], int]
    rows: Rows


class OnlineFeatures:
    def __init__(self, store: FeatureStore, workspace: Workspace, features: list[str],
                 ttl_days: int, poll_s: float = 1.0, settings: Settings | None = None) -> None:
        self.store = store
        self.workspace = workspace
        #: on the `postgres` profile the known series come from the server (a pod has no
        #: workspace files); None: the workspace's files
        self.settings = settings
        self.features = list(features)
        self.ttl = timedelta(days=ttl_days)
        self.poll_s = poll_s
        self._feast_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed_stamp: tuple | None = None
        self._load_service()
        self.snapshot = self._build(self._stamp())

    # -- request path -------------------------------------------------------------------
    def lookup(self, stores: np.ndarray, depts: np.ndarray) -> Rows:
        snapshot = self.snapshot  # one read: a refresh swaps the whole object
        positions = np.fromiter(
            (snapshot.index.get(key, -1) for key in zip(stores.tolist(), depts.tolist())),
            np.int64, len(stores))
        hit = positions >= 0
        if hit.all():
            return snapshot.rows.take(positions)
        found = self._fetch(stores[~hit], depts[~hit])
        servable = _servable(found)
        if not servable.all():
            raise UnknownEntities(self._describe(found, ~servable))
        features = np.empty((len(stores), len(self.features)))
        weeks = np.empty(len(stores), "M8[s]")
        features[hit] = snapshot.rows.features[positions[hit]]
        weeks[hit] = snapshot.rows.weeks[positions[hit]]
        features[~hit], weeks[~hit] = found.features, found.weeks
        return Rows(stores, depts, features, weeks)

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
            stamp = self._stamp()
            if stamp == self.snapshot.stamp or stamp == self._failed_stamp:
                continue
            try:
                with self._feast_lock, quiet_feast(self.workspace):
                    self.store.refresh_registry()
                self._load_service()
                self.snapshot = self._build(stamp)
                log.info("online features reloaded after `features build`: %d series",
                         self.size)
            except Exception as exc:  # keep serving the previous snapshot
                self._failed_stamp = stamp
                log.error("online features reload failed, keeping the previous rows: %s", exc)

    def _stamp(self) -> tuple | None:
        try:
            stat = self.workspace.build_manifest.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _build(self, stamp: tuple | None) -> Snapshot:
        found = self._fetch(*self._known_series())
        rows = found.take(np.flatnonzero(_servable(found)))
        keys = zip(rows.stores.tolist(), rows.depts.tolist())
        return Snapshot(stamp, {key: position for position, key in enumerate(keys)}, rows)

    def _known_series(self) -> tuple[np.ndarray, np.ndarray]:
        """(store, dept) pairs that may be online: those with offline rows inside the TTL
        before the week the last build materialized."""
        none = np.empty(0, np.int64), np.empty(0, np.int64)
        if self.settings is not None and self.settings.feature_store.profile == "postgres":
            from salesops.features.offline import read_manifest
            from salesops.features.postgres import pg_target, read_table

            manifest = read_manifest(self.settings, self.workspace) or {}
            if "next_week" not in manifest:
                return none
            since = pd.Timestamp(manifest["next_week"]) - self.ttl
            rows = read_table(pg_target(self.settings), "dept_weekly",
                              ["store", "dept", "event_timestamp"])
            keys = rows.loc[rows["event_timestamp"] >= since, ["store", "dept"]]
        else:
            manifest = self.workspace.read_json(self.workspace.build_manifest) or {}
            path = self.workspace.offline_data / "dept_weekly.parquet"
            if "next_week" not in manifest or not path.is_file():
                return none
            since = pd.Timestamp(manifest["next_week"]) - self.ttl
            keys = pd.read_parquet(path, columns=["store", "dept"],
                                   filters=[("event_timestamp", ">=", since)])
        keys = keys.drop_duplicates()
        return keys["store"].to_numpy(np.int64), keys["dept"].to_numpy(np.int64)

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

    def _fetch(self, stores: np.ndarray, depts: np.ndarray) -> Rows:
        """What Feast has for the keys: values (NaN where none) and which views had a row."""
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
        # the week forecast: the newest row's timestamp (all views hold the same week)
        return Rows(stores, depts, features, seconds.max(axis=1, initial=0).astype("M8[s]"),
                    present=seconds > 0)

    def _describe(self, found: Rows, refused: np.ndarray) -> str:
        problems = []
        for position in np.flatnonzero(refused):
            absent = ~found.present[position]
            null = found.present[position] & ~np.isfinite(found.features[position])
            where = f"store={found.stores[position]}, dept={found.depts[position]}"
            if absent.any():
                views = sorted({self._views[name] for name, gone in zip(self.features, absent)
                                if gone})
                problems.append(f"{where} is unknown (no online row in {', '.join(views)})")
            else:
                names = [name for name, gone in zip(self.features, null) if gone]
                problems.append(f"{where} has no online value for {', '.join(names)}")
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        return ("; ".join(problems[:3]) + more
                + "; only series complete in the last `salesops features build` can be forecast")


def _servable(rows: Rows) -> np.ndarray:
    return rows.present.all(axis=1) & np.isfinite(rows.features).all(axis=1)
