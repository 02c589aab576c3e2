"""A Feast offline store whose point-in-time join is one DuckDB ASOF JOIN per feature view.

Feast's own DuckDB store (`type: duckdb`) joins through ibis: every feature row is inner-joined
with every entity row of its keys whose timestamp it precedes, and the matches are ranked and
deduplicated on a string id made of all the entity values. At 1M entity rows that takes 6-20 s
and 2.4 GB; at 10M it does not fit in 24 GB. An ASOF join finds, for each entity row, the
latest feature row at or before it in one sorted pass, which is exactly Feast's rule; the
view's TTL then blanks a match older than `entity time - ttl` (the latest row is too old only
if every row is). Feast's semantics are kept, and a differential test holds them equal:

- a feature row applies to entity rows at or after its timestamp, within the view's TTL
  (`ttl = 0` or none: no limit); rows with no such feature row get nulls;
- of several feature rows at the same timestamp, the one created last wins when the source
  has a `created_timestamp_column` (otherwise Feast's choice among them is arbitrary too);
- naive entity timestamps are UTC; the entity frame's columns all come back, plus the
  features, named `feature` or `view__feature` (`full_feature_names`).

Rows come back in no particular order, as from Feast's stores, or sorted by the columns a
caller names (`to_record_batches(order_by=...)`: sorting is DuckDB's, not pandas'). The
result streams out of DuckDB as Arrow record batches (`RecordBatchReader`, `to_parquet`)
without a pandas copy; `to_df` converts column by column, releasing the Arrow buffers as it
goes. DuckDB spills its sorts to `temp_directory` past `memory_limit`.

Anything this join does not cover falls back to Feast's DuckDB store unchanged: an entity
frame given as SQL, sources other than local parquet files, `filter_by_created_timestamp`
with a created column, views without join keys and substrait on-demand views.

Configure it by class path (Feast derives the config class from the name):
`offline_store: {type: salesops.stores.asof_offline.AsofDuckDBOfflineStore}`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.offline_stores.file_source import FileSource, SavedDatasetFileStorage
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.offline_stores.offline_utils import (
    assert_expected_columns_in_entity_df,
    get_expected_join_keys,
    infer_event_timestamp_from_entity_df,
)
from feast.on_demand_feature_view import OnDemandFeatureView

if TYPE_CHECKING:
    import pandas as pd
    from feast.feature_view import FeatureView
    from feast.infra.registry.base_registry import BaseRegistry
    from feast.repo_config import RepoConfig
    from feast.saved_dataset import SavedDatasetStorage

TYPE = "salesops.stores.asof_offline.AsofDuckDBOfflineStore"
_REMOTE = ("s3://", "s3a://", "gs://", "az://", "abfs://", "http://", "https://", "hf://")


class AsofDuckDBOfflineStoreConfig(DuckDBOfflineStoreConfig):
    type: Literal["salesops.stores.asof_offline.AsofDuckDBOfflineStore"] = TYPE
    #: DuckDB's memory limit for the join (e.g. "4GB"); DuckDB's default is 80 % of RAM
    memory_limit: str | None = None
    #: where the join spills past the limit; default: a folder in the system's temp dir
    temp_directory: str | None = None
    #: DuckDB's worker threads; default: one per core
    threads: int | None = None


@dataclass(frozen=True)
class _View:
    """One feature view's part of the join: where its rows are and what to take."""

    path: str
    keys: dict[str, str]  # source column -> entity frame column
    timestamp: str  # source column
    created: str | None  # source column
    features: dict[str, str]  # output name -> source column
    ttl: timedelta | None


