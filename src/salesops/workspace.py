"""Where local state lives. One place names every path, so nothing else builds them."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MARKER = ".salesops-workspace"


@dataclass(frozen=True)
class Generation:
    """One build's state: raw data, offline tables, online rows and manifest, in one folder.

    `features build` fills a new generation beside the current one and then switches the
    workspace's `current` link to it in one atomic rename (see `stores.generation`), so a
    reader, or a build killed at any instant, sees one whole generation, never a mix.
    """

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def offline_data(self) -> Path:
        return self.root / "data"

    @property
    def online_db(self) -> Path:
        return self.root / "online_store.db"

    @property
    def build_manifest(self) -> Path:
        return self.root / "features_build.json"

    @property
    def feature_store_yaml(self) -> Path:
        """The repo's config with the online store in this generation (used while building)."""
        return self.root / "feature_store.yaml"


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
    def feature_store_yaml(self) -> Path:
        return self.feature_repo / "feature_store.yaml"

    @property
    def repo_settings(self) -> Path:
        return self.feature_repo / "salesops_repo.json"

    @property
    def registry_db(self) -> Path:
        return self.feature_repo / "registry.db"

    @property
    def generations(self) -> Path:
        return self.root / "generations"

    @property
    def current(self) -> Path:
        """A symbolic link to the current generation's folder; Feast's file sources and online
        store path go through it, so they follow every switch."""
        return self.root / "current"

    @property
    def generation(self) -> Generation:
        return Generation(self.current)

    @property
    def raw(self) -> Path:
        return self.generation.raw

    @property
    def offline_data(self) -> Path:
        return self.generation.offline_data

    @property
    def online_db(self) -> Path:
        return self.generation.online_db

    @property
    def build_manifest(self) -> Path:
        return self.generation.build_manifest

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


# -- the workspace lock ---------------------------------------------------------------------
_held: dict[Path, int] = {}  # lock path -> nesting depth in this process (pipeline run's steps)


@contextmanager
def locked(workspace: Workspace, command: str | None = None) -> Iterator[None]:
    """Hold the workspace's write lock for the block: one command that writes state at a time.

    An advisory `flock` on `<workspace>/lock`: the kernel releases it when the holder exits,
    however it exits (`kill -9` included), so a stale lock cannot outlive its process and
    needs no clean-up; the file's text (pid, command, since) is only what the refusal says.
    Re-entrant within a process, so `pipeline run` holds it across its steps. The descriptor
    is not inherited by the processes a command starts (a server left running by `serve
    deploy` does not keep the workspace locked).
    """
    import fcntl

    from salesops.errors import WorkspaceBusy, WorkspaceNotWritable

    path = (workspace.root / LOCK_NAME).absolute()
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    try:
        workspace.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise WorkspaceNotWritable(workspace.root, exc) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceBusy(workspace.root, _holder(fd)) from None
        holder = {"pid": os.getpid(), "command": command or _command_line(),
                  "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        _held[path] = 1
        try:
            yield
        finally:
            _held.pop(path, None)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


LOCK_NAME = "lock"


def _holder(fd: int) -> dict[str, Any]:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _command_line() -> str:
    import sys

    return " ".join(["salesops", *sys.argv[1:]])
