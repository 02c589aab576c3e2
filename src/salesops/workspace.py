"""Where local state lives. One place names every path, so nothing else builds them."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = ".salesops-workspace"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def feature_repo(self) -> Path:
        return self.root / "feature_repo"

    @property
    def offline_data(self) -> Path:
        return self.feature_repo / "data"

    @property
    def feature_store_yaml(self) -> Path:
        return self.feature_repo / "feature_store.yaml"

    @property
    def repo_settings(self) -> Path:
        return self.feature_repo / "salesops_repo.json"

    @property
    def registry_db(self) -> Path:
        return self.feature_repo / "registry.db"

    @property
    def online_db(self) -> Path:
        return self.feature_repo / "online_store.db"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def build_manifest(self) -> Path:
        return self.root / "features_build.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def predictions(self) -> Path:
        """The model server's prediction log: parquet part files."""
        return self.root / "predictions"

    @property
    def server_state(self) -> Path:
        """The locally deployed model server: pid, url, model version, log."""
        return self.root / "serve.json"

    def exists(self) -> bool:
        return self.marker.is_file()

    def read_json(self, path: Path) -> dict[str, Any] | None:
        return json.loads(path.read_text()) if path.is_file() else None


def atomic_write_text(path: Path, text: str) -> bool:
    """Write via a temporary file and rename; return False when the content was already there."""
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return True
