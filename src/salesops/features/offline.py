"""A generation's files: raw sales data, the offline store's parquet, the build manifest.

A build writes them into a new generation folder (see `stores.generation`), which becomes current
only once complete; readers go through the workspace's `current` link.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from salesops.config import Settings
from salesops.data.dataset import SalesDataset, conform
from salesops.features.engineering import SERIES_TABLE, FeatureFrames
from salesops.workspace import Generation, Workspace, atomic_write_text

RAW_TABLES = ("sales", "features", "stores")


def _write_parquet(frame: pd.DataFrame, path) -> None:
    """`frame` as parquet, LZ4 and without dictionaries for float columns: sales features
    are nearly all distinct, so a dictionary only costs time (at 10M rows, Snappy with
    dictionaries wrote the offline files in 6.5 s and read them in 3.7; this, 3.3 and 1.4)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    dictionary = [c for c, dtype in frame.dtypes.items() if dtype.kind != "f"]
    frame.to_parquet(tmp, index=False, coerce_timestamps="us", allow_truncated_timestamps=False,
                     compression="lz4", use_dictionary=dictionary)
    os.replace(tmp, path)


def write_dataset(dataset: SalesDataset, generation: Generation) -> None:
    for table in RAW_TABLES:
        _write_parquet(getattr(dataset, table), generation.raw / f"{table}.parquet")


def read_dataset(workspace: Workspace) -> SalesDataset:
    return SalesDataset(
        **{table: pd.read_parquet(workspace.raw / f"{table}.parquet") for table in RAW_TABLES}
    )


def write_frames(frames: FeatureFrames, generation: Generation) -> None:
    """The views' parquet files and the series table (which series are forecast, and why
    the others are not: see `engineering.series_table`)."""
    for name, frame in frames.tables().items():
        _write_parquet(frame, generation.offline_data / f"{name}.parquet")


def fingerprint(frames: FeatureFrames) -> str:
    """A content hash of the offline data: training runs record it as lineage."""
    digest = hashlib.sha256()
    for name, frame in sorted(frames.frames().items()):
        digest.update(name.encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def write_manifest(generation: Generation, manifest: Mapping[str, Any]) -> None:
    atomic_write_text(generation.build_manifest, json.dumps(manifest, indent=2) + "\n")


def read_manifest(settings: Settings, workspace: Workspace) -> dict[str, Any] | None:
    """The last complete build's manifest, from the offline store (on `postgres` the
    server's copy wins: a pod or a teammate has no workspace file)."""
    from salesops.stores import offline_store

    return offline_store(settings).read_manifest(workspace)


#: the series table's timestamp columns (CSV text when read from the server)
SERIES_WEEKS = ("first_week", "last_week")
SERIES_COLUMNS = ["store", "dept", *SERIES_WEEKS, "weeks", "status"]


def read_series(settings: Settings, workspace: Workspace) -> pd.DataFrame | None:
    """The last build's series table (see `engineering.series_table`), None when no build
    has written one. Like the manifest, it comes from the offline store."""
    from salesops.stores import offline_store

    frame = offline_store(settings).read_table(workspace, SERIES_TABLE, SERIES_COLUMNS)
    if frame is None:
        return None
    for column in SERIES_WEEKS:  # a no-op on parquet's timestamps
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    return frame


def append_synthetic(
    workspace: Workspace, previous: Mapping[str, Any], weeks: int, shifts: Mapping[str, float]
) -> tuple[SalesDataset, dict[str, Any]]:
    """Extend the previous build's synthetic series by `weeks` new weeks, optionally shifted.

    The generator is prefix-stable, so the new weeks continue the same series; the stored
    weeks are kept as they are (including any shift applied by an earlier append).
    """
    dataset = _extended(stored_synthetic(workspace, previous), previous["params"], weeks,
                        shifts)
    manifest = dict(previous)
    manifest["appends"] = [*previous.get("appends", []), {"weeks": weeks, "shifts": dict(shifts)}]
    return dataset, manifest


def stored_synthetic(workspace: Workspace, previous: Mapping[str, Any]) -> SalesDataset:
    """The synthetic data of the build `previous` describes: the workspace's raw files when
    they are that build's, else generated again from the manifest, which names it fully
    (generator parameters, then every append with its shifts). A pod's fresh workspace, or
    a laptop's behind the server's newer build (on `postgres` the manifest is the server's),
    has no such files; generating is deterministic and what each append costs anyway."""
    local = workspace.read_json(workspace.build_manifest)
    if local is not None and local.get("fingerprint") == previous.get("fingerprint") and (
            workspace.raw / "sales.parquet").is_file():
        return read_dataset(workspace)
    from salesops.data.synthetic import generate

    params = {k: v for k, v in previous["params"].items() if k != "realism"}
    dataset = generate(**params)
    for append in previous.get("appends", []):
        dataset = _extended(dataset, params, append["weeks"], append.get("shifts") or {})
    return dataset


def _extended(current: SalesDataset, params: Mapping[str, Any], weeks: int,
              shifts: Mapping[str, float]) -> SalesDataset:
    from salesops.data.synthetic import generate

    params = {k: v for k, v in params.items() if k != "realism"}  # clean data only (build._load)
    have = len(current.weeks)
    fresh = generate(**{**params, "weeks": have + weeks}, shifts=dict(shifts) or None,
                     shift_from_week=have)
    first_new = current.weeks[-1] + pd.Timedelta(weeks=1)
    sales = pd.concat([current.sales, fresh.sales[fresh.sales["date"] >= first_new]])
    # the stored features already hold week `first_new` (it was the week to forecast); the
    # fresh copy replaces it so that a shift covers every new sales week consistently
    features = pd.concat(
        [current.features[current.features["date"] < first_new],
         fresh.features[fresh.features["date"] >= first_new]]
    )
    return conform(sales, features, current.stores)
