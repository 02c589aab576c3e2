"""The interfaces every backend implements. Backends never print: they report progress
through the callback they are given and return data for the CLI to render."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

Progress = Callable[[str], None]


@dataclass
class Component:
    """One thing the infrastructure consists of, and its state."""

    name: str
    kind: str
    state: str  # created | updated | unchanged | present | missing | removed | ...
    detail: str = ""


@dataclass
class InfraReport:
    backend: str
    location: str
    components: list[Component] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class InfraBackend(Protocol):
    def up(self, progress: Progress) -> InfraReport: ...

    def status(self) -> InfraReport: ...

    def down(self, progress: Progress) -> InfraReport: ...
