"""The data report: what a build read, what it found, and what each policy did about it.

Nothing in real data is rewritten silently: every quirk that cleaning or feature
engineering meets is counted here with the policy (config key) that decided its fate and
a plain sentence saying what happened. `features build` prints it, returns it under
`--json` and stores it in the build manifest, from where a training run logs it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Quirk:
    name: str
    count: int
    unit: str  # what `count` counts: rows, series, store-weeks, values, files, ...
    action: str  # what was done about it, in words
    policy: str | None = None  # "data.<key> = <value>" when a setting decided it
    examples: list[str] = field(default_factory=list)  # a few, to find them in the files


@dataclass
class DataReport:
    rows_read: int
    rows: int
    series: int
    stores: int
    depts: int
    weeks: int
    first_week: str
    last_week: str
    next_week: str
    policies: dict[str, Any]
    quirks: list[Quirk] = field(default_factory=list)

    def add(self, quirk: Quirk) -> None:
        self.quirks.append(quirk)

    def found(self) -> list[Quirk]:
        """The quirks that occur in this data (count > 0), in the order they were met."""
        return [quirk for quirk in self.quirks if quirk.count > 0]

    def count(self, name: str) -> int:
        return sum(quirk.count for quirk in self.quirks if quirk.name == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataReport:
        quirks = [Quirk(**quirk) for quirk in data.get("quirks", [])]
        return cls(**{**data, "quirks": quirks})


def series_label(store: object, dept: object) -> str:
    return f"store {store} dept {dept}"
