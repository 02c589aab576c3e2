"""`salesops train submit | run | status | logs` (`models` is in `cli.models`)."""

from __future__ import annotations

import typer

from salesops.cli.state import State, state_of
from salesops.errors import CheckFailed, UsageError

app = typer.Typer(help="Train demand models (local DDP or a Kubeflow TrainJob).",
                  no_args_is_help=True)

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
    reference: str = typer.Option(None, "--reference", help="lightgbm: also fit LightGBM on "
                                  "the same rows and split, shown beside the baselines and "
                                  "logged (not gated); default training.reference."),
) -> None:
    """Build the training set from Feast, train, log to MLflow, register, gate (local), or
    create a Kubeflow TrainJob whose pods do that (kubernetes)."""
    from salesops.backends import training_backend
    from salesops.training.progress import progress_mode
    from salesops.training.submit import request

    state = state_of(ctx)
    if reference not in (None, "none", "lightgbm"):
        raise UsageError(f"--reference {reference!r}: use lightgbm (or none)")
    settings = state.settings(training={"nodes": nodes, "epochs": epochs,
                                        "reference": reference})
    wanted = request(settings, _mode(no_promote, force_promote),
                     progress_mode(state.output.quiet), wait=wait)
    backend = training_backend(settings)
    if dry_run:
        manifests = backend.manifests(wanted)  # the local backend refuses: nothing to print
        if wait:
            raise UsageError("--dry-run and --wait exclude each other")
        state.output.manifests(manifests)
        return
    record = backend.submit(wanted, state.output.step)
    if wait:
        record = backend.wait(record.name, state.output.step, state.output.info)
    if record.summary is not None:  # trained and registered here
        _render(state, record.summary)
    else:
        _render_job(state, record)


@app.command("run")
def run(
    ctx: typer.Context,
    no_promote: bool = typer.Option(False, "--no-promote", help="Never move `champion`."),
    force_promote: bool = typer.Option(False, "--force-promote",
                                       help="Promote past the gate."),
) -> None:
    """Worker entry point (what each process or pod runs; rank from RANK/WORLD_SIZE).
    Rank 0 registers the version once every rank has finished."""
    from salesops.config import settings_payload
    from salesops.training.publish import publish
    from salesops.training.worker import run_worker

    state = state_of(ctx)
    settings = state.settings()
    # a pod's log is a file: plain lines, whatever the terminal
    progress = "off" if state.output.quiet else "lines"
    candidate = run_worker(settings_payload(settings), _mode(no_promote, force_promote),
                           progress)
    if candidate is not None:
        # a version the gate keeps as challenger is a run that succeeded: a TrainJob (or the
        # drift CronJob's retraining) must not end Failed for it; `train submit` exits 1
        _render(state, publish(settings, candidate), gate_fails=False)


@app.command("status")
def job_status(ctx: typer.Context, name: str = typer.Argument(..., help="TrainJob name.")) -> None:
    """Kubernetes: a TrainJob's state and conditions."""
    from salesops.backends import training_backend

    state = state_of(ctx)
    _render_job(state, training_backend(state.settings()).status(name))


@app.command("logs")
def job_logs(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="TrainJob name."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep streaming until it ends."),
) -> None:
    """Kubernetes: the log of a TrainJob's first node (stdout)."""
    from salesops.backends import training_backend

    state = state_of(ctx)
    state.output.log(name, training_backend(state.settings()).logs(name, follow=follow))


def _render(state: State, summary: dict, gate_fails: bool = True) -> None:
    def human(console) -> None:
        # a baseline is scored on the rows where it has a forecast; "model WAPE %" is the
        # model's on those same rows, what the gate compares
        rows = [(m["name"], m["rows"], m["mape"], m["wape"], m.get("model_wape"), m["rmse"],
                 m["r2"]) for m in summary["metrics"]]
        console.print(state.output.table(
            f"holdout from {summary['holdout_start']} ({summary['holdout_rows']:,} rows), "
            f"model {summary['model_name']} v{summary['version']}",
            ["", "rows", "MAPE %", "WAPE %", "model WAPE %", "RMSE", "R²"], rows))
        for name in summary.get("references", []):
            console.print(f"{name}: a reference fitted on the same rows and split, not "
                          "gated", markup=False)
        model = summary["metrics"][0]
        if model.get("coverage") is not None:  # the interval, beside the table: it is the
            # model's alone, and two more columns would not fit 80 characters
            console.print(f"P10-P90 interval: {model['coverage']:.1f} % of the holdout's "
                          f"actuals inside (calibrated to 80 % on the validation weeks); "
                          f"pinball loss {model['pinball']:,.1f}", markup=False)
        verdict = "promoted to champion" if summary["promoted"] else "not promoted"
        console.print(f"{verdict}: {summary['reason']}", markup=False)

    state.output.emit(summary, human)
    if not summary["promoted"] and summary["reason"] != "--no-promote":
        # exit 1 for CI gates; the summary above is already the one JSON document
        state.output.error(f"version {summary['version']} stays challenger: {summary['reason']}")
        if gate_fails:
            raise typer.Exit(CheckFailed.exit_code)


def _render_job(state: State, record) -> None:
    """A TrainJob's `TrainRecord`: a table, or with --json its `to_dict()`."""
    def human(console) -> None:
        rows = [("name", record.name), ("namespace", record.namespace), ("state", record.state),
                ("message", record.message), ("nodes", record.nodes)]
        console.print(state.output.table("TrainJob", ["", ""], rows))

    state.output.emit(record.to_dict(), human)
