"""What a build must redo in Feast: `feast apply` only when the definitions changed, the
online rows only when they differ from the current generation's.

Both answers come from digests read without importing Feast (its import alone costs more
than the whole rebuild's budget):

- the *definitions digest* hashes what `feast apply` registers: the repo's `features.py`
  (self-contained: it imports only Feast), `salesops_repo.json` (TTL, sources), the
  project and registry of `feature_store.yaml`, and the Feast version. After a successful
  apply it is written into the registry itself (table `salesops_applied`, beside Feast's
  `feast_metadata`) with the registry's project uuid and `last_updated_timestamp`, so a
  deleted or recreated registry, or an apply from anywhere else (a teammate's `feast
  apply`), no longer matches and the next build applies again. Only the SQLite registry of
  the embedded profile is read this way; any other registry is applied on every build
  (unknown = apply).
- the *online digest* hashes the definitions digest and the build's online rows
  (`FeatureFrames.online_rows()`); it is written into the generation as
  `online_rows.sha256` once its online store is filled. A build whose digest equals the
  current generation's copies the current online store forward instead of writing it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from salesops.workspace import Generation, Workspace

ONLINE_DIGEST = "online_rows.sha256"
_TABLE = "salesops_applied"


def definitions_digest(workspace: Workspace) -> str:
    import yaml

    config = yaml.safe_load(workspace.feature_store_yaml.read_text())
    digest = hashlib.sha256()
    for part in (workspace.feature_repo / "features.py").read_bytes(), \
            workspace.repo_settings.read_bytes(), \
            json.dumps([config.get("project"), config.get("registry"),
                        config.get("entity_key_serialization_version"),
                        metadata.version("feast")], sort_keys=True, default=str).encode():
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _sqlite_registry(workspace: Workspace) -> tuple[Path, str] | None:
    """The registry's SQLite file and project, where the registry is one; else None."""
    import yaml

    config = yaml.safe_load(workspace.feature_store_yaml.read_text())
    registry = config.get("registry")
    path = registry.get("path", "") if isinstance(registry, dict) else ""
    if not (isinstance(registry, dict) and registry.get("registry_type") == "sql"
            and path.startswith("sqlite:///")):
        return None
    return Path(path.removeprefix("sqlite:///")), config["project"]


def _registry_state(conn: sqlite3.Connection, project: str) -> tuple[str, str] | None:
    rows = dict(conn.execute("select metadata_key, metadata_value from feast_metadata "
                             "where project_id = ?", (project,)).fetchall())
    if "project_uuid" not in rows or "last_updated_timestamp" not in rows:
        return None
    return rows["project_uuid"], rows["last_updated_timestamp"]


def apply_needed(workspace: Workspace, digest: str) -> str | None:
    """Why `feast apply` must run (a short reason), or None when the registry already holds
    exactly these definitions."""
    found = _sqlite_registry(workspace)
    if found is None:
        return "registry not a local SQLite file"
    path, project = found
    if not path.is_file():
        return "no registry yet"
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            state = _registry_state(conn, project)
            recorded = conn.execute(f"select digest, project_uuid, last_updated from {_TABLE} "
                                    "where project = ?", (project,)).fetchone()
    except sqlite3.Error:
        return "no applied digest in the registry"
    if state is None or recorded is None:
        return "no applied digest in the registry"
    if recorded[0] != digest:
        return "definitions changed"
    if tuple(recorded[1:]) != state:
        return "registry changed since the last apply"
    return None


def record_apply(workspace: Workspace, digest: str) -> None:
    """After a successful apply: the digest, with the registry state the apply left."""
    found = _sqlite_registry(workspace)
    if found is None or not found[0].is_file():
        return
    path, project = found
    with sqlite3.connect(path) as conn:
        state = _registry_state(conn, project)
        if state is None:
            return
        conn.execute(f"create table if not exists {_TABLE} (project text primary key, "
                     "digest text not null, project_uuid text not null, "
                     "last_updated text not null)")
        conn.execute(f"insert or replace into {_TABLE} values (?, ?, ?, ?)",
                     (project, digest, *state))


def online_digest(definitions: str, rows: Mapping[str, Any]) -> str:
    """The online rows' content (names, types and values of every column, in order)."""
    import pandas as pd

    digest = hashlib.sha256(definitions.encode())
    for view in sorted(rows):
        frame = rows[view]
        if not isinstance(frame, pd.DataFrame):  # a pyarrow Table
            frame = frame.to_pandas()
        digest.update(json.dumps([view, list(map(str, frame.columns)),
                                  list(map(str, frame.dtypes))]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def current_online_digest(workspace: Workspace) -> str | None:
    path = workspace.current / ONLINE_DIGEST
    return path.read_text().strip() if path.is_file() else None


def write_online_digest(generation: Generation, digest: str) -> None:
    (generation.root / ONLINE_DIGEST).write_text(digest + "\n")