class AsofDuckDBOfflineStore(DuckDBOfflineStore):
    """Feast's DuckDB store with the point-in-time join done by ASOF JOIN (module docstring);
    reads, writes, materialization and monitoring are Feast's own."""

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
    ) -> RetrievalJob:
        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        views = None
        if not isinstance(entity_df, str) and not any(v.mode == "substrait" for v in odfvs):
            views = _plan(config, feature_views, feature_refs, full_feature_names,
                          filter_by_created_timestamp)
        if views is None:
            return DuckDBOfflineStore.get_historical_features(
                config, feature_views, feature_refs, entity_df, registry, project,
                full_feature_names, filter_by_created_timestamp)
        schema = dict(zip(entity_df.columns, entity_df.dtypes))
        timestamp = infer_event_timestamp_from_entity_df(schema)
        assert_expected_columns_in_entity_df(
            schema, get_expected_join_keys(project, feature_views, registry), timestamp)
        times = entity_df[timestamp]
        metadata = RetrievalMetadata(
            features=feature_refs, keys=[c for c in entity_df.columns if c != timestamp],
            min_event_timestamp=times.min().to_pydatetime() if len(times) else None,
            max_event_timestamp=times.max().to_pydatetime() if len(times) else None)
        return AsofRetrievalJob(config.offline_store, entity_df, timestamp, views, odfvs,
                                full_feature_names, metadata)


def _plan(config: RepoConfig, feature_views: list[FeatureView], feature_refs: list[str],
          full_feature_names: bool, filter_by_created: bool) -> list[_View] | None:
    """Each view's part of the join, or None when one of them needs Feast's own join."""
    views = []
    for view in feature_views:
        source = view.batch_source
        if not isinstance(source, FileSource) or type(source.file_format).__name__ not in (
                "ParquetFormat", "NoneType"):
            return None
        path = FileSource.get_uri_for_file_path(config.repo_path, source.path)
        if str(path).startswith(_REMOTE) or (filter_by_created
                                             and source.created_timestamp_column):
            return None
        keys = view.projection.join_key_map or {c.name: c.name for c in view.entity_columns}
        if not keys:
            return None
        to_source = {new: old for old, new in source.field_mapping.items()}
        prefix = view.projection.name_to_use()
        name = view.projection.name_alias or view.name
        wanted = [ref.split(":", 1)[1] for ref in feature_refs
                  if ref.startswith(f"{prefix}:")]
        views.append(_View(
            path=str(path),
            keys={to_source.get(key, key): entity for key, entity in keys.items()},
            timestamp=source.timestamp_field,
            created=source.created_timestamp_column or None,
            features={(f"{name}__{f}" if full_feature_names else f): to_source.get(f, f)
                      for f in wanted},
            ttl=view.ttl if view.ttl else None,
        ))
    return views


def asof_query(entity: str, timestamp: str, views: list[_View], columns: list[str],
               order_by: list[str] | None = None) -> str:
    """The point-in-time join of the table `entity` (with `columns`, `timestamp` among them)
    and `views`; rows in no particular order, or sorted by the output columns `order_by`."""
    q = _quote
    parts = [f"__entity AS (SELECT *, CAST({q(timestamp)} AS TIMESTAMPTZ) AS __ts "
             f"FROM {entity})"]
    joins, selected = [], [f"e.{q(c)}" for c in columns]
    for n, view in enumerate(views):
        parts.append(f"__v{n} AS ({_view_rows(view, n)})")
        match = " AND ".join([*(f"e.{q(entity_col)} = v{n}.__k{i}"
                                for i, entity_col in enumerate(view.keys.values())),
                              f"e.__ts >= v{n}.__ts"])
        joins.append(f"ASOF LEFT JOIN __v{n} v{n} ON {match}")
        fresh = (f"v{n}.__ts >= e.__ts - to_microseconds({_micros(view.ttl)})"
                 if view.ttl else None)
        for i, output in enumerate(view.features):
            value = f"v{n}.__f{i}"
            selected.append(f"{f'CASE WHEN {fresh} THEN {value} END' if fresh else value}"
                            f" AS {q(output)}")
    order = f" ORDER BY {', '.join(q(c) for c in order_by)}" if order_by else ""
    return (f"WITH {', '.join(parts)} SELECT {', '.join(selected)} FROM __entity e "
            f"{' '.join(joins)}{order}")


def _view_rows(view: _View, n: int) -> str:
    """A view's rows with its keys, timestamp and features renamed `__k*`, `__ts`, `__f*`;
    one row per (keys, timestamp), the last created, when the source says when."""
    q = _quote
    keys = [f"{q(column)} AS __k{i}" for i, column in enumerate(view.keys)]
    features = [f"{q(column)} AS __f{i}" for i, column in enumerate(view.features.values())]
    rows = (f"SELECT {', '.join([*keys, f'CAST({q(view.timestamp)} AS TIMESTAMPTZ) AS __ts', *features])}"
            f" FROM read_parquet({_literal(view.path)})")
    if view.created is None:
        return rows
    key_list = ", ".join(q(column) for column in view.keys)
    return (f"{rows} QUALIFY row_number() OVER (PARTITION BY {key_list}, {q(view.timestamp)} "
            f"ORDER BY {q(view.created)} DESC) = 1")


