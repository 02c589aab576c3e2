"""`salesops models list | promote | rollback`: the registered versions and their aliases."""

from __future__ import annotations

from contextlib import contextmanager

import typer

from salesops.cli.state import State, state_of

app = typer.Typer(help="Registered model versions and their aliases.", no_args_is_help=True)


def _registry(ctx: typer.Context):
    """State and settings, with MLflow pointed at the tracking store, which must exist:
    these commands create nothing where there is none."""
    from salesops.training.tracking import Tracking

    state = state_of(ctx)
    settings = state.settings()
    Tracking.open(settings, read_only=True)
    return state, settings


@contextmanager
def _holding(settings, command: str):
    """The workspace lock, where there is a workspace (a remote registry may have none)."""
    from salesops.workspace import Workspace, locked

    workspace = Workspace(settings.workspace)
    if not workspace.exists():
        yield
        return
    with locked(workspace, command):
        yield


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Registered versions, holdout metrics and aliases (reads only)."""
    from salesops.training import registry

    state, settings = _registry(ctx)
    rows = registry.list_versions(settings.mlflow.model_name)
    state.output.emit(rows, lambda console: console.print(state.output.table(
        settings.mlflow.model_name, ["version", "aliases", "WAPE %", "MAPE %", "run"],
        [(r["version"], ", ".join(r["aliases"]), r["wape"], r["mape"], r["run_id"])
         for r in rows])))


@app.command("promote")
def promote(ctx: typer.Context,
            version: str = typer.Argument(..., help="Version to promote.")) -> None:
    """Make VERSION the champion (no gate: an operator's decision). A running server keeps
    serving its version until `salesops serve deploy`."""
    from salesops.training import registry

    state, settings = _registry(ctx)
    with _holding(settings, "models promote"):
        registry.promote(settings.mlflow.model_name, version)
    _emit_champion(state, settings, {"champion": version}, f"champion is now v{version}")


@app.command("rollback")
def rollback(ctx: typer.Context) -> None:
    """Give `champion` back to the previous champion. A running server keeps serving its
    version until `salesops serve deploy`."""
    from salesops.training import registry

    state, settings = _registry(ctx)
    with _holding(settings, "models rollback"):
        old, new = registry.rollback(settings.mlflow.model_name)
    _emit_champion(state, settings, {"from": old, "champion": new},
                   f"champion rolled back from v{old} to v{new}")


def _emit_champion(state: State, settings, data: dict, message: str) -> None:
    """The new champion, and what a running model server still serves."""
    served = _served_version(settings)
    if served is not None and served[1] != data["champion"]:
        data = {**data, "serving": {"url": served[0], "model_version": served[1]}}
    state.output.emit(data, lambda c: c.print(message))
    if "serving" in data:
        state.output.warn(f"the model server at {served[0]} still serves v{served[1]}; "
                          f"`salesops serve deploy` switches it to v{data['champion']}")


def _served_version(settings) -> tuple[str, str] | None:
    """(url, version) of the model server that keeps its version until the next deploy."""
    from salesops.backends import serving_backend

    return serving_backend(settings).served()
