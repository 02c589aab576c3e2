"""`salesops config show`: the effective configuration, secrets masked."""

from __future__ import annotations

import typer

from salesops.cli.state import state_of

app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective config (defaults < TOML < env < flags), secrets masked."""
    from salesops.config import effective_config, resolve_config_path

    state = state_of(ctx)
    settings = state.settings()
    data = effective_config(settings)
    source = resolve_config_path(state.config)

    def human(console) -> None:
        console.print(f"# effective config (file: {source or 'none, built-in defaults'})",
                      markup=False)
        console.print(_to_toml(data), markup=False)

    state.output.emit({"config_file": str(source) if source else None, "config": data}, human)


def _to_toml(data: dict) -> str:
    lines: list[str] = []
    for section, values in data.items():
        lines.append(f"\n[{section}]")
        for key, value in values.items():
            if value is None:
                lines.append(f"# {key} = (not set)")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines).lstrip("\n")


def _toml_value(value) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))
