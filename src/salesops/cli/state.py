"""Per-invocation state shared by all commands: global flags, output, settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from salesops.cli.output import Output

if TYPE_CHECKING:
    from salesops.config import Settings


@dataclass
class State:
    config: Path | None = None
    output: Output = field(default_factory=Output)

    def settings(self, **overrides: dict[str, Any]) -> Settings:
        """Load settings; keyword arguments are sections of flag overrides (None = not given)."""
        from salesops.config import load_settings

        cleaned = {
            section: {k: v for k, v in values.items() if v is not None}
            for section, values in overrides.items()
        }
        return load_settings(self.config, {k: v for k, v in cleaned.items() if v})


def state_of(ctx: typer.Context) -> State:
    if not isinstance(ctx.obj, State):  # invoked without main(): defaults
        ctx.obj = State()
    return ctx.obj
