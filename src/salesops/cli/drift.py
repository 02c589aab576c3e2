"""`salesops drift` (issue #7)."""

from __future__ import annotations

import typer

from salesops.errors import NotBuiltYet


def drift(
    retrain: bool = typer.Option(False, "--retrain", help="Start `train submit` on drift."),
    report: str = typer.Option(None, "--report", help="Write an HTML report here."),
) -> None:
    """Compare reference (training) data with current data; exit 1 on drift."""
    raise NotBuiltYet("drift", 7)
