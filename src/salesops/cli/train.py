"""`salesops train submit | run` and `salesops models list | promote | rollback`."""

from __future__ import annotations

from contextlib import contextmanager

import typer

from salesops.cli.state import State, state_of
from salesops.errors import CheckFailed, UsageError

app = typer.Typer(help="Train demand models (local DDP or a Kubeflow TrainJob).",
                  no_args_is_help=True)
models_app = typer.Typer(help="Registered model versions and their aliases.", no_args_is_help=True)

#: the bounds of the config's training.nodes and training.epochs (the config module is not
#: imported at start-up; a test keeps the two in step)
NODES_RANGE = (1, 64)
EPOCHS_RANGE = (1, 1000)


def _in_range(bounds: tuple[int, int]):
    low, high = bounds

    def check(value: int | None) -> int | None:
        if value is not None and not low <= value <= high:
            raise typer.BadParameter(f"{value} is not in the range {low} to {high}")
        return value

    return check


def nodes_option(help_text: str = "Worker processes (local) or nodes (TrainJob)"):
    """`--nodes`, the same in `train submit` and `pipeline run`: out of range is a usage
    error (exit 2) that names the range."""
    low, high = NODES_RANGE
    return typer.Option(None, "--nodes", callback=_in_range(NODES_RANGE),
                        help=f"{help_text}, {low} to {high}; default training.nodes.")


def epochs_option():
    low, high = EPOCHS_RANGE
    return typer.Option(None, "--epochs", callback=_in_range(EPOCHS_RANGE),
                        help=f"Most epochs to train (early stopping may end sooner), {low} to "
                        f"{high}; default training.epochs.")


def _mode(no_promote: bool, force_promote: bool) -> str:
    if no_promote and force_promote:
        raise UsageError("--no-promote and --force-promote exclude each other")
    return "never" if no_promote else "force" if force_promote else "auto"


@app.command("submit")
def submit(
    ctx: typer.Context,
    nodes: int = nodes_option(),
    epochs: int = epochs_option(),
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
    if dry_run or wait or settings.backend.kind == "kubernetes":
        from salesops.cli.train_job import submit_job

        return submit_job(state, settings, _mode(no_promote, force_promote), dry_run, wait)
    state.output.step("building the training set from the feature store")
    progress = progress_mode(state.output.quiet)
    _render(state, run_submit(settings, _mode(no_promote, force_promote), progress))


@app.command("run")
def run(
    ctx: typer.Context,
    no_promote: bool = typer.Option(False, "--no-promote", help="Never move `champion`."),
    force_promote: bool = typer.Option(False, "--force-promote",
                                       help="Promote past the gate."),
) -> None:
    """Worker entry point (what each process or pod runs; rank from RANK/WORLD_SIZE).
    Rank 0 registers the version once every rank has finished."""
    from salesops.training.publish import publish
    from salesops.training.submit import settings_payload
    from salesops.training.worker import run_worker

    state = state_of(ctx)
    settings = state.settings()
    # a pod's log is a file: plain lines, whatever the terminal
    progress = "off" if state.output.quiet else "lines"
    candidate = run_worker(settings_payload(settings), _mode(no_promote, force_promote),
                           progress)
    if candidate is not None:
        _render(state, publish(settings, candidate))


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


def _registry(ctx: typer.Context):
    """State and settings, with MLflow pointed at the tracking store, which must exist:
    these commands create nothing where there is none."""
    from salesops.training.tracking import connect

    state = state_of(ctx)
    settings = state.settings()
    connect(settings, create=False)
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


@models_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Registered versions, holdout metrics and aliases (reads only)."""
    from salesops.training import registry

    state, settings = _registry(ctx)
    rows = registry.list_versions(settings.mlflow.model_name)
    state.output.emit(rows, lambda console: console.print(state.output.table(
        settings.mlflow.model_name, ["version", "aliases", "WAPE %", "MAPE %", "run"],
        [(r["version"], ", ".join(r["aliases"]), r["wape"], r["mape"], r["run_id"])
         for r in rows])))


@models_app.command("promote")
def promote(ctx: typer.Context,
            version: str = typer.Argument(..., help="Version to promote.")) -> None:
    """Make VERSION the champion (no gate: an operator's decision). A running server keeps
    serving its version until `salesops serve deploy`."""
    from salesops.training import registry

    state, settings = _registry(ctx)
    with _holding(settings, "models promote"):
        registry.promote(settings.mlflow.model_name, version)
    _emit_champion(state, settings, {"champion": version}, f"champion is now v{version}")


@models_app.command("rollback")
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
    """The new champion, and what the deployed server (local backend) still serves."""
    served = _served_version(settings)
    if served is not None and served[1] != data["champion"]:
        data = {**data, "serving": {"url": served[0], "model_version": served[1]}}
    state.output.emit(data, lambda c: c.print(message))
    if "serving" in data:
        state.output.warn(f"the model server at {served[0]} still serves v{served[1]}; "
                          f"`salesops serve deploy` switches it to v{data['champion']}")


def _served_version(settings) -> tuple[str, str] | None:
    if settings.backend.kind != "local":
        return None
    from salesops.serving.deployment import running_record
    from salesops.workspace import Workspace

    record = running_record(Workspace(settings.workspace))
    return (record["url"], str(record["model_version"])) if record else None
