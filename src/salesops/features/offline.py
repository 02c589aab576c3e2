"""A generation's files: raw sales data, the offline store's parquet, the build manifest.

A build writes them (the parquet through `features.table_files`) into a new generation folder
(see `stores.generation`), which becomes current only once complete; readers go through the
workspace's `current` link.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from salesops.config import Settings
from salesops.data.dataset import SalesDataset, conform
from salesops.features.engineering import SERIES_TABLE
from salesops.workspace import Generation, Workspace, atomic_write_text

RAW_TABLES = ("sales", "features", "stores")


def read_dataset(workspace: Workspace) -> SalesDataset:
    return SalesDataset(
        **{table: pd.read_parquet(workspace.raw / f"{table}.parquet") for table in RAW_TABLES}
    )


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
