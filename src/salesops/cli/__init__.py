"""The `salesops` command line: one Typer sub-app per command group.

Nothing heavy is imported here: `salesops --help` must not load torch, feast, mlflow,
kserve or kubernetes (tests/cli/test_cli.py checks `sys.modules`).
"""

from __future__ import annotations

import errno
import gc
import sys
from pathlib import Path

import typer

from salesops import __version__
from salesops.cli import (config_cmd, drift, features, infra, models, pipeline, predict, serve,
                          train)
from salesops.cli.help import polish
from salesops.cli.output import Output
from salesops.cli.state import State
from salesops.errors import INTERNAL_ERROR, SalesOpsError, UsageError
from salesops.masking import mask_url
from salesops.teardown import silence_native_teardown

HELP_NAMES = ("-h", "--help")
#: OSErrors that are the machine's state, not a bug: exit 2 (as WorkspaceNotWritable), one line
CANNOT_WRITE = {errno.EROFS: "cannot write", errno.ENOSPC: "cannot write",
                errno.EDQUOT: "cannot write", errno.EACCES: "cannot access",
                errno.EPERM: "cannot access"}

app = typer.Typer(
    name="salesops",
    help="Retail demand forecasting, end to end: data, Feast features, PyTorch training, "
    "MLflow registry, KServe serving, drift monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": list(HELP_NAMES)},
)
app.add_typer(infra.app, name="infra")
app.add_typer(features.app, name="features")
app.add_typer(train.app, name="train")
app.add_typer(models.app, name="models")
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
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
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


#: the exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it
INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    found, rest = split_global_options(list(sys.argv[1:] if argv is None else argv))
    output = Output(json_mode=found.get("json", False), quiet=found.get("quiet", False),
                    debug=found.get("debug", False))
    state = State(config=Path(found["config"]) if "config" in found else None, output=output)
    try:
        command = polish(typer.main.get_command(app), HELP_NAMES)
        result = command.main(args=rest, prog_name="salesops", standalone_mode=False, obj=state)
        code = result if isinstance(result, int) else 0
        if code == INTERRUPTED:  # Typer catches Ctrl-C itself and returns this, silently
            code = _failed(output, KeyboardInterrupt())
    except BaseException as exc:  # noqa: BLE001 - every exit goes through one place
        code = _failed(output, exc)
    silence_native_teardown()
    if argv is None:  # the console command, whose process ends here (tests call main(argv))
        # The interpreter's last collections walk every object torch, Feast and MLflow made
        # (1.5 s after `train submit` had printed its summary); frozen objects are skipped
        # and go with the process. Everything salesops writes is closed by then.
        gc.freeze()
    sys.exit(code)


def _failed(output: Output, exc: BaseException) -> int:
    """Render a failure as one line (and, with --json, one document); return the exit code."""
    if isinstance(exc, typer.Exit):
        return exc.exit_code
    if isinstance(exc, SalesOpsError):
        return _fail(output, exc.one_line(), exc.kind, exc.exit_code)
    if isinstance(exc, typer.Abort):
        return _fail(output, "aborted", "aborted", 130)
    if isinstance(exc, typer.exceptions.TyperException):  # Typer's (vendored click) usage errors
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        code = getattr(exc, "exit_code", UsageError.exit_code)
        if not message.strip():  # a group called without a command: the help, printed
            return code          # already, is the whole message; no empty `error:` line
        return _fail(output, message, "usage_error", code)
    if isinstance(exc, KeyboardInterrupt):
        return _fail(output, "interrupted", "interrupted", INTERRUPTED)
    if isinstance(exc, OSError) and exc.errno in CANNOT_WRITE:
        where = f" {exc.filename}" if exc.filename else ""
        return _fail(output, f"{CANNOT_WRITE[exc.errno]}{where}: {_strerror(exc)}",
                     "not_writable", UsageError.exit_code)
    if not isinstance(exc, Exception):  # SystemExit and the like: not ours to render
        raise exc
    if output.debug:  # a bug: say so, traceback only under --debug (masked: CI logs keep it)
        import traceback

        sys.stderr.write(mask_url("".join(traceback.format_exception(exc))))
    hint = "" if output.debug else " (run with --debug for the traceback)"
    return _fail(output, f"internal error: {type(exc).__name__}: {exc}{hint}", "internal_error",
                 INTERNAL_ERROR)


def _strerror(exc: OSError) -> str:
    import os

    return os.strerror(exc.errno) if exc.errno else str(exc)


def _fail(output: Output, message: str, kind: str, code: int) -> int:
    message = mask_url(message)  # no credential in any message, whoever wrote it
    try:
        output.error(message)
        if output.json_mode:
            output.emit({"error": message, "type": kind, "exit_code": code})
    except OSError:  # stdout or stderr is what failed (a full disk, a closed pipe)
        pass
    return code
