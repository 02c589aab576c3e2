"""A Feast offline store whose point-in-time join is one sort and one lookup per view.

Feast's own DuckDB store (`type: duckdb`) joins through ibis: every feature row is inner-joined
with every entity row of its keys whose timestamp it precedes, and the matches are ranked and
deduplicated on a string id made of all the entity values. At 1M entity rows that takes 6-20 s
and 2.4 GB; at 10M it does not fit in 24 GB. The join it computes is an ASOF join: for each
entity row, the latest feature row at or before it. `point_in_time.match_rows` finds those
rows with one sort of the view's keys and times and one lookup (DuckDB's own ASOF
JOIN, tried first, sorted every column of both sides once per view: 15 s at 10M rows before
any feature was read). Feast's semantics are kept, and a differential test holds them equal:

- a feature row applies to entity rows at or after its timestamp, within the view's TTL
  (`ttl = 0` or none: no limit); rows with no such feature row get nulls;
- of several feature rows at the same timestamp, the one created last wins when the source
  has a `created_timestamp_column` (otherwise Feast's choice among them is arbitrary too);
- naive entity timestamps are UTC; the entity frame's columns all come back, plus the
  features, named `feature` or `view__feature` (`full_feature_names`).

Rows come back in the entity frame's order (Feast's stores promise no order). The features
are gathered from the matched rows a batch at a time, as Arrow record batches
(`to_record_batches`, `to_parquet`) without a pandas copy; `to_df` converts column by
column, releasing the Arrow buffers as it goes. Memory: the views' feature columns (read
once), 8 bytes per entity row and view, and a batch.

Anything this join does not cover falls back to Feast's DuckDB store unchanged: an entity
frame given as SQL, sources other than local parquet files, `filter_by_created_timestamp`
with a created column, views without join keys and substrait on-demand views.

Configure it by class path (Feast derives the config class from the name):
`offline_store: {type: salesops.stores.asof_offline.AsofDuckDBOfflineStore}`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
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

from salesops.stores.point_in_time import Entity, match_rows, microseconds

if TYPE_CHECKING:
    from feast.feature_view import FeatureView
    from feast.infra.registry.base_registry import BaseRegistry
    from feast.repo_config import RepoConfig
    from feast.saved_dataset import SavedDatasetStorage

TYPE = "salesops.stores.asof_offline.AsofDuckDBOfflineStore"
_REMOTE = ("s3://", "s3a://", "gs://", "az://", "abfs://", "http://", "https://", "hf://")


class AsofDuckDBOfflineStoreConfig(DuckDBOfflineStoreConfig):
    type: Literal["salesops.stores.asof_offline.AsofDuckDBOfflineStore"] = TYPE


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
        if not pd.api.types.is_datetime64_any_dtype(entity_df[timestamp]):
            # times given as text (or objects): parsed as Feast's DuckDB store parses them
            entity_df = entity_df.assign(**{timestamp: pd.to_datetime(entity_df[timestamp],
                                                                      utc=True)})
        times = entity_df[timestamp]
        metadata = RetrievalMetadata(
            features=feature_refs, keys=[c for c in entity_df.columns if c != timestamp],
            min_event_timestamp=times.min().to_pydatetime() if len(times) else None,
            max_event_timestamp=times.max().to_pydatetime() if len(times) else None)
        return AsofRetrievalJob(entity_df, timestamp, views, odfvs, full_feature_names,
                                metadata)


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


class AsofRetrievalJob(RetrievalJob):
    """The join's result, computed when asked for: as an Arrow table, a stream of record
    batches, a parquet file, or a pandas frame; rows in the entity frame's order."""

    def __init__(self, entity_df: pd.DataFrame, timestamp: str, views: list[_View],
                 odfvs: list[OnDemandFeatureView], full_feature_names: bool,
                 metadata: RetrievalMetadata) -> None:
        super().__init__()
        self._entity_df = entity_df
        self._timestamp = timestamp
        self._views = views
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

    def to_record_batches(self, batch_rows: int = 1 << 17) -> pa.RecordBatchReader:
        """The result as a stream of Arrow record batches of up to `batch_rows` rows, in the
        entity frame's order; on-demand views are not applied."""
        entity = self._entity_df
        given = pa.Schema.from_pandas(entity, preserve_index=False).remove_metadata()
        # categories come back as their values, as from Feast's DuckDB store
        entity_schema = pa.schema([pa.field(f.name, _plain(f.type)) for f in given])
        # the entity time comes back in microseconds, as from Feast's DuckDB store
        at = entity_schema.get_field_index(self._timestamp)
        micros = pa.timestamp("us", tz=getattr(entity_schema.field(at).type, "tz", None))
        rows = Entity(microseconds(entity[self._timestamp]))
        gathers = [_Gather(view, entity, rows) for view in self._views]
        schema = pa.schema([*entity_schema.set(at, pa.field(self._timestamp, micros)),
                            *(pa.field(output, column.type) for gather in gathers
                              for output, column in gather.columns.items())])

        def batches():
            for start in range(0, len(entity), batch_rows):
                part = pa.Table.from_pandas(entity.iloc[start:start + batch_rows],
                                            schema=given, preserve_index=False)
                columns = [column.combine_chunks().cast(field.type)
                           for column, field in zip(part.columns, entity_schema)]
                columns[at] = columns[at].cast(micros, safe=False)
                for gather in gathers:
                    columns += gather.take(start, start + batch_rows)
                yield pa.RecordBatch.from_arrays(columns, schema=schema)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        return self.to_record_batches().read_all()

    def to_df(self, validation_reference=None, timeout: int | None = None) -> pd.DataFrame:
        if self._odfvs or validation_reference is not None:
            return super().to_df(validation_reference=validation_reference, timeout=timeout)
        # each column's Arrow buffers are freed once converted: one copy of the data at a time
        return self.to_arrow(timeout=timeout).to_pandas(self_destruct=True, split_blocks=True)

    def to_parquet(self, path: str | os.PathLike) -> Path:
        """Write the result to a parquet file, streamed (on-demand views not applied)."""
        reader = self.to_record_batches()
        with pq.ParquetWriter(str(path), reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
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


class _Gather:
    """One view's part of the result: the row each entity row matched, and the view's
    feature columns to take those rows from."""

    def __init__(self, view: _View, entity: pd.DataFrame, entity_rows: Entity) -> None:
        created = [view.created] if view.created else []
        entity_keys = {column: _values(entity[column]) for column in view.keys.values()}
        file = pq.ParquetFile(view.path)
        groups = _row_groups(file, {source: entity_keys[column]
                                    for source, column in view.keys.items()})
        rows = file.read_row_groups(groups, columns=[*view.keys, view.timestamp, *created])
        self.rows = match_rows(
            entity_rows,
            entity_keys=entity_keys,
            view_keys=[_values(rows[column]) for column in view.keys],
            view_times=microseconds(rows[view.timestamp]),
            view_created=microseconds(rows[view.created]) if view.created else None,
            ttl_us=view.ttl // timedelta(microseconds=1) if view.ttl else None)
        del rows
        sources = list(dict.fromkeys(view.features.values()))
        # a column at a time (a whole-table read of many columns was slower, not faster)
        read = {}
        for source in sources:
            column = file.read_row_groups(groups, columns=[source])[source].combine_chunks()
            read[source] = column.cast(_plain(column.type))
        self.columns = {output: read[source] for output, source in view.features.items()}

    def take(self, start: int, stop: int) -> list[pa.Array]:
        rows = self.rows[start:stop]
        at = pa.array(rows, mask=rows < 0)
        return [column.take(at) for column in self.columns.values()]


def _row_groups(file: pq.ParquetFile, keys: dict[str, np.ndarray]) -> list[int]:
    """The file's row groups that can hold a row of the entity rows' keys (`keys`: view
    column -> the entity rows' values): a group whose statistics put an integer key column
    wholly outside the entity values' range has no row that matches. A training set built a
    few stores at a time reads those stores' row groups only (the build writes the views in
    store order). Groups without statistics, and other key types, are all read."""
    metadata = file.metadata
    leaves = {metadata.schema.column(at).path: at for at in range(metadata.num_columns)}
    ranges = {leaves[name]: (int(values.min()), int(values.max()))
              for name, values in keys.items()
              if name in leaves and values.dtype.kind in "iu" and len(values)}
    return [group for group in range(metadata.num_row_groups)
            if all(_may_hold(metadata.row_group(group).column(at).statistics, low, high)
                   for at, (low, high) in ranges.items())]


def _may_hold(statistics: pq.Statistics | None, low: int, high: int) -> bool:
    if statistics is None or not statistics.has_min_max:
        return True
    if not isinstance(statistics.min, int) or isinstance(statistics.min, bool):
        return True
    return statistics.max >= low and statistics.min <= high


def _plain(kind: pa.DataType) -> pa.DataType:
    """A dictionary (pandas category) type as its values' type; any other as it is."""
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _values(column: pd.Series | pa.ChunkedArray) -> np.ndarray:
    """A key column as numpy (nulls as NaN or None, which match nothing)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.to_pandas()
    return column.to_numpy()
