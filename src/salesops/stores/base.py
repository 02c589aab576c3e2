"""The interfaces every storage profile implements: one for the offline store (where a
build's tables and manifest live, and the Feast registry beside them), one for the online
store (where the week to forecast is served from).

What differs between profiles is here as methods, so that the services never test the
profile: staging and switching a build's tables, reading them back, the sections of
`feature_store.yaml`, and the checks `infra up | status | down` make.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from salesops.workspace import Generation, Workspace

Progress = Callable[[str], None]


@dataclass
class StoreState:
    """One line of `infra up | status | down` about a store (the fields of the infra
    backend's `Component`, which converts it)."""

    name: str
    kind: str
    state: str  # ready | present | missing | unreachable | removed | ...
    detail: str = ""


def present(flag: bool) -> str:
    """A `StoreState.state` (and an infra component's) for something that exists or not."""
    return "present" if flag else "missing"


class OfflineStore(Protocol):
    #: the `feature_store.profile` value this class implements
    profile: str

    def build_lock(self, command: str) -> AbstractContextManager[None]:
        """Hold, for a whole build, a lock every process building into this store respects,
        or raise `WorkspaceBusy` (or a subclass: exit code 75) at once. The workspace lock
        serialises builds in one workspace only; pods each have their own."""

    def begin_stage(self) -> None:
        """Clear what a killed build staged, before a build stages its tables."""

    def stage(self, name: str, frame: pd.DataFrame, append: bool) -> None:
        """Put rows of one of a build's tables where readers cannot see them yet: a new
        staged table, or (`append`) more rows of it, a build writing its tables a part at a
        time (a no-op where the generation's files are the tables)."""

    def switch(self, names: Iterable[str], manifest: Mapping[str, Any]) -> None:
        """Make the staged tables and the manifest current, at once, before the files."""

    def read_manifest(self, workspace: Workspace) -> dict[str, Any] | None:
        """The last complete build's manifest, None before the first build."""

    def read_table(self, workspace: Workspace, name: str,
                   columns: list[str]) -> pd.DataFrame | None:
        """Columns of one of the last build's tables, None when no build wrote it."""

    def build_stamp(self, workspace: Workspace) -> Hashable | None:
        """Something that changes with every build (cheap: a running server asks every
        second whether to reload its online rows), None before the first build."""

    def tracking_uri(self, workspace: Workspace) -> str:
        """Where MLflow keeps runs and models unless `mlflow.tracking_uri` says otherwise."""

    def registry(self, workspace: Workspace) -> dict[str, Any]:
        """The `registry` section of feature_store.yaml."""

    def offline_section(self) -> dict[str, Any]:
        """The `offline_store` section of feature_store.yaml."""

    def batch_engine_section(self) -> dict[str, Any] | None:
        """The `batch_engine` section of feature_store.yaml (where `materialize` runs), None
        for Feast's default, in-process engine."""

    def view_source(self, view: str, workspace: Workspace) -> dict[str, Any]:
        """Where Feast reads the offline rows of one feature view."""

    def prepare(self) -> list[StoreState]:
        """Check the servers and create what the profile needs (`infra up`)."""

    def status(self, workspace: Workspace) -> list[StoreState]:
        """What exists, never an exception (`infra status`)."""

    def teardown(self, progress: Progress) -> list[StoreState]:
        """Remove what `prepare` created (`infra down`)."""


class OnlineStore(Protocol):
    #: Feast's `online_store.type` for this class
    feast_type: str

    def online_section(self, workspace: Workspace) -> dict[str, Any]:
        """The `online_store` section of feature_store.yaml."""

    def prepare(self) -> list[StoreState]: ...

    def status(self, workspace: Workspace) -> list[StoreState]: ...

    @staticmethod
    def staged_section(section: dict[str, Any], generation: Generation) -> dict[str, Any]:
        """The rendered section changed so that a build fills the staged generation's online
        store, which then switches in with the generation (or the server's tables)."""

    #: whether `copy_forward` can succeed (a build that cannot copy applies first)
    can_copy_forward: bool

    @staticmethod
    def copy_forward(workspace: Workspace, generation: Generation) -> bool:
        """Make the staged generation's online store hold what the current one holds, for a
        build whose online rows did not change; False where that is not possible, and the
        build writes every row instead."""
