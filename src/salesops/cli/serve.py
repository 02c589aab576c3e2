"""`salesops serve run | deploy | status | stop`."""

from __future__ import annotations

import typer

from salesops.cli.state import State, state_of

app = typer.Typer(help="Serve the champion model with KServe.", no_args_is_help=True)

HOST = typer.Option(None, "--host", help="Interface to listen on (default: serving.host).")
PORT = typer.Option(None, "--port", help="HTTP port (default: serving.port).")
VERSION = typer.Option(None, "--model-version", help="Serve this registered version.")
ALIAS = typer.Option(None, "--alias", help="Serve the version this alias points to "
                     "(default: serving.model_alias, i.e. champion).")


@app.command("run")
def run(ctx: typer.Context, host: str = HOST, port: int = PORT, version: str = VERSION,
        alias: str = ALIAS) -> None:
    """Run the model server in the foreground (what a container runs)."""
    from salesops.serving.scorer import resolve_version
    from salesops.serving.server import run_server

    state = state_of(ctx)
    settings = state.settings(serving={"host": host, "port": port})
    version = resolve_version(settings, version, alias)
    run_server(settings, settings.serving.host, settings.serving.port, version,
               state.output.step)


@app.command("deploy")
def deploy(ctx: typer.Context, host: str = HOST, port: int = PORT, version: str = VERSION,
           alias: str = ALIAS) -> None:
    """Start the model server as a background process; wait until it is ready."""
    from salesops.config import resolve_config_path
    from salesops.serving.deployment import deploy as run_deploy

    state = state_of(ctx)
    settings = state.settings(serving={"host": host, "port": port})
    record = run_deploy(settings, resolve_config_path(state.config), version, alias,
                        state.output.step)
    _render(state, record)


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Show whether the model server runs: pid, url, model version, uptime."""
    from salesops.serving.deployment import status as read_status

    state = state_of(ctx)
    _render(state, read_status(state.settings()))


@app.command("stop")
def stop(ctx: typer.Context) -> None:
    """Stop the model server started by `serve deploy`."""
    from salesops.serving.deployment import stop as run_stop

    state = state_of(ctx)
    record = run_stop(state.settings(), state.output.step)
    _render(state, record)


def _render(state: State, record: dict) -> None:
    def human(console) -> None:
        if not record.get("pid"):
            console.print("no model server deployed", markup=False)
        elif record.get("stopped"):
            console.print(f"model server stopped (pid {record['pid']}, "
                          f"v{record['model_version']})", markup=False)
        else:
            rows = [(key, record.get(key)) for key in ("running", "ready", "pid", "url",
                    "model_name", "model_version", "uptime_s", "log")]
            console.print(state.output.table("model server", ["", ""], rows))

    state.output.emit(record, human)
