"""`salesops serve run | deploy | status | stop`."""

from __future__ import annotations

import typer

from salesops.cli.state import State, state_of
from salesops.errors import UsageError

app = typer.Typer(help="Serve the champion model with KServe.", no_args_is_help=True)

HOST = typer.Option(None, "--host", help="Interface to listen on (default: serving.host).")
PORT = typer.Option(None, "--port", help="HTTP port (default: serving.port).")
VERSION = typer.Option(None, "--model-version", help="Serve this registered version.")
ALIAS = typer.Option(None, "--alias", help="Serve the version this alias points to "
                     "(default: serving.model_alias, i.e. champion).")


@app.command("run")
def run(ctx: typer.Context, host: str = HOST, port: int = PORT, version: str = VERSION,
        alias: str = ALIAS,
        deploy_id: str = typer.Option(None, "--deploy-id", hidden=True),
        listen_fd: int = typer.Option(None, "--listen-fd", hidden=True),
        commit_fd: int = typer.Option(None, "--commit-fd", hidden=True),
        error_fd: int = typer.Option(None, "--error-fd", hidden=True)) -> None:
    """Run the model server in the foreground (what a container runs)."""
    try:
        _run(state_of(ctx), host, port, version, alias, deploy_id, listen_fd, commit_fd)
    except (typer.Exit, typer.Abort):  # an ending, not a failure to report
        raise
    except Exception as exc:
        if error_fd is not None:  # `serve deploy` waits for this server: tell it why not
            from salesops.backends.local.server_launch import write_error

            write_error(error_fd, exc)
        raise


def _run(state: State, host: str | None, port: int | None, version: str | None,
         alias: str | None, deploy_id: str | None, listen_fd: int | None,
         commit_fd: int | None) -> None:
    from salesops.backends.local.handover import Launch
    from salesops.serving.scorer import resolve_version
    from salesops.serving.server import run_server

    launch = None
    if deploy_id is not None or listen_fd is not None or commit_fd is not None:
        if None in (deploy_id, listen_fd, commit_fd):  # set by `serve deploy`, all three
            raise UsageError("--deploy-id, --listen-fd and --commit-fd go together")
        launch = Launch(deploy_id, listen_fd, commit_fd)
    settings = state.settings(serving={"host": host, "port": port})
    version = resolve_version(settings, version, alias)
    run_server(settings, settings.serving.host, settings.serving.port, version,
               state.output.step, launch)


@app.command("deploy")
def deploy(
    ctx: typer.Context, host: str = HOST, port: int = PORT, version: str = VERSION,
    alias: str = ALIAS,
    dry_run: bool = typer.Option(False, "--dry-run", help="Kubernetes: print the "
                                 "InferenceService as YAML; change nothing."),
    wait: bool = typer.Option(False, "--wait", help="Kubernetes: wait until Ready, print the URL."),
    canary: int = typer.Option(None, "--canary", metavar="PCT", help="Kubernetes (Knative "
                               "mode): send PCT % of the traffic to this deployment."),
) -> None:
    """Start the model server as a background process and wait until it is ready (local), or
    create / update the InferenceService (kubernetes)."""
    from salesops.config import resolve_config_path
    from salesops.serving import deployment

    state = state_of(ctx)
    settings = state.settings(serving={"host": host, "port": port})
    if dry_run:  # the local backend refuses it: it has no manifests
        state.output.manifests(deployment.manifests(settings, version, alias, canary))
        return
    record = deployment.deploy(settings, resolve_config_path(state.config), version, alias,
                               state.output.step, canary=canary, wait=wait)
    _render(state, record)


@app.command("promote")
def promote(ctx: typer.Context) -> None:
    """Kubernetes (Knative mode): send all traffic to the canary."""
    from salesops.serving.deployment import move_traffic

    state = state_of(ctx)
    _render(state, move_traffic(state.settings(), True, state.output.step))


@app.command("rollback")
def rollback(ctx: typer.Context) -> None:
    """Kubernetes (Knative mode): send all traffic back to the previous revision."""
    from salesops.serving.deployment import move_traffic

    state = state_of(ctx)
    _render(state, move_traffic(state.settings(), False, state.output.step))


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
        if "exists" in record:  # an InferenceService
            _render_isvc(state, console, record)
        elif not record.get("pid"):
            console.print("no model server deployed", markup=False)
        elif record.get("stopped"):
            console.print(f"model server stopped (pid {record['pid']}, "
                          f"v{record['model_version']})", markup=False)
        else:
            rows = [(key, record.get(key)) for key in ("running", "ready", "pid", "url",
                    "model_name", "model_version", "uptime_s", "log")]
            console.print(state.output.table("model server", ["", ""], rows))
        if record.get("answering"):
            other = record["answering"]
            console.print(f"another model server answers on this port: pid {other['pid']}, "
                          f"workspace {other['workspace']}", markup=False)

    state.output.emit(record, human)


def _render_isvc(state: State, console, record: dict) -> None:
    if not record["exists"]:
        console.print(f"no InferenceService {record['name']}"
                      + (" (deleted)" if record.get("stopped") else ""), markup=False)
        return
    rows = [(key, record.get(key)) for key in ("name", "namespace", "ready", "detail", "url",
            "deployment_mode", "model", "canary_percent")]
    rows += [(f"traffic {t['revisionName']}", f"{t['percent']} %") for t in record["traffic"]]
    console.print(state.output.table("InferenceService", ["", ""], rows))
