"""`salesops infra up | status | down`."""

from __future__ import annotations

import typer

from salesops.cli.state import State, state_of
from salesops.errors import UsageError

app = typer.Typer(help="Create, inspect and remove the infrastructure.", no_args_is_help=True)


def _render(state: State, report) -> None:
    def human(console) -> None:
        table = state.output.table(
            f"{report.backend} infrastructure at {report.location}",
            ["component", "kind", "state", "detail"],
            [(c.name, c.kind, c.state, c.detail) for c in report.components],
        )
        console.print(table)

    state.output.emit(report.to_dict(), human)


@app.command("up")
def up(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Kubernetes: print the manifests as YAML; change nothing."),
) -> None:
    """Create the workspace and Feast repo (local), or the namespace, Postgres, MLflow and the
    feature store config (kubernetes); idempotent."""
    from salesops.backends import infra_backend

    state = state_of(ctx)
    settings = state.settings()
    backend = infra_backend(settings)
    if dry_run:
        state.output.manifests(backend.manifests())
        hint = backend.secret_hint()
        if hint:
            state.output.info("the database Secret is not printed (its credentials are never "
                              f"shown); `infra up` generates it, or create it with:\n  {hint}")
        return
    from functools import partial

    from salesops.features.repo import repo_files  # the features service renders the repo

    _render(state, backend.up(state.output.step, partial(repo_files, settings)))


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Show what exists."""
    from salesops.backends import infra_backend

    state = state_of(ctx)
    _render(state, infra_backend(state.settings()).status())


@app.command("down")
def down(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Confirm removal (required)."),
) -> None:
    """Remove the workspace (local) or the namespace's objects (kubernetes)."""
    from salesops.backends import infra_backend

    state = state_of(ctx)
    if not yes:
        raise UsageError("`infra down` deletes all state; add --yes to confirm")
    _render(state, infra_backend(state.settings()).down(state.output.step))