class AsofRetrievalJob(RetrievalJob):
    """The join's result, computed when asked for: as an Arrow table, a stream of record
    batches, a parquet file, or a pandas frame."""

    def __init__(self, config: AsofDuckDBOfflineStoreConfig | DuckDBOfflineStoreConfig,
                 entity_df: pd.DataFrame, timestamp: str, views: list[_View],
                 odfvs: list[OnDemandFeatureView], full_feature_names: bool,
                 metadata: RetrievalMetadata) -> None:
        super().__init__()
        self._config = config
        self._entity_df = entity_df
        self._query_of = lambda order_by=None: asof_query(
            "__entity_df", timestamp, views, list(entity_df.columns), order_by)
        self._odfvs = odfvs
        self._full_feature_names = full_feature_names
        self._metadata = metadata

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self._odfvs

    @property
    def metadata(self) -> RetrievalMetadata:
        return self._metadata

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(config=_settings(self._config))
        # naive entity timestamps are UTC, as in Feast, whatever the machine's time zone
        # (a setting of the ICU extension, which loads with the connection, not before)
        con.execute("SET TimeZone = 'UTC'")
        con.register("__entity_df", self._entity_df)
        return con

    def to_record_batches(self, order_by: list[str] | None = None,
                          batch_rows: int = 1 << 17) -> pa.RecordBatchReader:
        """The result as a stream of Arrow record batches, sorted by the columns `order_by`
        (DuckDB sorts, spilling past its memory limit); on-demand views are not applied."""
        con = self._connect()
        reader = con.sql(self._query_of(order_by)).to_arrow_reader(batch_rows)
        return pa.RecordBatchReader.from_batches(reader.schema, _batches(reader, con))

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        con = self._connect()
        try:
            return con.sql(self._query_of()).to_arrow_table()
        finally:
            con.close()

    def to_df(self, validation_reference=None, timeout: int | None = None) -> pd.DataFrame:
        if self._odfvs or validation_reference is not None:
            return super().to_df(validation_reference=validation_reference, timeout=timeout)
        # each column's Arrow buffers are freed once converted: one copy of the data at a time
        return self.to_arrow(timeout=timeout).to_pandas(self_destruct=True, split_blocks=True)

    def to_parquet(self, path: str | os.PathLike) -> Path:
        """Write the result to a parquet file, streamed (on-demand views not applied)."""
        con = self._connect()
        try:
            con.sql(self._query_of()).write_parquet(str(path))
        finally:
            con.close()
        return Path(path)

    def persist(self, storage: SavedDatasetStorage, allow_overwrite: bool = False,
                timeout: int | None = None) -> None:
        if not isinstance(storage, SavedDatasetFileStorage):
            raise ValueError(f"the ASOF DuckDB store persists to files, not {type(storage)}")
        path = Path(storage.file_options.uri)
        if path.exists() and not allow_overwrite:
            from feast.errors import SavedDatasetLocationAlreadyExists

            raise SavedDatasetLocationAlreadyExists(location=str(path))
        if self._odfvs:
            pq.write_table(self.to_arrow(timeout=timeout), path)
        else:
            self.to_parquet(path)

    def supports_remote_storage_export(self) -> bool:
        return False


def _batches(reader: pa.RecordBatchReader, con: duckdb.DuckDBPyConnection):
    """`reader`'s batches, with its connection closed once they are read."""
    try:
        yield from reader
    finally:
        con.close()


def _settings(config: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"preserve_insertion_order": False}
    settings["temp_directory"] = (getattr(config, "temp_directory", None)
                                  or os.path.join(tempfile.gettempdir(), "salesops-duckdb"))
    for name in ("memory_limit", "threads"):
        value = getattr(config, name, None)
        if value is not None:
            settings[name] = value
    return settings


def _micros(ttl: timedelta) -> int:
    return ttl // timedelta(microseconds=1)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
