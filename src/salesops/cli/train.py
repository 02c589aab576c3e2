"""`salesops train submit | run` and `salesops models list | promote | rollback`."""

from __future__ import annotations

import typer

from salesops.cli.state import State, state_of
from salesops.errors import CheckFailed, UsageError

app = typer.Typer(help="Train demand models (local DDP or a Kubeflow TrainJob).",
                  no_args_is_help=True)
models_app = typer.Typer(help="Registered model versions and their aliases.", no_args_is_help=True)


def _mode(no_promote: bool, force_promote: bool) -> str:
    if no_promote and force_promote:
        raise UsageError("--no-promote and --force-promote exclude each other")
    return "never" if no_promote else "force" if force_promote else "auto"


@app.command("submit")
def submit(
    ctx: typer.Context,
    nodes: int = typer.Option(None, "--nodes", help="Worker processes (local) or nodes (TrainJob)."),
    epochs: int = typer.Option(None, "--epochs"),
    no_promote: bool = typer.Option(False, "--no-promote", help="Never move `champion`."),
    force_promote: bool = typer.Option(False, "--force-promote", help="Promote past the gate."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Kubernetes: print the TrainJob as "
                                 "YAML; submit nothing."),
    wait: bool = typer.Option(False, "--wait", help="Kubernetes: follow the TrainJob and its "
                              "first node's log; exit 1 if it fails."),
) -> None:
    """Build the training set from Feast, train, log to MLflow, register, gate (local), or
    create a Kubeflow TrainJob whose pods do that (kubernetes)."""
    from salesops.training.progress import progress_mode
    from salesops.training.submit import submit as run_submit

    state = state_of(ctx)
    settings = state.settings(training={"nodes": nodes, "epochs": epochs})
    if nodes is not None and nodes < 1:
        raise UsageError("--nodes must be at least 1")
    if dry_run or wait or settings.backend.kind == "kubernetes":
        from salesops.cli.train_job import submit_job

        return submit_job(state, settings, _mode(no_promote, force_promote), dry_run, wait)
    state.output.step(f"training on {settings.training.nodes} process(es), "
                      f"{settings.training.epochs} epochs")
    progress = progress_mode(state.output.quiet)
    _render(state, run_submit(settings, _mode(no_promote, force_promote), progress))


@app.command("run")
def run(
    ctx: typer.Context,
    no_promote: bool = typer.Option(False, "--no-promote"),
    force_promote: bool = typer.Option(False, "--force-promote"),
) -> None:
    """Worker entry point (what each process or pod runs; rank from RANK/WORLD_SIZE)."""
    from salesops.training.submit import settings_payload
    from salesops.training.worker import run_worker

    state = state_of(ctx)
    # a pod's log is a file: plain lines, whatever the terminal
    progress = "off" if state.output.quiet else "lines"
    summary = run_worker(settings_payload(state.settings()), _mode(no_promote, force_promote),
                         progress)
    if summary is not None:
        _render(state, summary)


@app.command("status")
def job_status(ctx: typer.Context, name: str = typer.Argument(..., help="TrainJob name.")) -> None:
    """Kubernetes: a TrainJob's state and conditions."""
    from salesops.cli.train_job import show_status

    show_status(state_of(ctx), name)


@app.command("logs")
def job_logs(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="TrainJob name."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep streaming until it ends."),
) -> None:
    """Kubernetes: the log of a TrainJob's first node (stdout)."""
    from salesops.cli.train_job import show_logs

    show_logs(state_of(ctx), name, follow)


def _render(state: State, summary: dict) -> None:
    def human(console) -> None:
        # a baseline is scored on the rows where it has a forecast; "model WAPE %" is the
        # model's on those same rows, what the gate compares
        rows = [(m["name"], m["rows"], m["mape"], m["wape"], m.get("model_wape"), m["rmse"],
                 m["r2"]) for m in summary["metrics"]]
        console.print(state.output.table(
            f"holdout from {summary['holdout_start']} ({summary['holdout_rows']:,} rows), "
            f"model {summary['model_name']} v{summary['version']}",
            ["", "rows", "MAPE %", "WAPE %", "model WAPE %", "RMSE", "R²"], rows))
        verdict = "promoted to champion" if summary["promoted"] else "not promoted"
        console.print(f"{verdict}: {summary['reason']}", markup=False)

    state.output.emit(summary, human)
    if not summary["promoted"] and summary["reason"] != "--no-promote":
        # exit 1 for CI gates; the summary above is already the one JSON document
        state.output.error(f"version {summary['version']} stays challenger: {summary['reason']}")
        raise typer.Exit(CheckFailed.exit_code)


def _connected(ctx: typer.Context):
    """State and settings, with MLflow pointed at the configured tracking store."""
    from salesops.training.tracking import connect

    state = state_of(ctx)
    settings = state.settings()
    connect(settings)
    return state, settings


@models_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Registered versions, holdout metrics and aliases."""
    from salesops.training import registry

    state, settings = _connected(ctx)
    rows = registry.list_versions(settings.mlflow.model_name)
    state.output.emit(rows, lambda console: console.print(state.output.table(
        settings.mlflow.model_name, ["version", "aliases", "WAPE %", "MAPE %", "run"],
        [(r["version"], ", ".join(r["aliases"]), r["wape"], r["mape"], r["run_id"]) for r in rows])))


@models_app.command("promote")
def promote(ctx: typer.Context, version: str = typer.Argument(..., help="Version to promote.")) -> None:
    """Make VERSION the champion (no gate: an operator's decision)."""
    from salesops.training import registry

    state, settings = _connected(ctx)
    registry.promote(settings.mlflow.model_name, version)
    state.output.emit({"champion": version}, lambda c: c.print(f"champion is now v{version}"))


@models_app.command("rollback")
def rollback(ctx: typer.Context) -> None:
    """Give `champion` back to the previous champion."""
    from salesops.training import registry

    state, settings = _connected(ctx)
    old, new = registry.rollback(settings.mlflow.model_name)
    state.output.emit({"from": old, "champion": new},
                      lambda c: c.print(f"champion rolled back from v{old} to v{new}"))
