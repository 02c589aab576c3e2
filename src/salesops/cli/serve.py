"""`salesops serve ...` (issue #4)."""

from __future__ import annotations

import typer

from salesops.errors import NotBuiltYet

app = typer.Typer(help="Serve the champion model with KServe.", no_args_is_help=True)


@app.command("deploy")
def deploy() -> None:
    """Start the model server (background process, or an InferenceService)."""
    raise NotBuiltYet("serve deploy", 4)


@app.command("run")
def run() -> None:
    """Run the model server in the foreground (what a container runs)."""
    raise NotBuiltYet("serve run", 4)


@app.command("status")
def status() -> None:
    """Show the model server's state."""
    raise NotBuiltYet("serve status", 4)


@app.command("stop")
def stop() -> None:
    """Stop the model server."""
    raise NotBuiltYet("serve stop", 4)
