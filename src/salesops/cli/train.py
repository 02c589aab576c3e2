"""`salesops train ...` and `salesops models ...` (issue #3)."""

from __future__ import annotations

import typer

from salesops.errors import NotBuiltYet

app = typer.Typer(help="Train demand models (local DDP or a Kubeflow TrainJob).",
                  no_args_is_help=True)
models_app = typer.Typer(help="Registered model versions and their aliases.", no_args_is_help=True)


@app.command("submit")
def submit(
    nodes: int = typer.Option(None, "--nodes", help="Worker processes (local) or nodes (TrainJob)."),
    epochs: int = typer.Option(None, "--epochs"),
) -> None:
    """Build the training set from Feast, train, log to MLflow, register, gate."""
    raise NotBuiltYet("train submit", 3)


@app.command("run")
def run() -> None:
    """Worker entry point (what each process or pod runs)."""
    raise NotBuiltYet("train run", 3)


@models_app.command("list")
def list_models() -> None:
    """Registered versions, metrics and aliases."""
    raise NotBuiltYet("models list", 3)
