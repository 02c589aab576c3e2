"""The `salesops` command line: one Typer sub-app per command group.

Nothing heavy is imported here: `salesops --help` must not load torch, feast, mlflow,
kserve or kubernetes (tests/cli/test_startup.py checks `sys.modules`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from salesops import __version__
from salesops.cli import config_cmd, drift, features, infra, pipeline, predict, serve, train
from salesops.cli.output import Output
from salesops.cli.state import State
from salesops.errors import SalesOpsError
from salesops.teardown import silence_native_teardown

INTERNAL_ERROR = 70

app = typer.Typer(
    name="salesops",
    help="Retail demand forecasting, end to end: data, Feast features, PyTorch training, "
    "MLflow registry, KServe serving, drift monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(infra.app, name="infra")
app.add_typer(features.app, name="features")
app.add_typer(train.app, name="train")
app.add_typer(train.models_app, name="models")
app.add_typer(serve.app, name="serve")
app.command("predict")(predict.predict)
app.command("drift")(drift.drift)
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(config_cmd.app, name="config")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"salesops {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    config: Path = typer.Option(None, "--config", "-c", help="TOML config (default: salesops.toml)."),
    json_: bool = typer.Option(False, "--json", help="Print exactly one JSON document on stdout."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for internal errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors on stderr."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    """Global options may also be given after the command (`salesops infra status --json`)."""


GLOBAL_FLAGS = {"--json": "json", "--debug": "debug", "--quiet": "quiet", "-q": "quiet"}
GLOBAL_VALUED = {"--config": "config", "-c": "config"}


def split_global_options(argv: list[str]) -> tuple[dict, list[str]]:
    """Take the global options out of argv wherever they stand, so every command has them."""
    found: dict = {}
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest.append(arg)
            rest.extend(args)
            break
        if arg in GLOBAL_FLAGS:
            found[GLOBAL_FLAGS[arg]] = True
        elif arg in GLOBAL_VALUED:
            value = next(args, None)
            if value is None:
                rest.append(arg)  # let click report the missing value
            else:
                found[GLOBAL_VALUED[arg]] = value
        elif arg.startswith("--config="):
            found["config"] = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return found, rest


def main(argv: list[str] | None = None) -> None:
    found, rest = split_global_options(list(sys.argv[1:] if argv is None else argv))
    output = Output(json_mode=found.get("json", False), quiet=found.get("quiet", False),
                    debug=found.get("debug", False))
    state = State(config=Path(found["config"]) if "config" in found else None, output=output)
    try:
        result = app(args=rest, prog_name="salesops", standalone_mode=False, obj=state)
        code = result if isinstance(result, int) else 0
    except SalesOpsError as exc:
        code = _fail(output, exc.one_line(), exc.kind, exc.exit_code)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        code = _fail(output, "aborted", "aborted", 130)
    except typer.exceptions.TyperException as exc:  # Typer's (vendored click) usage errors
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        code = _fail(output, message, "usage_error", getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        code = _fail(output, "interrupted", "interrupted", 130)
    except Exception as exc:  # a bug: say so, traceback only under --debug
        if output.debug:
            import traceback

            traceback.print_exc()
        hint = "" if output.debug else " (run with --debug for the traceback)"
        code = _fail(output, f"internal error: {type(exc).__name__}: {exc}{hint}", "internal_error",
                     INTERNAL_ERROR)
    silence_native_teardown()
    sys.exit(code)


def _fail(output: Output, message: str, kind: str, code: int) -> int:
    output.error(message)
    if output.json_mode:
        output.emit({"error": message, "type": kind, "exit_code": code})
    return code
