"""`salesops predict` (issue #4)."""

from __future__ import annotations

import typer

from salesops.errors import NotBuiltYet


def predict(
    store: list[int] = typer.Option(None, "--store", help="Store id (repeatable)."),
    dept: list[int] = typer.Option(None, "--dept", help="Department id (repeatable)."),
    url: str = typer.Option(None, "--url", help="Model server URL."),
) -> None:
    """Forecast next week's sales for (store, dept) pairs from the running model server."""
    raise NotBuiltYet("predict", 4)
