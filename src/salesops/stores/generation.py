"""Build generations: a build writes a whole new generation beside the current one, and one
atomic step makes it current.

Layout under the workspace:

    generations/000007/            the current build: raw/, data/, online_store.db, manifest
    generations/000006/            the one before (kept: a reader may still have it open)
    generations/.staging-000008-…/ a build in progress (removed if it fails or was killed)
    current -> generations/000007  the switch

The switch is `rename(2)` of a new symbolic link over `current`, which POSIX makes atomic: a
reader resolving `current` (Feast's file sources and SQLite online store, the server, a
training run) gets either the old generation or the new one, whole; a build killed at any
instant before the rename leaves the old one current and a staging folder that the next build
clears. Only builds write here, under the workspace lock, so numbering needs no more care.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from salesops.workspace import Generation, Workspace

STAGING = ".staging-"
#: generations kept besides the current one: the previous stays readable for a server or a
#: `predict --input` that resolved `current` just before a switch
KEEP_PREVIOUS = 1


def ensure_current(workspace: Workspace) -> None:
    """Give a new workspace an empty first generation, so `current` always resolves. A
    workspace copied by a tool that followed the link has a folder there instead: it becomes
    a numbered generation again."""
    if workspace.current.is_symlink():
        return
    workspace.generations.mkdir(parents=True, exist_ok=True)
    first = workspace.generations / _name(_latest(workspace) + 1 if workspace.current.is_dir()
                                              else 0)
    if workspace.current.is_dir():
        os.replace(workspace.current, first)
    first.mkdir(exist_ok=True)
    _point(workspace, first)


@contextmanager
def staged(workspace: Workspace) -> Iterator[Generation]:
    """A new, empty generation to fill; removed again unless `switch` made it current."""
    ensure_current(workspace)
    clear_staging(workspace)
    number = _latest(workspace) + 1
    staging = workspace.generations / f"{STAGING}{_name(number)}-{os.getpid()}"
    staging.mkdir(parents=True)
    generation = Generation(staging)
    try:
        yield generation
    finally:
        if staging.exists():  # not switched: the build failed
            shutil.rmtree(staging, ignore_errors=True)


def switch(workspace: Workspace, generation: Generation) -> Generation:
    """Make a complete staged generation current: one rename of the folder to its final
    name, then the atomic one, of the `current` link. Older generations are pruned."""
    number = generation.root.name.removeprefix(STAGING).split("-")[0]
    final = workspace.generations / number
    os.replace(generation.root, final)
    _point(workspace, final)
    prune(workspace)
    return Generation(final)


def clear_staging(workspace: Workspace) -> None:
    """Remove what killed builds left (called under the workspace lock: no build is live)."""
    if workspace.generations.is_dir():
        for path in workspace.generations.glob(f"{STAGING}*"):
            shutil.rmtree(path, ignore_errors=True)


def prune(workspace: Workspace) -> None:
    current = workspace.current.resolve().name
    numbered = sorted(p for p in workspace.generations.iterdir()
                      if p.is_dir() and p.name.isdigit() and p.name != current)
    for path in numbered[:-KEEP_PREVIOUS] if KEEP_PREVIOUS else numbered:
        shutil.rmtree(path, ignore_errors=True)


def _point(workspace: Workspace, target: Path) -> None:
    link = workspace.root / f".current-{os.getpid()}"
    if link.is_symlink():
        link.unlink()
    # relative, so the workspace can be moved or mounted elsewhere (a pod, a backup)
    link.symlink_to(target.relative_to(workspace.root))
    os.replace(link, workspace.current)


def _latest(workspace: Workspace) -> int:
    numbers = [int(p.name) for p in workspace.generations.iterdir() if p.name.isdigit()]
    return max(numbers, default=0)


def _name(number: int) -> str:
    return f"{number:06d}"
