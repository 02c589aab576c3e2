"""`salesops pipeline run`: the whole local lifecycle, with a summary table."""

from __future__ import annotations

import typer

from salesops.cli.state import state_of
from salesops.cli.train import nodes_option

app = typer.Typer(help="The whole lifecycle in one command.", no_args_is_help=True)


@app.command("run")
def run(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Redo every step, even if up to date."),
    nodes: int = nodes_option("Training processes"),
    epochs: int = typer.Option(None, "--epochs", min=1,
                               help="Training epochs (default: training.epochs)."),
    monitor: bool = typer.Option(False, "--monitor", help="End with `drift`; exit 1 on drift."),
) -> None:
    """infra up -> features build -> train submit -> serve deploy -> sample predictions
    [-> drift]; the model server is left running (`salesops serve stop` stops it).

    Idempotent: a re-run skips what is up to date (same data, a champion trained on it, a
    server running the champion).
    """
    from salesops import pipeline
    from salesops.training.progress import progress_mode

    state = state_of(ctx)
    settings = state.settings(training={"nodes": nodes, "epochs": epochs})
    result = pipeline.run(settings, state.config, state.output.step, force=force,
                          epoch_progress=progress_mode(state.output.quiet), monitor=monitor)

    def human(console) -> None:
        console.print(state.output.table(
            "pipeline run", ["step", "state", "seconds", "detail"],
            [(s.name, s.state, s.seconds, s.detail) for s in result.steps]))
        # with the P10-P90 interval, from a model that has one (as `predict` shows it)
        interval = bool(result.predictions) and all("p10" in p for p in result.predictions)
        console.print(state.output.table(
            f"next-week forecasts from {result.url} (model v{result.model_version})",
            ["store", "dept", "week", "forecast", *(("P10", "P90") if interval else ())],
            [(p["store"], p["dept"], p["week"], p["forecast"],
              *((p["p10"], p["p90"]) if interval else ())) for p in result.predictions]))

    state.output.emit(result.to_dict(), human)
    if result.url:
        state.output.info(f"the model server keeps running at {result.url} (model "
                          f"v{result.model_version}): `salesops serve stop` stops it")
    if result.drift is not None and result.drift["drift"]:
        raise typer.Exit(1)
