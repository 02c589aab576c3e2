"""`salesops pipeline run` (issue #4)."""

from __future__ import annotations

import typer

from salesops.errors import NotBuiltYet

app = typer.Typer(help="The whole lifecycle in one command.", no_args_is_help=True)


@app.command("run")
def run() -> None:
    """infra up -> features build -> train submit -> serve deploy -> sample predictions."""
    raise NotBuiltYet("pipeline run", 4)
